"""Maintenance windows as values: when one is open, for one-off and recurring windows.

A window is open from ``starts_at`` to ``ends_at`` (one-off), or for ``duration`` from each
start its ``rrule`` (RFC 5545) or ``cron`` expression gives in ``time_zone``. Recurring starts
are counted in wall-clock time in the zone, so a Sunday 02:00 window stays at 02:00 across
daylight-saving changes. Pure: no I/O, nothing of Firebreak's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil.rrule import rrule, rrulestr

# Where an rrule without a start of its own counts from (local midnight in its zone): its
# BYHOUR/BYMINUTE fill in the rest. Occurrences are counted from here on every look, so rules
# more frequent than daily are refused (cron says those better).
RRULE_ANCHOR = datetime(2020, 1, 1)
_TOO_FREQUENT = re.compile(r"FREQ=(SECONDLY|MINUTELY|HOURLY)\b", re.IGNORECASE)

# The longest one occurrence may last: longer is almost always a typo of the unit.
MAX_DURATION = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One stretch of time a window is open: ``start`` ≤ t < ``end``."""

    window: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A maintenance window: alerts its ``matchers`` (Alertmanager matcher strings, all of
    which must match) select are held back while it is open."""

    name: str
    matchers: tuple[str, ...]
    reason: str
    owner: str
    starts_at: datetime | None = None  # a one-off's start; a recurring one's first
    ends_at: datetime | None = None  # a one-off's end
    rrule: str | None = None
    cron: str | None = None
    duration: timedelta | None = None  # of each occurrence of a recurring window
    time_zone: str = "UTC"
    silence: bool = False  # also an Alertmanager silence while open
    source: str = "config"  # config | api (made at run time)
    id: int | None = None  # the store's row, for windows made at run time
    created_by: str | None = None
    created_at: datetime | None = None
    ended_at: datetime | None = None  # ended early by a person
    ended_by: str | None = None

    @property
    def recurring(self) -> bool:
        return self.rrule is not None or self.cron is not None

    def occurrence_at(self, now: datetime) -> Occurrence | None:
        """The occurrence open at ``now``, or None."""
        if self.ended_at is not None and self.ended_at <= now:
            return None
        found = self._last_start(now)
        if found is None:
            return None
        start, end = found
        if self.ended_at is not None:
            end = min(end, self.ended_at)
        return Occurrence(self.name, start, end) if start <= now < end else None

    def next_occurrence(self, now: datetime) -> Occurrence | None:
        """The occurrence open at ``now``, else the next one to open; None when there is none."""
        current = self.occurrence_at(now)
        if current is not None:
            return current
        if self.ended_at is not None and self.ended_at <= now:
            return None
        if not self.recurring:
            assert self.starts_at is not None and self.ends_at is not None
            return (
                Occurrence(self.name, self.starts_at, self.ends_at)
                if now < self.starts_at
                else None
            )
        start = _next_start(self, now)
        if start is None:
            return None
        assert self.duration is not None
        return Occurrence(self.name, start, start + self.duration)

    def finished(self, now: datetime) -> bool:
        """Whether it will never open again."""
        return self.next_occurrence(now) is None

    def _last_start(self, now: datetime) -> tuple[datetime, datetime] | None:
        if not self.recurring:
            if self.starts_at is None or self.ends_at is None or now < self.starts_at:
                return None
            return self.starts_at, self.ends_at
        start = _previous_start(self, now)
        if start is None:
            return None
        assert self.duration is not None
        return start, start + self.duration


def _zone(window: MaintenanceWindow) -> ZoneInfo:
    return ZoneInfo(window.time_zone)


def _local_anchor(window: MaintenanceWindow) -> datetime:
    zone = _zone(window)
    if window.starts_at is not None:
        return window.starts_at.astimezone(zone)
    return RRULE_ANCHOR.replace(tzinfo=zone)


def _rule(window: MaintenanceWindow) -> rrule:
    assert window.rrule is not None
    return parse_rrule(window.rrule, _local_anchor(window))


def _previous_start(window: MaintenanceWindow, now: datetime) -> datetime | None:
    zone = _zone(window)
    local = now.astimezone(zone)
    if window.rrule is not None:
        found = _rule(window).before(local, inc=True)
        return None if found is None else found.astimezone(UTC)
    assert window.cron is not None
    start = croniter(window.cron, local + timedelta(seconds=1)).get_prev(datetime)
    start = start.astimezone(UTC)
    if window.starts_at is not None and start < window.starts_at:
        return None
    return start


def _next_start(window: MaintenanceWindow, now: datetime) -> datetime | None:
    zone = _zone(window)
    local = now.astimezone(zone)
    if window.rrule is not None:
        found = _rule(window).after(local)
        return None if found is None else found.astimezone(UTC)
    assert window.cron is not None
    after = local
    if window.starts_at is not None and window.starts_at > now:
        after = window.starts_at.astimezone(zone) - timedelta(seconds=1)
    start: datetime = croniter(window.cron, after).get_next(datetime)
    return start.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An RFC 3339 time with its offset (``2026-12-24T02:00:00Z``), in UTC; ``ValueError``
    otherwise."""
    if "T" not in text.upper():
        raise ValueError(INSTANT_EXPECTED)
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(INSTANT_EXPECTED) from None
    if found.tzinfo is None:
        raise ValueError(INSTANT_EXPECTED + " (with Z or an offset)")
    return found.astimezone(UTC)


INSTANT_EXPECTED = "expected an RFC 3339 time such as 2026-12-24T02:00:00Z"


def parse_rrule(text: str, start: datetime) -> rrule:
    """An RFC 5545 recurrence rule (``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2``, with or without the
    ``RRULE:`` prefix) counted from ``start``; ``ValueError`` when it is not one."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or "\n" in body or ":" in body:
        raise ValueError("expected one RRULE line such as FREQ=WEEKLY;BYDAY=SU;BYHOUR=2")
    rule = rrulestr(body, dtstart=start)
    if not isinstance(rule, rrule):
        raise ValueError("expected one RRULE line such as FREQ=WEEKLY;BYDAY=SU;BYHOUR=2")
    return rule


def rrule_problem(text: str) -> str | None:
    """Why ``text`` is not an rrule Firebreak takes, or None."""
    try:
        rule = parse_rrule(text, RRULE_ANCHOR.replace(tzinfo=UTC))
    except (ValueError, TypeError, OverflowError) as exc:
        detail = str(exc) if str(exc).startswith("expected") else "not a valid RRULE"
        return f"{detail} (RFC 5545, such as FREQ=WEEKLY;BYDAY=SU;BYHOUR=2)"
    if _TOO_FREQUENT.search(text):
        return "expected FREQ=DAILY or rarer (use cron for windows more often than daily)"
    if rule.after(RRULE_ANCHOR.replace(tzinfo=UTC)) is None:
        return "never occurs"
    return None


def cron_problem(text: str) -> str | None:
    """Why ``text`` is not a five-field cron expression, or None."""
    if len(text.split()) != 5 or not croniter.is_valid(text):
        return "expected a cron expression of five fields such as '0 2 * * 0'"
    return None
