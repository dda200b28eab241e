"""The job runner: claims due jobs, runs their handlers, and records what came of them.

A handler does its side effect (a send) and answers with an outcome; the runner applies the
outcome in one transaction — mark done, enqueue what follows, append history — fenced by the
lease, so a crash at any point either loses nothing (the job is claimed again when its lease
runs out) or leaves a finished job finished. Handlers never sleep: waiting is a job whose
``due_at`` lies ahead, and an idle runner sleeps until the next one is due or it is woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from receiver.errors import StoreUnavailable
from receiver.metrics import Metrics
from receiver.model import Clock
from receiver.store import Store
from receiver.store.jobs import Job, NewJob

log = logging.getLogger("firebreak.jobs")

# Pause between being woken and claiming: long enough for a burst of webhooks to enqueue
# together, short against the 50 ms the first notification job may take to start.
_CLAIM_DELAY = 0.025
# Longest the runner waits for a busy ingest before claiming anyway.
_MAX_GIVE_WAY = 2.0


@dataclass(frozen=True, slots=True)
class Done:
    """Finished: apply these follow-ups in the same transaction as marking the job done."""

    outcome: str = "ok"
    enqueue: Sequence[NewJob] = ()
    events: Sequence[dict[str, Any]] = ()
    notifications: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Defer:
    """Not now: run again at ``until``. Not a failure unless ``count_attempt``; may turn the
    job into another kind (a notification held back by the rate limit becomes a digest)."""

    until: datetime
    reason: str
    count_attempt: bool = False
    kind: str | None = None
    coalesce_key: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Failed in a way that may pass: back off and try again, dead-letter when out of tries."""

    error: str
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Failed for good (the far side rejected it): keep it for a person to look at."""

    reason: str


Outcome = Done | Defer | Retry | DeadLetter


@dataclass(slots=True)
class JobContext:
    """What a handler gets: its job, the time, and the jobs claimed to go out with it."""

    job: Job
    now: datetime
    runner: JobRunner
    siblings: list[Job] = field(default_factory=list)

    @property
    def jobs(self) -> list[Job]:
        return [self.job, *self.siblings]


Handler = Callable[[JobContext], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    owner: str
    workers: int = 4
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 10
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    poll_interval: timedelta = timedelta(seconds=5)


class JobRunner:
    """Runs jobs for one process; any number of processes may share the table."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        metrics: Metrics,
        clock: Clock,
        settings: RunnerSettings,
        horizons: Mapping[str, timedelta] | None = None,
        busy: Callable[[], bool] = lambda: False,
        run_limits: Mapping[str, int] | None = None,
    ) -> None:
        """``horizons``: per job kind, how far ahead a coalesced job may be due and still go
        out with a claimed one."""
        self._horizons = dict(horizons or {})
        self._busy = busy  # webhooks are being taken in: they come first
        self._run_limits = dict(run_limits or {})
        self._store = store
        self._handlers = handlers
        self._metrics = metrics
        self._clock = clock
        self.settings = settings
        self._wakeup = asyncio.Event()
        self._urgent_wakeup = asyncio.Event()  # cuts the pause after a wake-up short
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._urgent = False

    @property
    def owner(self) -> str:
        return self.settings.owner

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="firebreak-jobs")

    async def stop(self) -> None:
        """Let running jobs finish, then hand back any lease still held."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            async with self._store.transaction(durable=False) as conn:
                await self._store.jobs.release(conn, self.owner, self._clock())

    def wake(self) -> None:
        """Look for due jobs soon: something was just enqueued elsewhere (a webhook); the
        runner waits a moment so that a burst is claimed together."""
        self._wakeup.set()

    def _wake_now(self) -> None:
        """Follow-ups of a finished job: claim them at once, they are the same incident."""
        self._urgent = True
        self._wakeup.set()
        self._urgent_wakeup.set()

    async def _give_way(self) -> None:
        """Let webhooks in first: Alertmanager is waiting on them, while jobs wait durably.
        Bounded, so escalation still moves under a sustained flood."""
        deadline = time.monotonic() + _MAX_GIVE_WAY
        while self._busy() and time.monotonic() < deadline and not self._stopping:  # noqa: ASYNC110
            await asyncio.sleep(0.005)  # polled: the ingestor has no event to wait on

    async def _loop(self) -> None:
        while not self._stopping:
            await self._give_way()
            free = self.settings.workers - len(self._running)
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await self._claim(free)
                except StoreUnavailable as exc:
                    log.warning("cannot claim jobs: %s", exc)
            for group in _by_coalesce_key(claimed):
                task = asyncio.create_task(self._run(group), name=f"job-{group[0].id}")
                self._running.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                await self._wait(self.settings.poll_interval.total_seconds())  # a slot frees
                continue
            await self._wait(await self._idle_seconds())

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wakeup.set()

    async def _wait(self, seconds: float) -> None:
        if seconds > 0 and not self._stopping:
            try:
                await asyncio.wait_for(self._wakeup.wait(), seconds)
            except TimeoutError:
                pass
            else:
                if not self._urgent:
                    # Woken by new work: a moment's pause lets a burst of it be claimed (and
                    # coalesced) together instead of job by job; a finished job's follow-ups
                    # arriving meanwhile end the pause (they are one incident's next step).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._urgent_wakeup.wait(), _CLAIM_DELAY)
        self._urgent = False
        self._urgent_wakeup.clear()
        self._wakeup.clear()

    async def _idle_seconds(self) -> float:
        """Until the next job is due (no spinning over thousands of future timers)."""
        poll = self.settings.poll_interval.total_seconds()
        try:
            async with self._store.connection() as conn:
                due = await self._store.jobs.next_wakeup(conn)
        except StoreUnavailable:
            return poll
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self._clock()).total_seconds()))

    async def _claim(self, limit: int) -> list[Job]:
        """Claim due jobs and, in the same transaction, the jobs that may join each one's
        message: otherwise a second claim could take part of a group before its first job's
        handler gathers the rest, and the group would go out as two messages."""
        now = self._clock()
        queue, lease = self._store.jobs, self.settings.lease
        async with self._store.transaction(durable=False) as conn:
            claimed = await queue.claim(conn, self.owner, now, lease, limit)
            keys = {j.coalesce_key: j.kind for j in claimed if j.coalesce_key is not None}
            for key, kind in keys.items():
                horizon = self._horizons.get(kind, timedelta(0))
                claimed += await queue.claim_coalesced(
                    conn,
                    key,
                    self.owner,
                    now,
                    lease,
                    now + horizon,
                    limit=self._run_limits.get(kind, 1000),
                )
            return claimed

    async def _run(self, group: list[Job]) -> None:
        job = group[0]
        context = JobContext(job, self._clock(), self, siblings=group[1:])
        handler = self._handlers.get(job.kind)
        started = time.perf_counter()
        if handler is None:
            outcome: Outcome = DeadLetter(f"no handler for job kind {job.kind!r}")
        else:
            try:
                outcome = await handler(context)
            except StoreUnavailable as exc:
                outcome = Retry(f"store unavailable: {exc}")
            except Exception as exc:
                log.exception("job %d (%s) failed", job.id, job.kind)
                outcome = Retry(f"{type(exc).__name__}: {exc}")
        try:
            await self._apply(context, outcome)
        except StoreUnavailable as exc:
            # The lease runs out and the job is claimed again: nothing is lost.
            log.warning("job %d outcome not recorded: %s", job.id, exc)
            return
        self._metrics.job_finished(job.kind, _label(outcome), time.perf_counter() - started)

    async def _apply(self, context: JobContext, outcome: Outcome) -> None:
        ids = [j.id for j in context.jobs]
        now = self._clock()
        queue = self._store.jobs
        async with self._store.transaction(durable=False) as conn:
            if isinstance(outcome, Done):
                held = await queue.finish(conn, ids, self.owner, now, outcome.outcome)
                if held != len(ids):
                    # Our lease ran out and another worker took over: leave it to them.
                    log.warning("job %d: lease lost before it finished", context.job.id)
                    await conn.rollback()
                    return
                await queue.enqueue(conn, outcome.enqueue, now)
                await self._store.record(conn, outcome.events, outcome.notifications)
            elif isinstance(outcome, Defer):
                await queue.reschedule(
                    conn,
                    ids,
                    self.owner,
                    now,
                    outcome.until,
                    error=outcome.reason if outcome.count_attempt else None,
                    count_attempt=outcome.count_attempt,
                    kind=outcome.kind,
                    coalesce_key=outcome.coalesce_key,
                )
            elif isinstance(outcome, Retry):
                attempts = context.job.attempts + 1
                if attempts >= self.settings.max_attempts:
                    await queue.dead_letter(conn, ids, self.owner, now, outcome.error)
                    self._metrics.dead_letters.inc(len(ids))
                    log.error(
                        "job %d (%s) dead-lettered after %d attempts: %s",
                        context.job.id,
                        context.job.kind,
                        attempts,
                        outcome.error,
                    )
                else:
                    due = now + self.backoff(attempts)
                    if outcome.not_before is not None:
                        due = max(due, outcome.not_before)
                    await queue.reschedule(
                        conn, ids, self.owner, now, due, error=outcome.error, count_attempt=True
                    )
            else:
                await queue.dead_letter(conn, ids, self.owner, now, outcome.reason)
                self._metrics.dead_letters.inc(len(ids))
                log.error(
                    "job %d (%s) dead-lettered: %s",
                    context.job.id,
                    context.job.kind,
                    outcome.reason,
                )
        if isinstance(outcome, Done) and outcome.enqueue:
            self._wake_now()

    def backoff(self, attempts: int) -> timedelta:
        """Exponential in the attempts made, capped, with jitter so retries do not herd."""
        base = self.settings.backoff_initial.total_seconds() * 2 ** max(0, attempts - 1)
        capped = min(base, self.settings.backoff_max.total_seconds())
        return timedelta(seconds=capped / 2 + random.uniform(0, capped / 2))


def _by_coalesce_key(claimed: list[Job]) -> list[list[Job]]:
    """Jobs claimed together that may go out as one message run as one group."""
    groups: dict[str | int, list[Job]] = {}
    for job in claimed:
        groups.setdefault(job.coalesce_key or job.id, []).append(job)
    return list(groups.values())


def _label(outcome: Outcome) -> str:
    if isinstance(outcome, Done):
        return outcome.outcome
    return {Defer: "deferred", Retry: "retry", DeadLetter: "dead"}[type(outcome)]
