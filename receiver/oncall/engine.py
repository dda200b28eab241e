"""``OnCall``: who is on call for a schedule at an instant, its shifts and its gaps.

Pure: it is given the schedules (configuration), the people, the overrides (from the store)
and the events of calendars (already fetched), and reads nothing else. Each schedule stacks
its layers, the later over the earlier where it has someone, then its overrides over all of
them, the one made later over the earlier.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from receiver.config import PersonConfig
from receiver.config.oncall import ScheduleConfig
from receiver.errors import NotFound
from receiver.oncall.model import Gap, Override, Shift
from receiver.oncall.rotation import Rotation
from receiver.oncall.times import require_aware

if TYPE_CHECKING:
    from receiver.oncall.ical import Calendar

_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Piece:
    """One shift of one level of the stack; a higher level covers a lower one."""

    level: int
    shift: Shift


class OnCall:
    """Who is on call, schedule by schedule."""

    def __init__(
        self,
        schedules: Iterable[ScheduleConfig],
        people: Iterable[PersonConfig] = (),
        overrides: Iterable[Override] = (),
        calendars: Mapping[str, Calendar] | None = None,
    ) -> None:
        self._schedules = {s.id: s for s in schedules}
        self._people = {p.id: p for p in people}
        self._overrides: dict[str, list[Override]] = {}
        for override in sorted(overrides, key=lambda o: (o.created_at, o.id)):
            self._overrides.setdefault(override.schedule, []).append(override)
        self._calendars = dict(calendars or {})
        self._rotations = {
            s.id: [
                Rotation.of(layer, ZoneInfo(layer.time_zone or s.time_zone)) for layer in s.layers
            ]
            for s in self._schedules.values()
        }

    @property
    def schedules(self) -> tuple[ScheduleConfig, ...]:
        return tuple(self._schedules.values())

    def schedule(self, schedule_id: str) -> ScheduleConfig:
        """The schedule with this id; ``NotFound`` naming the defined ones otherwise."""
        found = self._schedules.get(schedule_id)
        if found is None:
            defined = ", ".join(sorted(self._schedules)) or "none"
            raise NotFound(f"no schedule {schedule_id[:64]!r}; defined: {defined}")
        return found

    def zone(self, schedule_id: str) -> ZoneInfo:
        return ZoneInfo(self.schedule(schedule_id).time_zone)

    def overrides(self, schedule_id: str) -> tuple[Override, ...]:
        return tuple(self._overrides.get(schedule_id, ()))

    def who(self, schedule_id: str, at: datetime) -> tuple[str, ...]:
        """The people on call at ``at``; an empty tuple is a gap in coverage."""
        at = require_aware(at, "at")
        shifts = self.shifts(schedule_id, at, at + _INSTANT)
        return shifts[0].people if shifts else ()

    def shifts(self, schedule_id: str, start: datetime, end: datetime) -> list[Shift]:
        """The final shifts from ``start`` to ``end``: layers stacked, then overrides."""
        start, end = _range(start, end)
        pieces = self._layer_pieces(schedule_id, start, end)
        top = len(self.schedule(schedule_id).layers) + 1
        for n, override in enumerate(self._overrides.get(schedule_id, ())):
            if override.end > start and override.start < end:
                shift = Shift(
                    (override.person,),
                    max(override.start, start),
                    min(override.end, end),
                    "override",
                    override=override.id,
                )
                pieces.append(_Piece(top + n, shift))
        return _stack(pieces)

    def layer_shifts(self, schedule_id: str, start: datetime, end: datetime) -> list[list[Shift]]:
        """Each layer's own shifts (before stacking), one list per layer; for a calendar
        schedule, one list of its events' shifts."""
        start, end = _range(start, end)
        levels: dict[int, list[Shift]] = {}
        for piece in self._layer_pieces(schedule_id, start, end):
            levels.setdefault(piece.level, []).append(piece.shift)
        count = max(len(self.schedule(schedule_id).layers), 1)
        return [levels.get(level, []) for level in range(count)]

    def gaps(self, schedule_id: str, start: datetime, end: datetime) -> list[Gap]:
        """When nobody is on call from ``start`` to ``end``."""
        start, end = _range(start, end)
        gaps: list[Gap] = []
        cursor = start
        for shift in self.shifts(schedule_id, start, end):
            if shift.start > cursor:
                gaps.append(Gap(cursor, shift.start))
            cursor = max(cursor, shift.end)
        if cursor < end:
            gaps.append(Gap(cursor, end))
        return gaps

    def _layer_pieces(self, schedule_id: str, start: datetime, end: datetime) -> list[_Piece]:
        schedule = self.schedule(schedule_id)
        if schedule.ical is not None:
            calendar = self._calendars.get(schedule_id)
            events = calendar.between(start, end) if calendar is not None else []
            return [
                _Piece(0, Shift(event.people, max(event.start, start), min(event.end, end), "ical"))
                for event in events
                if event.people
            ]
        return [
            _Piece(level, Shift((person,), begin, finish, "layer", layer=level))
            for level, rotation in enumerate(self._rotations[schedule_id])
            for person, begin, finish in rotation.spans(start, end)
        ]


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise ValueError("end: expected a time after start")
    return start, end


def _stack(pieces: list[_Piece]) -> list[Shift]:
    """The shifts seen from above: at each moment the highest level's; pieces of one level
    that overlap (concurrent calendar events) put their people on call together."""
    points = sorted({t for p in pieces for t in (p.shift.start, p.shift.end)})
    ordered = sorted(pieces, key=lambda p: p.shift.start)
    result: list[Shift] = []
    active: list[_Piece] = []
    following = 0
    for begin, finish in itertools.pairwise(points):
        while following < len(ordered) and ordered[following].shift.start <= begin:
            active.append(ordered[following])
            following += 1
        # Every start and end is a point, so what is still on at ``begin`` lasts to ``finish``.
        active = [p for p in active if p.shift.end > begin]
        covering = active
        if not covering:
            continue
        level = max(p.level for p in covering)
        chosen = [p.shift for p in covering if p.level == level]
        people = tuple(dict.fromkeys(person for s in chosen for person in s.people))
        shift = Shift(people, begin, finish, chosen[0].source, chosen[0].layer, chosen[0].override)
        last = result[-1] if result else None
        if (
            last is not None
            and last.end == begin
            and (last.people, last.source, last.layer, last.override)
            == (people, shift.source, shift.layer, shift.override)
        ):
            result[-1] = Shift(people, last.start, finish, last.source, last.layer, last.override)
        else:
            result.append(shift)
    return result
