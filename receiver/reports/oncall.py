"""On-call load: pages per person and per week (is it shared fairly?), pages outside working
hours in each person's own time zone, and time to acknowledge by person.

From the ``pages`` rows (one per person a tier paged about an alert) made in the window:

- **Pages**: alerts a person was paged about (a person paged by two tiers of one alert, or by
  a repeat, counts each time: each woke them).
- **Outside working hours**: pages made outside ``paging.working_hours`` (09:00-18:00 Monday
  to Friday unless configured) in the person's ``time_zone``.
- **Time to acknowledge**: from the page to the alert's acknowledgement (by anyone), over the
  pages of alerts acknowledged after them; what the person paged waited for.
- **By week**: pages per person in each ISO week (Monday to Sunday, UTC) the window touches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from receiver.config import PersonConfig, RestrictionConfig
from receiver.reports.common import Durations, Window, ratio, seconds, summarise
from receiver.store import Store

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class PersonLoad:
    person: str
    name: str
    pages: int
    outside_hours: int
    outside_hours_share: float | None
    time_to_ack: Durations


@dataclass(frozen=True, slots=True)
class WeekLoad:
    week: date  # the Monday the ISO week starts on
    person: str
    pages: int


@dataclass(frozen=True, slots=True)
class OnCallReport:
    window: Window
    working_hours: RestrictionConfig
    people: tuple[PersonLoad, ...]  # most paged first
    weeks: tuple[WeekLoad, ...]  # by week, then most paged first
    pages: int


def _zone(person: PersonConfig | None) -> ZoneInfo:
    name = person.time_zone if person is not None else "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def within_hours(at: datetime, zone: ZoneInfo, hours: RestrictionConfig) -> bool:
    """Whether ``at`` falls in the working ``hours`` in ``zone``; a window whose end is at or
    before its start runs past midnight and belongs to the day it opens."""
    local = at.astimezone(zone)
    start, end = hours.start_time, hours.end_time
    today = DAY_NAMES[local.weekday()]
    if start < end:
        return today in hours.days and start <= local.time() < end
    yesterday = DAY_NAMES[(local.weekday() - 1) % 7]
    return (today in hours.days and local.time() >= start) or (
        yesterday in hours.days and local.time() < end
    )


def _monday(at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


async def oncall_report(
    store: Store,
    window: Window,
    people: Sequence[PersonConfig],
    working_hours: RestrictionConfig,
) -> OnCallReport:
    """The load of the pages made in ``window`` on each person (see the module docstring)."""
    async with store.connection() as conn:
        rows = await store.pages.between(conn, window.since, window.until)
    known = {p.id: p for p in people}
    paged: dict[str, int] = defaultdict(int)
    outside: dict[str, int] = defaultdict(int)
    waits: dict[str, list[float]] = defaultdict(list)
    weekly: dict[tuple[date, str], int] = defaultdict(int)
    for page, acknowledged_at in rows:
        person = known.get(page.person)
        paged[page.person] += 1
        if not within_hours(page.paged_at, _zone(person), working_hours):
            outside[page.person] += 1
        if acknowledged_at is not None and acknowledged_at >= page.paged_at:
            waits[page.person].append(seconds(acknowledged_at - page.paged_at))
        weekly[(_monday(page.paged_at), page.person)] += 1
    loads = [
        PersonLoad(
            person=person,
            name=(known[person].name if person in known else "") or person,
            pages=count,
            outside_hours=outside[person],
            outside_hours_share=ratio(outside[person], count),
            time_to_ack=summarise(waits[person]),
        )
        for person, count in paged.items()
    ]
    loads.sort(key=lambda load: (-load.pages, load.person))
    weeks = sorted(
        (WeekLoad(week, person, count) for (week, person), count in weekly.items()),
        key=lambda w: (w.week, -w.pages, w.person),
    )
    return OnCallReport(window, working_hours, tuple(loads), tuple(weeks), len(rows))


def hours_text(hours: RestrictionConfig) -> str:
    """``mon, tue, wed, thu, fri 09:00-18:00``, as the report states its working hours."""
    return f"{', '.join(hours.days)} {hours.start}-{hours.end}"
