"""The ``maintenance`` section: maintenance windows written in the file (docs/maintenance.md).

A window is one-off (``start`` and ``end`` or ``duration``) or recurring (``rrule`` or
``cron``, with a ``duration`` and a ``time_zone``); alerts its ``match`` selects are recorded
but not escalated, and start no runbook, while it is open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from receiver.config.checks import MATCHERS, check_matchers, check_time_zone, not_empty
from receiver.config.yaml import join
from receiver.windows import (
    MAX_DURATION,
    MaintenanceWindow,
    cron_problem,
    parse_instant,
    rrule_problem,
)

WINDOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_EXPECTED = "expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_window_name(value: str) -> str | None:
    return None if WINDOW_NAME.fullmatch(value) else NAME_EXPECTED


def check_instant(value: str) -> str | None:
    try:
        parse_instant(value)
    except ValueError as exc:
        return str(exc)
    return None


def check_window_duration(value: timedelta) -> str | None:
    if value <= timedelta(0):
        return "must be greater than 0"
    if value > MAX_DURATION:
        return "expected at most 31d"
    return None


def _check_rrule(value: str) -> str | None:
    return rrule_problem(value)


def _check_cron(value: str) -> str | None:
    return cron_problem(value)


@dataclass(frozen=True, slots=True)
class MaintenanceWindowConfig:
    """One maintenance window of the file."""

    name: str = field(metadata={"check": check_window_name})
    # Alertmanager matcher strings, all of which must match.
    match: tuple[str, ...] = field(
        metadata={"shorthand": MATCHERS, "check": not_empty, "check_each": check_matchers}
    )
    reason: str = field(metadata={"check": not_empty})
    owner: str = field(metadata={"check": not_empty})
    start: str | None = field(default=None, metadata={"check": check_instant})
    end: str | None = field(default=None, metadata={"check": check_instant})
    duration: timedelta | None = field(default=None, metadata={"check": check_window_duration})
    rrule: str | None = field(default=None, metadata={"check": _check_rrule})
    cron: str | None = field(default=None, metadata={"check": _check_cron})
    time_zone: str = field(default="UTC", metadata={"check": check_time_zone})
    # Also an Alertmanager silence with these matchers for each occurrence (needs the
    # ``alertmanager`` section).
    silence: bool = False

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if self.rrule is not None and self.cron is not None:
            return [(join(path, "cron"), "give rrule or cron, not both")]
        if self.rrule is not None or self.cron is not None:
            if self.duration is None:
                return [(join(path, "duration"), "a recurring window needs a duration")]
            if self.end is not None:
                return [(join(path, "end"), "a recurring window takes a duration, not an end")]
            return []
        if self.start is None:
            return [(join(path, "start"), "give start (one-off), rrule or cron")]
        if (self.end is None) == (self.duration is None):
            return [(join(path, "end"), "give end or duration (exactly one)")]
        start = parse_instant(self.start)
        end = (
            parse_instant(self.end)
            if self.end is not None
            else start + (self.duration or MAX_DURATION)
        )
        if end <= start:
            return [(join(path, "end"), "expected a time after start")]
        return []

    def window(self) -> MaintenanceWindow:
        start = parse_instant(self.start) if self.start is not None else None
        end: datetime | None = None
        if not (self.rrule or self.cron) and start is not None:
            end = parse_instant(self.end) if self.end else start + (self.duration or timedelta(0))
        return MaintenanceWindow(
            name=self.name,
            matchers=self.match,
            reason=self.reason,
            owner=self.owner,
            starts_at=start,
            ends_at=end,
            rrule=self.rrule,
            cron=self.cron,
            duration=self.duration if (self.rrule or self.cron) else None,
            time_zone=self.time_zone,
            silence=self.silence,
            source="config",
        )
