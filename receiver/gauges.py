"""The gauges counted from the store (firing alerts, the job queue, approvals waiting,
heartbeats), kept as a snapshot that a background task takes again every few seconds, so a
scrape does not query the database itself.

A scrape serves the last snapshot at once unless this process has committed a write since that
count began (or no count has been taken yet): then it asks for a fresh count and waits for it at
most ``wait`` seconds, then serves what there is (a database that does not answer does not hold
the scrape up; its failures are counted in ``firebreak_store_errors_total``). A snapshot taken
``interval`` or more ago is still served at once, and a fresh count asked for behind it; the
background task counts every ``interval`` anyway, so what other processes write (replicas on
one PostgreSQL) shows within about that. A count that takes long (the firing alerts are read
whole, and a store may hold a million) is taken in the background less often: the next no
sooner than ``_REST`` times as long as the last one took (nor a scrape's, unless this process
wrote since), so that counting keeps at most about a twentieth of a reader's time, however
large the store grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from receiver.errors import StoreUnavailable
from receiver.typedefs import AUTOMATION, BUILT, CLOCK, METRICS, MONOTONIC, STORE

log = logging.getLogger("firebreak.gauges")

# Often enough that a dashboard sees a change within one scrape interval; rarely enough that
# counting the store is no load (a write in this process makes the next scrape count anyway).
REFRESH_INTERVAL = 5.0
# Prometheus' default scrape timeout is 10 s: a scrape gives the count two, then serves the
# last snapshot.
SCRAPE_WAIT = 2.0

# A count that took t seconds is taken again _REST * t after it began, if that is later than
# the interval (sooner only for a scrape that finds a write of this process since).
_REST = 20.0

# How a wait is bounded: ``asyncio.timeout``, or a test's clock that moves by hand.
Timeout = Callable[[float], contextlib.AbstractAsyncContextManager[Any]]


class Snapshot:
    """A count taken again every ``interval`` seconds (or ``_REST`` times as long as the last
    took, if longer), or on demand when ``changes()`` (a number that grows with every write)
    has moved since the last one began or a scrape finds it that old. Its ages and
    costs run on ``monotonic`` and its waits end by ``timeout``."""

    def __init__(
        self,
        count: Callable[[], Awaitable[None]],
        changes: Callable[[], int],
        *,
        interval: float = REFRESH_INTERVAL,
        wait: float = SCRAPE_WAIT,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: Timeout = asyncio.timeout,
    ) -> None:
        self._count = count
        self._changes = changes
        self._interval = interval
        self._wait = wait
        self._monotonic = monotonic  # what a snapshot's age is counted by
        self._timeout = timeout
        self._period = interval  # between two counts: interval, or longer after a long one
        self._wanted = asyncio.Event()
        self._taken = asyncio.Condition()
        self._taken_at = -1.0  # monotonic time and changes() when the last count began
        self._taken_after = -1
        self._counting: int | None = None  # changes() when the count under way began
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-gauges")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def fresh(self) -> None:
        """Return once a count begun after this process's last write has been taken, or after
        ``wait`` seconds; a snapshot only old is served at once, a new count asked for."""
        changes = self._changes()
        if self._current(changes):
            return
        if self._counting is None or self._counting < changes:
            self._wanted.set()
        with contextlib.suppress(TimeoutError):
            async with self._timeout(self._wait), self._taken:
                await self._taken.wait_for(lambda: self._taken_after >= changes)

    def _current(self, changes: int) -> bool:
        age = self._monotonic() - self._taken_at
        return self._taken_after >= changes and age < self._period

    async def _run(self) -> None:
        while True:
            self._wanted.clear()
            began, changes = self._monotonic(), self._changes()
            self._counting = changes
            try:
                await self._count()
            except Exception:  # the next count may do better; a scrape still answers
                log.exception("counting the store gauges failed")
            self._counting = None
            ended = self._monotonic()
            self._period = max(self._interval, _REST * (ended - began))
            async with self._taken:
                self._taken_at, self._taken_after = began, changes
                self._taken.notify_all()
            with contextlib.suppress(TimeoutError):
                async with self._timeout(began + self._period - ended):
                    await self._wanted.wait()


GAUGES = web.AppKey("store_gauges", Snapshot)


def setup_gauges(app: web.Application) -> None:
    """Keep the store gauges counted while the application runs (after the runner starts)."""
    app.cleanup_ctx.append(_gauges)


async def _gauges(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    snapshot = Snapshot(
        lambda: count_store_gauges(app), lambda: store.commits, monotonic=app[MONOTONIC]
    )
    app[GAUGES] = snapshot
    snapshot.start()
    yield
    await snapshot.stop()


async def count_store_gauges(app: web.Application) -> None:
    """Firing alerts by severity, jobs by kind and state, the oldest due job's age, the
    approvals waiting and the heartbeats' state, as the store has them now."""
    metrics, store = app[METRICS], app[STORE]
    try:
        counts = await store.count_firing_by_severity()
    except StoreUnavailable:
        metrics.store_errors.labels("count_firing").inc()
    else:
        metrics.active_alerts.clear()
        for severity, count in counts.items():
            metrics.active_alerts.labels(severity).set(count)
    try:
        async with store.connection() as conn:
            stats = await store.jobs.stats(conn)
    except StoreUnavailable:
        metrics.store_errors.labels("job_stats").inc()
    else:
        metrics.jobs_queued.clear()
        for kind, state, count in stats["counts"]:
            metrics.jobs_queued.labels(kind, state).set(count)
        oldest = stats["oldest_due_at"]
        now = app[CLOCK]()
        age = max(0.0, (now - oldest).total_seconds()) if oldest else 0
        metrics.jobs_oldest_due_age.set(age)
    try:
        waiting = await app[AUTOMATION].waiting_approval()
    except StoreUnavailable:
        metrics.store_errors.labels("approvals_waiting").inc()
    else:
        metrics.approvals_waiting.set(waiting)
    try:
        await app[BUILT][-1].heartbeats.count_gauges(app[CLOCK]())
    except StoreUnavailable:
        metrics.store_errors.labels("heartbeats").inc()
