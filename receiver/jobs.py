"""The job runner: claims due jobs, runs their handlers, and records what came of them.

A handler does its side effect (a send) and answers with an outcome; the runner applies the
outcome in one transaction — mark done, enqueue what follows, append history — fenced by the
lease, so a crash at any point either loses nothing (the job is claimed again when its lease
runs out) or leaves a finished job finished. While a job runs, its runner renews its lease every
third of a lease, so a job may run for longer than the lease (a slow runbook step) and still
nobody else takes it; a runner that died stops renewing, and its jobs are claimed again at most
a lease later. Handlers never sleep: waiting is a job whose ``due_at`` lies ahead, and an idle
runner sleeps until the next one is due or it is woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from receiver.errors import StoreUnavailable
from receiver.job_handlers import (
    DeadLetter,
    Defer,
    Done,
    Handler,
    JobContext,
    Outcome,
    Preload,
    Retry,
)
from receiver.job_records import OutcomeRecorder, Retrying
from receiver.metrics import Metrics
from receiver.model import Clock, Job
from receiver.store import Store
from receiver.tracing import Tracing, carry

log = logging.getLogger("firebreak.jobs")


@dataclass(frozen=True, slots=True)
class _Finished:
    """A job's outcome waiting for the next turn's transaction; ``recorded`` tells its task."""

    context: JobContext
    outcome: Outcome
    recorded: asyncio.Future[None]
    inline: bool = False  # run by the loop itself, not a task of its own


def _settle(batch: Sequence[_Finished], error: Exception | None) -> None:
    for item in batch:
        if not item.recorded.done():
            if error is None:
                item.recorded.set_result(None)
            else:
                item.recorded.set_exception(error)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    owner: str
    workers: int = 4
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 10
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    poll_interval: timedelta = timedelta(seconds=5)
    stop_grace: timedelta = timedelta(seconds=10)  # how long stop() lets running jobs finish
    # The most jobs one turn claims, the company of coalesced ones included: a backlog is
    # worked off in slices of this size, so a turn's rows, payloads and preloaded alerts stay
    # bounded however far behind the runner fell. A key's jobs left over wait behind the run
    # of those claimed (they never overtake it) and go in the next slice. Not lower: a digest
    # takes up to a thousand held-back notices a run, one run per token of its rate limit.
    claim_limit: int = 1024


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
        give_way: Callable[[], Awaitable[None]] | None = None,
        run_limit: Callable[[Job], int] = lambda _job: 1000,
        tracing: Tracing | None = None,
        preloads: Mapping[str, Preload] | None = None,
        inline: Iterable[str] = (),
    ) -> None:
        """``horizons``: per job kind, how far ahead a coalesced job may be due and still go
        out with a claimed one. ``preloads``: per job kind, a read done once for all the jobs
        of that kind claimed in a turn, instead of once by each of their handlers. ``inline``:
        kinds whose handlers only read the store and decide, calling nothing outside: the
        runner's loop runs them itself as soon as the turn that claims them has committed, and
        goes straight round to the next turn, which records them and claims what they enqueue.
        ``give_way``: awaited before each turn; returns once webhooks need not go first (the
        ingest's ``let_through``)."""
        self._horizons = dict(horizons or {})
        self._preloads = dict(preloads or {})
        self._inline = frozenset(inline)
        self._let_through = give_way  # while webhooks are being taken in, they come first
        self._run_limit = run_limit
        self._tracing = tracing if tracing is not None else Tracing()
        self._store = store
        self._handlers = handlers
        self._metrics = metrics
        self._recorder = OutcomeRecorder(
            store,
            metrics,
            Retrying(settings.max_attempts, settings.backoff_initial, settings.backoff_max),
        )
        self._clock = clock
        self.settings = settings
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._leased: set[int] = set()  # ids of the jobs running here: their leases are renewed
        self._handling: dict[int, JobContext] = {}  # by job id, until their outcome is recorded
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._stopping = False
        self._outcomes: list[_Finished] = []

    @property
    def owner(self) -> str:
        return self.settings.owner

    def clock(self) -> datetime:
        """The time now, by the runner's clock (a handler's ``now`` is when its job was claimed)."""
        return self._clock()

    def replace_handlers(
        self,
        handlers: Mapping[str, Handler],
        horizons: Mapping[str, timedelta],
        preloads: Mapping[str, Preload] | None = None,
    ) -> None:
        """Run jobs claimed from now on with these handlers (a configuration reload); jobs
        already running finish with the ones they started with."""
        self._handlers = dict(handlers)
        self._horizons = dict(horizons)
        self._preloads = dict(preloads or {})

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="firebreak-jobs")
        self._renewer = asyncio.create_task(self._renew_leases(), name="firebreak-job-leases")

    async def stop(self) -> None:
        """Let running jobs finish and record them (for ``stop_grace`` at most: then they are
        cut off), then hand back every lease still held, so another process runs them."""
        self._stopping = True
        self._wakeup.set()
        in_doubt: list[int] = []
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.settings.stop_grace.total_seconds()
                )
            except TimeoutError:
                log.warning("%d jobs still running at shutdown: handed back", len(self._running))
                in_doubt = [j.id for c in self._handling.values() if c.in_doubt for j in c.jobs]
                for task in (*self._running, self._task):
                    task.cancel()
                await asyncio.gather(self._task, *self._running, return_exceptions=True)
            self._task = None
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        now = self._clock()
        with contextlib.suppress(StoreUnavailable):
            await self._store.unit(
                lambda conn: self._store.jobs.release(conn, self.owner, now, in_doubt),
                durable=False,
            )

    async def _renew_leases(self) -> None:
        """Every third of a lease, extend the leases of the jobs running here by a whole one:
        two renewals may fail (the database away) before another runner may take them."""
        every = self.settings.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            if not self._leased:
                continue
            renew = partial(
                self._store.jobs.renew,
                ids=list(self._leased),
                owner=self.owner,
                now=self._clock(),
                lease=self.settings.lease,
            )
            try:
                await self._store.unit(renew, durable=False)
            except StoreUnavailable as exc:
                log.warning("cannot renew %d running jobs' leases: %s", len(self._leased), exc)

    def wake(self) -> None:
        """Look for due jobs now: something was just enqueued elsewhere (a webhook)."""
        self._wakeup.set()

    async def _give_way(self) -> None:
        """Let webhooks in first: Alertmanager is waiting on them, while jobs wait durably.
        For as long as the ingest asks (it says how long it may wait at most, by how loaded
        it is), so escalation still moves under a sustained flood."""
        if self._let_through is not None and not self._stopping:
            await self._let_through()

    async def _loop(self) -> None:
        """One bookkeeping unit of work a turn: record what finished since the last turn and,
        with the slots that frees, claim what is due, follow-ups just recorded included. However
        many jobs finish together, they cost one write transaction, not one each; on SQLite one
        hand-off to the writer's thread, however many statements it takes."""
        while True:
            self._wakeup.clear()
            if self._stopping and not self._running and not self._outcomes:
                return
            await self._give_way()
            batch, self._outcomes = self._outcomes, []
            # A job whose outcome is in this batch is done running once it is recorded (an
            # inline one never took a worker's slot).
            ended = sum(1 for f in batch if not f.inline)
            free = 0 if self._stopping else self.settings.workers - len(self._running) + ended
            claimed, due, preloaded = await self._turn(batch, free)
            inline = [j for j in claimed if j.kind in self._inline]
            tasks = [j for j in claimed if j.kind not in self._inline]
            for group in _by_coalesce_key(tasks):
                task = asyncio.create_task(
                    self._run(group, preloaded.get(group[0].kind)), name=f"job-{group[0].id}"
                )
                self._running.add(task)
                task.add_done_callback(self._finished)
            if inline:
                await self._run_inline(inline, preloaded)
            if self._outcomes or self._wakeup.is_set():
                await asyncio.sleep(0)  # let the jobs just started begin; then go round again
                continue
            if self._stopping and not self._running:
                continue  # the last outcomes are recorded: nothing left to wait for
            if self._stopping or len(claimed) >= free:
                # Full (or finishing): a job that finishes wakes the loop.
                await self._wait(self.settings.poll_interval.total_seconds())
            else:
                await self._wait(self._idle_seconds(due))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._stopping:
            self._wakeup.set()  # the last one lets the loop end

    async def _turn(
        self, batch: list[_Finished], free: int
    ) -> tuple[list[Job], datetime | None, dict[str, Any]]:
        """Record ``batch`` and claim up to ``free`` jobs in one unit of work; with the jobs
        claimed comes, when fewer were due than there was room for, when the next one is, and
        what the preloading kinds read for them."""
        now = self._clock()

        def turn(conn: Connection) -> tuple[list[Job], datetime | None, dict[str, Any]]:
            self._recorder.record(conn, _pairs(batch), self.owner, now)
            claimed = self._claim(conn, free, now) if free > 0 else []
            due = self._store.jobs.next_wakeup(conn) if len(claimed) < free else None
            return claimed, due, self._preload(conn, claimed)

        try:
            found = await self._store.unit(turn, durable=False)
        except StoreUnavailable as exc:
            log.warning("cannot record or claim jobs: %s", exc)
            _settle(batch, exc)
            return [], None, {}
        except Exception:
            if not batch:
                raise
            # A defect in one outcome must not hold back the others: record one by one.
            log.exception("recording %d job outcomes failed; one by one", len(batch))
            for item in batch:
                await self._record_alone(item)
            return [], None, {}
        _settle(batch, None)
        return found

    def _context(self, group: list[Job], now: datetime, preloaded: Any) -> JobContext:
        return JobContext(
            group[0],
            now,
            self.settings.lease,
            self._clock,
            siblings=group[1:],
            preloaded=preloaded,
        )

    async def _run_inline(self, claimed: list[Job], preloaded: Mapping[str, Any]) -> None:
        """Run jobs of the inline kinds here and now; the next turn records their outcomes
        (and so claims what they enqueue) at once."""
        loop = asyncio.get_running_loop()
        now = self._clock()
        for group in _by_coalesce_key(claimed):
            ids = [j.id for j in group]
            self._leased.update(ids)
            started = time.perf_counter()
            context = self._context(group, now, preloaded.get(group[0].kind))
            try:
                outcome = await self._outcome(context)
            finally:
                self._leased.difference_update(ids)
            recorded: asyncio.Future[None] = loop.create_future()
            took = time.perf_counter() - started
            recorded.add_done_callback(partial(self._inline_recorded, group[0].kind, outcome, took))
            self._outcomes.append(_Finished(context, outcome, recorded, inline=True))

    def _inline_recorded(
        self, kind: str, outcome: Outcome, took: float, recorded: asyncio.Future[None]
    ) -> None:
        if not recorded.cancelled() and recorded.exception() is None:
            self._metrics.job_finished(kind, _label(outcome), took)

    def _preload(self, conn: Connection, claimed: list[Job]) -> dict[str, Any]:
        """Each preloading kind's read for all its claimed jobs, in the turn's unit of work.
        A defect in one only leaves its handlers to read for themselves."""
        by_kind: dict[str, list[Job]] = {}
        for job in claimed:
            if job.kind in self._preloads:
                by_kind.setdefault(job.kind, []).append(job)
        found: dict[str, Any] = {}
        for kind, jobs in by_kind.items():
            try:
                found[kind] = self._preloads[kind](conn, jobs)
            except Exception as exc:
                log.warning("preloading %s jobs failed; their handlers read: %s", kind, exc)
        return found

    async def _record_alone(self, item: _Finished) -> None:
        now = self._clock()
        try:
            await self._store.unit(
                lambda conn: self._recorder.record(conn, _pairs([item]), self.owner, now),
                durable=False,
            )
        except Exception as exc:
            log.exception("recording job %d's outcome failed", item.context.job.id)
            unrecorded = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
            _settle([item], unrecorded)
        else:
            _settle([item], None)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0 and not self._wakeup.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), seconds)

    def _idle_seconds(self, due: datetime | None) -> float:
        """Until the next job is due (no spinning over thousands of future timers)."""
        poll = self.settings.poll_interval.total_seconds()
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self._clock()).total_seconds()))

    def _claim(self, conn: Connection, limit: int, now: datetime) -> list[Job]:
        """Claim due jobs and, in the same transaction, the jobs that may join each one's
        message: otherwise a second claim could take part of a group before its first job's
        handler gathers the rest, and the group would go out as two messages. Both within the
        turn's ``claim_limit``: company beyond it goes in a later run, behind this one."""
        queue, lease = self._store.jobs, self.settings.lease
        room = self.settings.claim_limit  # for the whole turn, company included
        limit = min(limit, room)
        claimed = queue.claim(conn, self.owner, now, lease, limit)
        # A claim that took fewer than it could took every job claimable now: only kinds that
        # gather jobs due later (a grouping window) can have company left to find.
        everything = len(claimed) < limit
        horizon = {
            j.coalesce_key: now + self._horizons.get(j.kind, timedelta(0))
            for j in claimed
            if j.coalesce_key is not None
        }
        if everything:
            horizon = {key: due for key, due in horizon.items() if due > now}
        if not horizon:
            return claimed
        leaders = {j.coalesce_key: j for j in claimed if j.coalesce_key in horizon}
        # One look for which keys have company at all: usually none do.
        for key in queue.keys_with_claimable(conn, horizon, now):
            if len(claimed) >= room:
                break  # the turn's slice is full: the rest of the company waits its turn
            claimed += queue.claim_coalesced(
                conn,
                key,
                self.owner,
                now,
                lease,
                horizon[key],
                limit=min(self._run_limit(leaders[key]), room - len(claimed)),
            )
        return claimed

    async def _run(self, group: list[Job], preloaded: Any = None) -> None:
        ids = [j.id for j in group]
        self._leased.update(ids)
        try:
            await self._run_leased(group, preloaded)
        finally:
            self._leased.difference_update(ids)

    async def _run_leased(self, group: list[Job], preloaded: Any) -> None:
        job = group[0]
        context = self._context(group, self._clock(), preloaded)
        started = time.perf_counter()
        self._handling[job.id] = context  # what stop() sees of it if it cuts the job off
        try:
            outcome = await self._outcome(context)
            recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            recorded.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._outcomes.append(_Finished(context, outcome, recorded))
            self._wakeup.set()
            await recorded
        except StoreUnavailable as exc:
            # The lease runs out and the job is claimed again: nothing is lost.
            log.warning("job %d outcome not recorded: %s", job.id, exc)
            return
        finally:
            self._handling.pop(job.id, None)
        self._metrics.job_finished(job.kind, _label(outcome), time.perf_counter() - started)

    async def _outcome(self, context: JobContext) -> Outcome:
        """What the job's handler made of it, traced when tracing is on."""
        job = context.job
        handler = self._handlers.get(job.kind)
        if handler is None:
            return DeadLetter(f"no handler for job kind {job.kind!r}")
        if not self._tracing.enabled:
            return await self._handle(handler, context)
        attributes = {"firebreak.job.kind": job.kind, "firebreak.job.id": job.id}
        with self._tracing.span(
            f"job {job.kind}", job.payload.get("traceparent"), attributes
        ) as traceparent:
            outcome = await self._handle(handler, context)
        if isinstance(outcome, Done) and outcome.enqueue:
            outcome = replace(outcome, enqueue=carry(outcome.enqueue, traceparent))
        return outcome

    async def _handle(self, handler: Handler, context: JobContext) -> Outcome:
        try:
            return await handler(context)
        except StoreUnavailable as exc:
            return Retry(f"store unavailable: {exc}")
        except Exception as exc:
            log.exception("job %d (%s) failed", context.job.id, context.job.kind)
            return Retry(f"{type(exc).__name__}: {exc}")


def _pairs(batch: Sequence[_Finished]) -> list[tuple[JobContext, Outcome]]:
    return [(f.context, f.outcome) for f in batch]


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
