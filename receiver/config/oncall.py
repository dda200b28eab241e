"""Who is on call: teams and schedules (``teams``, ``schedules`` in firebreak.yml).

A schedule is one or more layers, each a rotation of people (members in order, a shift
length, a handoff time, a start date) in the schedule's time zone or its own, optionally
restricted to some hours of some days; a later layer covers the ones before it where it has
someone. A schedule may instead take its shifts from an iCalendar file or URL (``ical``).
The engine that answers "who is on call" is ``receiver.oncall``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Literal

from receiver.config.checks import (
    SLACK_GROUP_ID,
    check_slack_channel,
    check_time_zone,
    not_empty,
    positive_duration,
)
from receiver.config.walker import Shorthand, one_item_list
from receiver.config.yaml import join
from receiver.hostallow import check_entry

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def check_id(value: str) -> str | None:
    """Ids of people, teams and schedules: safe in a URL path, a CLI argument and Slack text."""
    if _ID.fullmatch(value):
        return None
    return "expected lower-case letters, digits, '_', '.' or '-' (at most 64, not first)"


_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_clock(value: str) -> time:
    """``HH:MM`` (24-hour) as a time; ``24:00`` is the end of the day, as ``time.max``."""
    if value == "24:00":
        return time.max
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise ValueError(value)
    return time(int(match[1]), int(match[2]))


def check_clock(value: str) -> str | None:
    return None if _CLOCK.fullmatch(value) else "expected a time of day as HH:MM such as 09:00"


def check_clock_or_end(value: str) -> str | None:
    if value == "24:00" or _CLOCK.fullmatch(value):
        return None
    return "expected a time of day as HH:MM such as 18:00 (24:00 for the end of the day)"


def check_date(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return "expected a date as YYYY-MM-DD such as 2026-01-05"
    return None if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else "expected YYYY-MM-DD"


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SETS: dict[str, list[str]] = {
    "weekdays": list(WEEKDAYS[:5]),
    "weekends": list(WEEKDAYS[5:]),
    "daily": list(WEEKDAYS),
}


def _days(value: str) -> object:
    return _DAY_SETS.get(value, [value])


_DAYS = Shorthand(str, _days, "a day (mon … sun), weekdays, weekends, daily, or a list of days")
_SHIFTS = {"daily": "1d", "weekly": "1w"}
_SHIFT = Shorthand(
    str, lambda v: _SHIFTS.get(v, v), "daily, weekly or a duration such as 12h or 2w"
)


@dataclass(frozen=True, slots=True)
class RestrictionConfig:
    """A window of the week a layer applies in: on ``days``, from ``start`` to ``end`` in the
    layer's zone. An ``end`` at or before ``start`` runs past midnight into the next day."""

    days: tuple[Weekday, ...] = field(default=WEEKDAYS, metadata={"shorthand": _DAYS})
    start: str = field(default="00:00", metadata={"check": check_clock})
    end: str = field(default="24:00", metadata={"check": check_clock_or_end})

    @property
    def start_time(self) -> time:
        return parse_clock(self.start)

    @property
    def end_time(self) -> time:
        return parse_clock(self.end)

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if not self.days:
            return [(join(path, "days"), "must name at least one day")]
        return []


def _check_shift(value: timedelta) -> str | None:
    # Shorter turns would hand over every few minutes; the API draws weeks of them.
    return None if value >= timedelta(hours=1) else "must be at least 1h"


@dataclass(frozen=True, slots=True)
class LayerConfig:
    """One rotation: ``members`` take turns, each for ``shift``, handing over at ``handoff``
    (local time) from ``start`` on. Shifts are counted in wall-clock time in the zone, so a
    daily 09:00 handoff stays at 09:00 across daylight-saving changes."""

    members: tuple[str, ...] = field(metadata={"check": not_empty, "check_each": check_id})
    start: str = field(metadata={"check": check_date})  # the first handoff's date
    shift: timedelta = field(
        default=timedelta(weeks=1), metadata={"shorthand": _SHIFT, "check": _check_shift}
    )
    handoff: str = field(default="09:00", metadata={"check": check_clock})
    name: str = ""
    # The layer's own zone (follow-the-sun); the schedule's when not set.
    time_zone: str | None = field(default=None, metadata={"check": check_time_zone})
    restrictions: tuple[RestrictionConfig, ...] = ()

    @property
    def start_date(self) -> date:
        return date.fromisoformat(self.start)

    @property
    def handoff_time(self) -> time:
        return parse_clock(self.handoff)


def check_ical_source(value: str) -> str | None:
    if value.startswith(("http://", "https://")):
        return None
    if "://" in value or not value.strip():
        return "expected a file path or a URL starting with http:// or https://"
    return None


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """Who is on call when: rotation ``layers`` (a later one covers those before it where it
    has someone), or the events of an iCalendar file or URL (``ical``)."""

    id: str = field(metadata={"check": check_id})
    name: str = ""
    time_zone: str = field(default="UTC", metadata={"check": check_time_zone})
    layers: tuple[LayerConfig, ...] = ()
    # A file path (relative to the configuration file) or a URL whose host is allow-listed
    # in ``oncall.ical_hosts``; each event's attendees or summary name the people on call.
    # Secret: a calendar's private address often carries its access token.
    ical: str | None = field(
        default=None, repr=False, metadata={"check": check_ical_source, "secret": True}
    )
    # A Slack direct message to whoever comes on call at the start of their shift.
    handoff_notify: bool = False

    @property
    def title(self) -> str:
        return self.name or self.id

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if bool(self.layers) == (self.ical is not None):
            return [(join(path, "layers"), "give layers or ical (exactly one)")]
        return []


def _check_group(value: str) -> str | None:
    if SLACK_GROUP_ID.fullmatch(value):
        return None
    return "expected a Slack user group id such as S0123ABCD"


@dataclass(frozen=True, slots=True)
class TeamConfig:
    """People who answer for something together: its channel, and a Slack user group that
    can follow who is on call."""

    id: str = field(metadata={"check": check_id})
    name: str = ""
    members: tuple[str, ...] = field(default=(), metadata={"check_each": check_id})
    slack_channel: str | None = field(default=None, metadata={"check": check_slack_channel})
    slack_user_group: str | None = field(default=None, metadata={"check": _check_group})
    # The schedules whose people on call the user group holds (docs/oncall.md "Hand-offs").
    schedules: tuple[str, ...] = field(default=(), metadata={"check_each": check_id})


def _check_feed_days(value: int) -> str | None:
    return None if 1 <= value <= 366 else "expected a number of days from 1 to 366"


@dataclass(frozen=True, slots=True)
class OnCallConfig:
    """How schedules that come from elsewhere are read."""

    # Where an ``ical`` URL may be fetched from, as ``automation.http_allow`` entries (host
    # names, ``*.example.com``, addresses, ranges, optionally :port); nothing else is fetched.
    ical_hosts: tuple[str, ...] = field(
        default=(),
        metadata={
            "shorthand": Shorthand(str, one_item_list, "a host entry or a list of them"),
            "check_each": check_entry,
        },
    )
    # The key every calendar feed's URL token is derived from (HMAC-SHA256 of the feed's
    # name); without it, feeds are off. Changing it changes every feed URL.
    feed_secret: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": not_empty}
    )
    # How far ahead (and back) the calendar feeds reach.
    feed_days: int = field(default=60, metadata={"check": _check_feed_days})
    # How often a calendar URL is fetched again; a failed fetch keeps the last good copy.
    ical_refresh: timedelta = field(
        default=timedelta(minutes=15), metadata={"check": positive_duration}
    )
