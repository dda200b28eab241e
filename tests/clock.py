"""A clock a test moves by hand, so a tier delay, a retry's backoff or a snooze takes no time.

The application takes its clock in ``create_app(config, clock=...)``; every job's ``due_at`` is
read against it. ``advance`` moves the time forward and runs every job that falls due on the
way at its own due time (as if that much time had passed), then waits until the job runner is
idle; ``settle`` only waits for the runner. A test then asserts exact timing: the next tier has
not paged at 59 s, and has at 60 s.

    clock = ManualClock()
    client = await aiohttp_client(create_app(config, clock=clock))
    clock.watch(client.app)
    await clock.advance(timedelta(seconds=59))

What bounds its waits with ``asyncio.timeout`` and takes that as a collaborator (the store
gauges' ``Snapshot(timeout=...)``) is given ``clock.timeout``: its block ends once ``advance``
has moved the time past it, not after real seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import func, select

from receiver.jobs import JobRunner
from receiver.store import Store, tables
from receiver.typedefs import RUNNER, STORE

# A moment after: a lease is over (its job claimable again) only once its end has passed.
_PAST = timedelta(microseconds=1)


class ManualClock:
    """Aware UTC time that moves only when told to; callable like ``receiver.model.Clock``."""

    def __init__(self, start: datetime | None = None) -> None:
        # Near the wall clock by default: alert payloads and skew checks compare against it.
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._origin = self._now
        self._moves = 0
        self._watched: list[tuple[Store, JobRunner]] = []
        self._timers: list[tuple[float, asyncio.Timeout]] = []  # monotonic deadline, timer

    def __call__(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        """Seconds on the same hand-moved time, for what counts in monotonic seconds (circuit
        breakers, rate limits: ``create_app(..., monotonic=clock.monotonic)``). Each move adds
        a microsecond, as real time never stands still: otherwise float rounding could leave
        a cooldown a hair short at the very moment it was due to end, and the job waiting
        behind it would be deferred to that same moment again and again."""
        return (self._now - self._origin).total_seconds() + self._moves * 1e-6

    @contextlib.asynccontextmanager
    async def timeout(self, seconds: float) -> AsyncIterator[asyncio.Timeout]:
        """``asyncio.timeout(seconds)`` on this clock: the block ends in ``TimeoutError`` once
        the time has been moved ``seconds`` past its start (for what takes its waits' timeout
        as a collaborator, like the store gauges' ``Snapshot``)."""
        async with asyncio.timeout(None) as timer:
            timed = (self.monotonic() + seconds, timer)
            self._timers.append(timed)
            self._ring()
            try:
                yield timer
            finally:
                if timed in self._timers:
                    self._timers.remove(timed)

    def _ring(self) -> None:
        """End the blocks of ``timeout`` whose time has come (on the next turn of the loop)."""
        now = self.monotonic()
        for timed in [t for t in self._timers if t[0] <= now]:
            self._timers.remove(timed)
            timed[1].reschedule(asyncio.get_running_loop().time())

    def watch(self, app: web.Application) -> None:
        """Wake and wait for this (started) application's job runner on every move."""
        self.watch_runner(app[STORE], app[RUNNER])

    def watch_runner(self, store: Store, runner: JobRunner) -> None:
        """Wake and wait for ``runner``, which runs the jobs of ``store``, on every move."""
        self._watched.append((store, runner))

    def forget(self, app: web.Application) -> None:
        """Stop watching an application about to be closed (its store goes away)."""
        self._watched.remove((app[STORE], app[RUNNER]))

    async def advance(self, by: timedelta | float, *, within: float = 10.0) -> None:
        """Move the time forward by ``by``: each job due on the way runs at its due time, in
        order, and the runner is idle again when this returns (each step may take ``within``
        seconds of real time: more for a test that sends hundreds of notices at one moment)."""
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if delta < timedelta(0):
            raise ValueError(f"time only moves forward, not by {delta}")
        target = self._now + delta
        await self.settle(within)
        while (due := await self._next_due()) is not None and due <= target:
            self._move_to(due)
            await self.settle(within, wake=True)
        self._move_to(target)
        await self.settle(within, wake=True)

    def _move_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when
            self._moves += 1
            self._ring()

    async def settle(self, within: float = 10.0, *, wake: bool = False) -> None:
        """Wait until no job is running and none is due by this clock, in every watched
        application (``wake``: tell their runners first that the time has moved)."""
        if wake:
            for _store, runner in self._watched:
                runner.wake()
        deadline = time.monotonic() + within
        while not await self._idle():
            if time.monotonic() > deadline:
                raise AssertionError(f"the job runner was still busy after {within:g} s")
            await asyncio.sleep(0.01)

    async def _idle(self) -> bool:
        # One statement, so one snapshot: a job claimed between two reads is not missed.
        jobs = tables.jobs.c
        # Running here, that is: a job leased by a worker that died (no watched runner) is not
        # waited for, but claimed again once its lease runs out, like any due job.
        owners = [runner.owner for _store, runner in self._watched]
        mine = (jobs.state == "running") & jobs.lease_owner.in_(owners)
        expired = (jobs.state == "running") & (jobs.lease_expires_at < self._now)
        due = (jobs.state == "pending") & (jobs.due_at <= self._now)
        busy = select(func.count()).where(mine | expired | due)
        for store, _runner in self._watched:
            async with store.connection() as conn:
                if (await conn.execute(busy)).scalar_one():
                    return False
        return True

    async def _next_due(self) -> datetime | None:
        """When the earliest pending job falls due, or the lease of a job whose worker died runs
        out, in any watched application."""
        jobs = tables.jobs.c
        owners = [runner.owner for _store, runner in self._watched]
        earliest = select(func.min(jobs.due_at)).where(jobs.state == "pending")
        orphaned = select(func.min(jobs.lease_expires_at)).where(
            jobs.state == "running", jobs.lease_owner.not_in(owners)
        )
        found: list[datetime] = []
        for store, _runner in self._watched:
            async with store.connection() as conn:
                due = (await conn.execute(earliest)).scalar_one()
                ends = (await conn.execute(orphaned)).scalar_one()
            if due is not None:
                found.append(due)
            if ends is not None:
                found.append(ends + _PAST)  # claimable once the lease has run out, not at its end
        return min(found, default=None)
