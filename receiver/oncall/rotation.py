"""One layer of a schedule as instants: its rotation's shifts, cut to its restrictions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from receiver.config.oncall import WEEKDAYS, LayerConfig, RestrictionConfig
from receiver.oncall.times import DAY, instant, local

Span = tuple[str, datetime, datetime]


@dataclass(frozen=True, slots=True)
class Rotation:
    """Members take turns from ``anchor`` (the first handoff, wall-clock in ``zone``)."""

    members: tuple[str, ...]
    shift: timedelta
    anchor: datetime
    zone: ZoneInfo
    restrictions: tuple[RestrictionConfig, ...]

    @classmethod
    def of(cls, layer: LayerConfig, zone: ZoneInfo) -> Rotation:
        anchor = datetime.combine(layer.start_date, layer.handoff_time)
        return cls(layer.members, layer.shift, anchor, zone, layer.restrictions)

    def boundary(self, k: int) -> datetime:
        """When shift ``k`` starts (shift 0 at the anchor): counted in wall-clock time."""
        return instant(self.anchor + k * self.shift, self.zone)

    def index_at(self, at: datetime) -> int:
        """The shift that holds ``at`` (-1 before the rotation starts)."""
        first = self.boundary(0)
        if at < first:
            return -1
        k = (at - first) // self.shift
        while k > 0 and self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k

    def turns(self, start: datetime, end: datetime) -> Iterator[Span]:
        """Whose turn it is, from ``start`` to ``end`` (before the layer's start: nobody)."""
        k = max(self.index_at(start), 0)
        begin = self.boundary(k)
        while begin < end:
            finish = self.boundary(k + 1)
            if finish > begin and finish > start:
                yield self.members[k % len(self.members)], max(begin, start), min(finish, end)
            k += 1
            begin = finish

    def windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """When the restrictions let the layer apply, from ``start`` to ``end``, merged."""
        if not self.restrictions:
            return [(start, end)]
        found: list[tuple[datetime, datetime]] = []
        day = local(start, self.zone).date() - DAY
        last = local(end, self.zone).date()
        while day <= last:
            weekday = WEEKDAYS[day.weekday()]
            for restriction in self.restrictions:
                if weekday not in restriction.days:
                    continue
                opens = datetime.combine(day, restriction.start_time)
                closes = _closing(day, restriction)
                begin, finish = instant(opens, self.zone), instant(closes, self.zone)
                if finish > start and begin < end and finish > begin:
                    found.append((max(begin, start), min(finish, end)))
            day += DAY
        return _merge(found)

    def spans(self, start: datetime, end: datetime) -> list[Span]:
        """The layer's people from ``start`` to ``end``: its turns within its windows."""
        windows = self.windows(start, end)
        spans: list[Span] = []
        for begin, finish in windows:
            spans += self.turns(begin, finish)
        return spans


def _closing(day: date, restriction: RestrictionConfig) -> datetime:
    """When a window opened on ``day`` closes: past midnight when it ends before it starts."""
    if restriction.end_time == time.max:
        return datetime.combine(day + DAY, time(0))
    if restriction.end_time <= restriction.start_time:
        return datetime.combine(day + DAY, restriction.end_time)
    return datetime.combine(day, restriction.end_time)


def _merge(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for begin, finish in sorted(windows):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged
