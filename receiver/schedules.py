"""Schedules over the store: the on-call engine (``receiver.oncall``) given the overrides
people made and the calendars fetched, and overrides added and deleted.

What asks "who is on call" (escalation, the API, Slack, the console, the CLI) asks here; the
transports audit the changes they make through it, like every other action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from receiver.config import Config
from receiver.errors import InvalidInput, NotFound
from receiver.model import Clock
from receiver.oncall import Calendar, OnCall, Override
from receiver.store import Store
from receiver.store.oncall import add_override, delete_override, list_overrides

# The longest override one request may make, and the furthest ahead it may start: a typo
# ("2y" for "2w") should not silently take a schedule over for years.
MAX_OVERRIDE = timedelta(days=90)
MAX_AHEAD = timedelta(days=366)


def _no_calendars() -> Mapping[str, Calendar]:
    return {}


class Schedules:
    """Who is on call, with the overrides in the store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        calendars: Callable[[], Mapping[str, Calendar]] = _no_calendars,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._calendars = calendars

    @property
    def config(self) -> Config:
        return self._config

    def now(self) -> datetime:
        return self._clock()

    async def engine(self, start: datetime | None = None, end: datetime | None = None) -> OnCall:
        """The engine with the overrides that overlap ``start`` … ``end`` (every override that
        has not ended yet when neither is given)."""
        ending_after = start if start is not None else self._clock()
        async with self._store.connection() as conn:
            overrides = await list_overrides(conn, ending_after=ending_after, starting_before=end)
        return OnCall(self._config.schedules, self._config.people, overrides, self._calendars())

    async def who(self, schedule_id: str, at: datetime | None = None) -> tuple[str, ...]:
        """The person ids on call for ``schedule_id`` at ``at`` (now when not given); an
        empty tuple is a gap. ``NotFound`` for a schedule that is not configured."""
        at = at if at is not None else self._clock()
        engine = await self.engine(at, at + timedelta(microseconds=1))
        return engine.who(schedule_id, at)

    async def add_override(
        self, schedule_id: str, person: str, start: datetime, end: datetime, created_by: str
    ) -> Override:
        """``person`` on call for ``schedule_id`` from ``start`` to ``end``; ``InvalidInput``
        naming the field when one is wrong, and nothing is written then."""
        self._check_schedule(schedule_id)
        if not any(p.id == person for p in self._config.people):
            expected = f"expected the id of a person in people, got {person[:64]!r}"
            raise InvalidInput("person", expected)
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

    def _check_schedule(self, schedule_id: str) -> None:
        OnCall(self._config.schedules).schedule(schedule_id)
