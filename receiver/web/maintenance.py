"""A maintenance window as people ask for one (API body, console form, Slack, CLI): checked
field by field into a ``MaintenanceWindow``, each error naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from receiver.config.checks import check_time_zone
from receiver.config.maintenance import NAME_EXPECTED, WINDOW_NAME
from receiver.durations import parse_duration
from receiver.errors import InvalidInput
from receiver.matchers import parse_matchers
from receiver.plain import echoed_name, printable
from receiver.windows import (
    INSTANT_EXPECTED,
    MAX_DURATION,
    MaintenanceWindow,
    cron_problem,
    parse_instant,
    rrule_problem,
)

TEXT_LIMIT = 1000  # a reason, an owner
MATCHERS_LIMIT = 20
KNOWN = frozenset(
    {"name", "matchers", "reason", "owner", "start", "end", "duration"}
    | {"rrule", "cron", "time_zone", "silence"}
)


def _text(
    body: Mapping[str, Any], name: str, limit: int = TEXT_LIMIT, *, multiline: bool = False
) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, "expected a non-empty string")
    if len(value) > limit:
        raise InvalidInput(name, f"expected at most {limit} characters")
    if not printable(value.strip(), "\n\t" if multiline else ""):
        raise InvalidInput(name, "expected text without control characters")
    return value.strip()


def _optional(body: Mapping[str, Any], name: str, limit: int = TEXT_LIMIT) -> str | None:
    return None if body.get(name) in (None, "") else _text(body, name, limit)


def _instant(body: Mapping[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    if raw in (None, ""):
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidInput(name, INSTANT_EXPECTED)
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise InvalidInput(name, str(exc)) from None


def _duration(body: Mapping[str, Any]) -> timedelta | None:
    raw = body.get("duration")
    if raw in (None, ""):
        return None
    expected = "expected a duration such as 2h or 30m, at most 31d"
    if not isinstance(raw, str) or len(raw) > 32:
        raise InvalidInput("duration", expected)
    try:
        found = parse_duration(raw)
    except (ValueError, OverflowError):
        raise InvalidInput("duration", expected) from None
    if found <= timedelta(0) or found > MAX_DURATION:
        raise InvalidInput("duration", expected)
    return found


def _matchers(body: Mapping[str, Any]) -> tuple[str, ...]:
    raw = body.get("matchers")
    if isinstance(raw, str):
        raw = [raw]
    expected = f'expected a list of 1 to {MATCHERS_LIMIT} matcher strings such as service="db"'
    if not isinstance(raw, list) or not 0 < len(raw) <= MATCHERS_LIMIT:
        raise InvalidInput("matchers", expected)
    found: list[str] = []
    for index, text in enumerate(raw):
        field = f"matchers[{index}]"
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_LIMIT:
            raise InvalidInput(field, 'expected a matcher string such as service="db"')
        if not printable(text.strip()):
            raise InvalidInput(field, "expected a matcher without control characters")
        if not parse_matchers(text, field=field):
            raise InvalidInput(field, 'expected a matcher string such as service="db"')
        found.append(text.strip())
    return tuple(found)


def parse_window_request(body: Mapping[str, Any], now: datetime) -> MaintenanceWindow:
    """A window from a request's fields: ``name``, ``matchers``, ``reason``, ``owner``;
    one-off with ``start`` (default now) and ``end`` or ``duration``, or recurring with
    ``rrule`` or ``cron``, a ``duration`` and a ``time_zone``; ``silence`` (true or false)."""
    unknown = sorted(echoed_name(k) for k in body if k not in KNOWN)
    if unknown:
        raise InvalidInput(unknown[0], "unknown field; expected one of " + ", ".join(sorted(KNOWN)))
    name = _text(body, "name", 64)
    if not WINDOW_NAME.fullmatch(name):
        raise InvalidInput("name", NAME_EXPECTED)
    matchers = _matchers(body)
    reason, owner = _text(body, "reason", multiline=True), _text(body, "owner", 256)
    rrule, cron = _optional(body, "rrule", 512), _optional(body, "cron", 128)
    time_zone = _optional(body, "time_zone", 64) or "UTC"
    if check_time_zone(time_zone) is not None:
        raise InvalidInput("time_zone", "expected an IANA time zone such as Europe/London")
    start, end, duration = _instant(body, "start"), _instant(body, "end"), _duration(body)
    if rrule is not None and cron is not None:
        raise InvalidInput("cron", "give rrule or cron, not both")
    if rrule is not None or cron is not None:
        problem = rrule_problem(rrule) if rrule is not None else cron_problem(cron or "")
        if problem is not None:
            raise InvalidInput("rrule" if rrule is not None else "cron", problem)
        if duration is None:
            raise InvalidInput("duration", "a recurring window needs a duration such as 2h")
        if end is not None:
            raise InvalidInput("end", "a recurring window takes a duration, not an end")
    else:
        start = start or now
        if (end is None) == (duration is None):
            raise InvalidInput("end", "give end (an RFC 3339 time) or duration (such as 2h)")
        end = end if end is not None else start + (duration or timedelta(0))
        duration = None
    return MaintenanceWindow(
        name=name,
        matchers=matchers,
        reason=reason,
        owner=owner,
        starts_at=start,
        ends_at=end,
        rrule=rrule,
        cron=cron,
        duration=duration,
        time_zone=time_zone,
        silence=_flag(body, "silence"),
        source="api",
    )


def _flag(body: Mapping[str, Any], name: str) -> bool:
    raw = body.get(name)
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise InvalidInput(name, "expected true or false")
    return raw
