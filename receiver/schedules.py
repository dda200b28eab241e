"""Schedules over the store: the on-call engine (``receiver.oncall``) given the overrides
people made and the calendars fetched, and overrides added and deleted.

What asks "who is on call" (escalation, the API, Slack, the console, the CLI) asks here; the
transports audit the changes they make through it, like every other action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from receiver.alertmanager import parse_rfc3339
from receiver.calendars import Calendars
from receiver.config import Config, ScheduleConfig
from receiver.durations import parse_duration
from receiver.errors import InvalidInput, NotFound
from receiver.model import Clock
from receiver.oncall import Gap, OnCall, Override, Shift
from receiver.store import Store
from receiver.store.oncall import add_override, delete_override, list_overrides

# The longest override one request may make, and the furthest ahead it may start: a typo
# ("2y" for "2w") should not silently take a schedule over for years.
MAX_OVERRIDE = timedelta(days=90)
MAX_AHEAD = timedelta(days=366)
# The longest range shifts are worked out for in one ask, and how far ahead "next" is looked for.
MAX_RANGE = timedelta(days=92)
NEXT_HORIZON = timedelta(days=62)


@dataclass(frozen=True, slots=True)
class Rota:
    """A schedule over a range: its final shifts, its gaps, and the overrides in it."""

    schedule: ScheduleConfig
    start: datetime
    end: datetime
    shifts: list[Shift]
    gaps: list[Gap]
    overrides: list[Override]
    layers: list[list[Shift]]


@dataclass(frozen=True, slots=True)
class OnCallNow:
    """Who is on call at an instant, in which shift, and who comes next."""

    schedule: ScheduleConfig
    at: datetime
    current: Shift | None
    following: Shift | None


_RFC3339 = "expected an RFC 3339 time such as 2026-01-05T09:00:00Z"


def parse_instant(raw: object, field: str, default: datetime) -> datetime:
    """An RFC 3339 time named ``field``, or ``default`` when not given."""
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        raise InvalidInput(field, _RFC3339)
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise InvalidInput(field, _RFC3339) from None


def parse_window(
    now: datetime, *, start: object = None, end: object = None, duration: object = None
) -> tuple[datetime, datetime]:
    """An override's start (default now) and end: ``end`` (an RFC 3339 time) or ``duration``
    (``8h``) after the start, exactly one of them. Fields named as given."""
    begin = parse_instant(start, "start", now)
    if (duration is None) == (end is None):
        raise InvalidInput("end", "give end (an RFC 3339 time) or duration (such as 8h)")
    if end is not None:
        return begin, parse_instant(end, "end", begin)
    if not isinstance(duration, str):
        raise InvalidInput("duration", "expected a duration such as 8h or 2d")
    try:
        return begin, begin + parse_duration(duration)
    except (ValueError, OverflowError):
        raise InvalidInput("duration", "expected a duration such as 8h or 2d") from None


class Schedules:
    """Who is on call, with the overrides in the store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        calendars: Calendars | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self.calendars = calendars if calendars is not None else Calendars(config, clock)

    @property
    def config(self) -> Config:
        return self._config

    def now(self) -> datetime:
        return self._clock()

    async def engine(self, start: datetime | None = None, end: datetime | None = None) -> OnCall:
        """The engine with the overrides that overlap ``start`` … ``end`` (every override that
        has not ended yet when neither is given)."""
        ending_after = start if start is not None else self._clock()
        await self.calendars.ensure()
        async with self._store.connection() as conn:
            overrides = await list_overrides(conn, ending_after=ending_after, starting_before=end)
        calendars = self.calendars.current()
        return OnCall(self._config.schedules, self._config.people, overrides, calendars)

    async def who(self, schedule_id: str, at: datetime | None = None) -> tuple[str, ...]:
        """The person ids on call for ``schedule_id`` at ``at`` (now when not given); an
        empty tuple is a gap. ``NotFound`` for a schedule that is not configured."""
        at = at if at is not None else self._clock()
        engine = await self.engine(at, at + timedelta(microseconds=1))
        return engine.who(schedule_id, at)

    async def now_and_next(self, schedule_id: str, at: datetime | None = None) -> OnCallNow:
        """Who is on call at ``at`` (now when not given) and the next people after them."""
        at = at if at is not None else self._clock()
        # Looked at from a month back, so that the shift under way is shown whole.
        start, end = at - NEXT_HORIZON / 2, at + NEXT_HORIZON
        engine = await self.engine(start, end)
        shifts = engine.shifts(schedule_id, start, end)
        current = next((s for s in shifts if s.start <= at < s.end), None)
        following = next(
            (s for s in shifts if s.start > at and (current is None or s.people != current.people)),
            None,
        )
        return OnCallNow(engine.schedule(schedule_id), at, current, following)

    async def rota(self, schedule_id: str, start: datetime, end: datetime) -> Rota:
        """The schedule from ``start`` to ``end`` (at most ``MAX_RANGE``)."""
        if end <= start:
            raise InvalidInput("to", "expected a time after from")
        if end - start > MAX_RANGE:
            raise InvalidInput("to", "expected at most 92 days after from")
        engine = await self.engine(start, end)
        return Rota(
            engine.schedule(schedule_id),
            start,
            end,
            engine.shifts(schedule_id, start, end),
            engine.gaps(schedule_id, start, end),
            list(engine.overrides(schedule_id)),
            engine.layer_shifts(schedule_id, start, end),
        )

    async def feed_shifts(
        self, kind: str, name: str
    ) -> tuple[str, list[tuple[ScheduleConfig, Shift]]]:
        """What a calendar feed shows, from a week back to ``oncall.feed_days`` ahead: the
        shifts of schedule ``name``, or person ``name``'s shifts on every schedule; and the
        feed's title. ``NotFound`` for an unknown schedule or person."""
        now = self._clock()
        start, end = now - timedelta(days=7), now + timedelta(days=self._config.oncall.feed_days)
        engine = await self.engine(start, end)
        if kind == "schedule":
            schedule = engine.schedule(name)
            return f"On call: {schedule.title}", [
                (schedule, s) for s in engine.shifts(name, start, end)
            ]
        person = next((p for p in self._config.people if p.id == name), None)
        if person is None:
            raise NotFound(f"no person {name[:64]!r}")
        found = [
            (schedule, shift)
            for schedule in engine.schedules
            for shift in engine.shifts(schedule.id, start, end)
            if name in shift.people
        ]
        return f"On call: {person.name or person.id}", sorted(found, key=lambda f: f[1].start)

    async def add_override(
        self, schedule_id: str, person: str, start: datetime, end: datetime, created_by: str
    ) -> Override:
        """``person`` on call for ``schedule_id`` from ``start`` to ``end``; ``InvalidInput``
        naming the field when one is wrong, and nothing is written then."""
        self._check_schedule(schedule_id)
        if not any(p.id == person for p in self._config.people):
            # The value is not repeated: it is whatever the caller typed.
            raise InvalidInput("person", "expected the id of a person in people")
        now = self._clock()
        if end <= start:
            raise InvalidInput("end", "expected a time after start")
        if end <= now:
            raise InvalidInput("end", "expected a time in the future")
        if end - start > MAX_OVERRIDE:
            raise InvalidInput("end", "expected an override of at most 90 days")
        if start - now > MAX_AHEAD:
            raise InvalidInput("start", "expected a time within a year from now")
        async with self._store.transaction() as conn:
            return await add_override(
                conn,
                schedule=schedule_id,
                person=person,
                start=start,
                end=end,
                created_by=created_by,
                now=now,
            )

    async def delete_override(self, schedule_id: str, override_id: int) -> Override:
        """Delete one override of ``schedule_id``; ``NotFound`` when it has no such override."""
        async with self._store.transaction() as conn:
            deleted = await delete_override(conn, override_id, schedule=schedule_id)
        if deleted is None:
            raise NotFound(f"schedule {schedule_id!r} has no override {override_id}")
        return deleted

    async def overrides(
        self, schedule_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Override]:
        """The overrides of ``schedule_id`` that overlap ``start`` … ``end`` (those not ended
        yet when neither is given), in the order they were made."""
        self._check_schedule(schedule_id)
        async with self._store.connection() as conn:
            return await list_overrides(
                conn,
                schedule=schedule_id,
                ending_after=start if start is not None else self._clock(),
                starting_before=end,
            )

    def schedule(self, schedule_id: str) -> ScheduleConfig:
        """The configured schedule; ``NotFound`` naming the defined ones otherwise."""
        return OnCall(self._config.schedules).schedule(schedule_id)

    def _check_schedule(self, schedule_id: str) -> None:
        self.schedule(schedule_id)
