"""Query and path parameters the API, the console and the CLI read alike: limits, times,
alert filters, snoozes, ids and the reports' windows. Each error names the parameter that is
wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from multidict import MultiMapping

from receiver.alertmanager import parse_rfc3339
from receiver.durations import parse_duration
from receiver.errors import InvalidInput, NotFound
from receiver.matchers import parse_matchers
from receiver.model import AlertQuery, AlertStatus, parse_id
from receiver.reports import DEFAULT_ACK_TARGET, DEFAULT_FLAP_WINDOW, DEFAULT_INHIBIT_EQUAL, Window
from receiver.views import ts

parse_int = parse_id  # the API's name for it


def parse_limit(q: Mapping[str, str], default: int, maximum: int = 1000) -> int:
    """A listing's ``limit`` parameter: a whole number from 1 to ``maximum``."""
    raw = q.get("limit")
    if raw is None:
        return default
    limit = parse_int(raw)
    if limit is None or not 1 <= limit <= maximum:
        raise InvalidInput("limit", f'expected an integer from 1 to {maximum}, got "{raw}"')
    return limit


def parse_since(raw: str, now: datetime) -> datetime:
    """A ``since`` parameter: an RFC 3339 time, or a duration back from ``now``."""
    return parse_time(raw, now, "since")


def parse_time(raw: str, now: datetime, field: str) -> datetime:
    """A time parameter named ``field``: an RFC 3339 time, or a duration back from ``now``."""
    try:
        return now - parse_duration(raw)
    except ValueError:
        pass
    except OverflowError:
        raise InvalidInput(
            field, f'expected a duration that ends after year 1, got "{raw}"'
        ) from None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise InvalidInput(
            field, f'expected an RFC 3339 time or a duration such as 2h, got "{raw}"'
        ) from None


_MAX_LIMIT = 1000


_MAX_SNOOZE = timedelta(days=7)


def parse_alert_query(params: MultiMapping[str], now: datetime) -> AlertQuery:
    """Query-string filters → AlertQuery, naming the parameter that is wrong."""
    status = params.get("status")
    if status is not None and status not in ("firing", "resolved"):
        raise InvalidInput("status", f'expected "firing" or "resolved", got "{status}"')
    acknowledged = params.get("acknowledged")
    if acknowledged is not None and acknowledged not in ("true", "false"):
        raise InvalidInput("acknowledged", f'expected "true" or "false", got "{acknowledged}"')
    groups = tuple(
        parse_matchers(text, field="match[]")
        for text in params.getall("match[]", ())
        if text.strip()
    )
    since = None
    if "since" in params:
        since = parse_since(params["since"], now)
    limit = parse_limit(params, 100, _MAX_LIMIT)
    before_id = None
    if params.get("cursor"):
        before_id = parse_int(params["cursor"])
        if before_id is None:
            raise InvalidInput("cursor", "expected the next_cursor of a previous page")
    return AlertQuery(
        status=AlertStatus(status) if status else None,
        acknowledged=None if acknowledged is None else acknowledged == "true",
        matchers=groups,
        since=since,
        limit=limit,
        before_id=before_id,
    )


def parse_snooze(raw: object) -> timedelta:
    """A snooze's ``for``: a duration above 0 and at most 7d."""
    if not isinstance(raw, str):
        raise InvalidInput("for", "expected a duration such as 30m")
    try:
        duration = parse_duration(raw)
    except ValueError as exc:
        raise InvalidInput("for", str(exc)) from None
    if not timedelta(0) < duration <= _MAX_SNOOZE:
        raise InvalidInput("for", "expected a duration above 0 and at most 7d")
    return duration


def route_id(request: web.Request, thing: str, key: str = "id") -> int:
    """The ``{id}`` (or ``{key}``) of a route about one ``thing`` (alert, execution, job,
    override); one that cannot be an id does not exist."""
    raw = request.match_info[key]
    found = parse_int(raw)
    if found is None:
        raise NotFound(f"{thing} {raw} does not exist")
    return found


def alert_id_of(request: web.Request) -> int:
    return route_id(request, "alert")


def execution_id_of(request: web.Request) -> int:
    return route_id(request, "execution")


# Prometheus's label name syntax.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


# Longest duration parameter: a target or a flap window beyond a week says nothing useful.
_MAX_SPAN = timedelta(days=7)


# How far back ``since`` reaches when not given.
RESPONSE_SPAN = timedelta(days=7)


NOISE_SPAN = timedelta(days=30)


RUNBOOKS_SPAN = timedelta(days=30)


ONCALL_SPAN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ResponseOptions:
    """The response report's parameters: ``ack_target`` and ``by``."""

    ack_target: timedelta
    by_label: str | None  # None: by route


@dataclass(frozen=True, slots=True)
class NoiseOptions:
    """The noise report's parameters: ``limit``, ``flap_window`` and ``inhibit_equal``."""

    limit: int
    flap_window: timedelta
    inhibit_equal: tuple[str, ...]


def parse_window(q: Mapping[str, str], now: datetime, default: timedelta) -> Window:
    """``since`` (default ``default`` back from now) and ``until`` (default now): RFC 3339
    times or durations back from now."""
    since = parse_time(q["since"], now, "since") if "since" in q else now - default
    until = parse_time(q["until"], now, "until") if "until" in q else now
    if since >= until:
        raise InvalidInput("since", f"expected a time before until ({ts(until)}), got {ts(since)}")
    return Window(since, until)


def parse_response_options(q: Mapping[str, str]) -> ResponseOptions:
    ack_target = _duration(q, "ack_target", DEFAULT_ACK_TARGET)
    by = q.get("by", "route")
    label = by.removeprefix("label:") if by.startswith("label:") else None
    if by != "route" and (label is None or not _LABEL_NAME.fullmatch(label)):
        raise InvalidInput("by", f'expected "route" or "label:NAME" (a label name), got "{by}"')
    return ResponseOptions(ack_target, label)


def parse_noise_options(q: Mapping[str, str]) -> NoiseOptions:
    limit = parse_limit(q, 20)
    flap_window = _duration(q, "flap_window", DEFAULT_FLAP_WINDOW)
    equal = DEFAULT_INHIBIT_EQUAL
    if "inhibit_equal" in q:
        equal = tuple(q["inhibit_equal"].split(","))
        if not all(_LABEL_NAME.fullmatch(name) for name in equal) or len(equal) > 10:
            raise InvalidInput("inhibit_equal", "expected 1 to 10 label names separated by commas")
    return NoiseOptions(limit, flap_window, equal)


def _duration(q: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    if name not in q:
        return default
    try:
        value = parse_duration(q[name])
    except ValueError:
        value = timedelta(0)
    if not timedelta(0) < value <= _MAX_SPAN:
        raise InvalidInput(name, f'expected a duration above 0 and at most 7d, got "{q[name]}"')
    return value
