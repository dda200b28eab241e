"""Webhook → store, durable before the caller hears back, with group commit.

Every accepted webhook must be committed (and, on SQLite, fsynced) before Alertmanager gets
its 200. One commit per webhook would cap throughput at the disk's fsync rate, so webhooks that
arrive while a commit is in flight wait and are committed together in the next transaction.
An idle receiver commits a lone webhook at once: batching costs no latency, it only absorbs load.
Under load the next commit waits a moment for company (``Ingestor._company``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from receiver.errors import StoreUnavailable
from receiver.escalation import resolve_job, route_job
from receiver.metrics import Metrics
from receiver.model import Clock, NewJob, Notification, held_by_alertmanager
from receiver.pipeline import fetch_group_job
from receiver.store import Store
from receiver.store.ingest import EncodedWebhook, IngestOutcome, ReceivedWebhook
from receiver.store.rows import chunks
from receiver.tracing import carry, committing, current_traceparent

log = logging.getLogger("firebreak.ingest")

# How long a loaded commit keeps the receiver counting as under load.
_LOAD_MEMORY = 0.1
# How long, at most, background work lets webhooks go first at a time: under a flood (the last
# commit, just now, carried ``commit_siblings`` webhooks or more), and while only a few wait.
# Jobs wait durably and Alertmanager waits on the answer, but escalation must not stall behind
# a stream of webhooks that never pauses: under a flood the runner's turns are spaced out (each
# recording and claiming more at once), at ordinary rates they are held back no more than a
# commit or two.
_FLOOD_GIVE_WAY = 0.2
_BRIEF_GIVE_WAY = 0.02

# A commit carrying this many alerts or more is long enough that the webhooks of the next one
# are better parsed while it runs than waited for: under load the next commit waits only for
# as many webhooks as this one carried (see ``Ingestor._company``).
_OVERLAP_ALERTS = 500

# Alerts one route or resolve job carries: a batch's new alerts are split so that one job (and
# so one run working a backlog off) stays small.
_ALERTS_PER_JOB = 250


def outbox(outcome: IngestOutcome, now: datetime, *, fetch_truncated: bool) -> list[NewJob]:
    """The jobs a committed webhook batch starts, in the batch's own transaction: a ``route``
    job for the alerts it stored new and a ``resolve`` job for those it ended (what they set
    off is ``receiver.reactions``), and, when Alertmanager's API is configured
    (``fetch_truncated``), a fetch of the rest of each group Alertmanager cut short."""
    follow = []
    if fetch_truncated:
        follow += [
            fetch_group_job(n, now) for n in outcome.truncated if held_by_alertmanager(n.group_key)
        ]
    for chunk in chunks(outcome.new_alert_ids, _ALERTS_PER_JOB):
        follow.append(route_job(chunk, now))
    for chunk in chunks(outcome.resolved_alert_ids, _ALERTS_PER_JOB):
        follow.append(resolve_job(chunk, now))
    return carry(follow, committing.get())


@dataclass(slots=True)
class _Waiting:
    webhook: ReceivedWebhook
    encoded: EncodedWebhook
    done: asyncio.Future[None]
    traceparent: str | None = None  # the webhook's span, when tracing


class Ingestor:
    """Collects webhooks from concurrent requests and commits them in shared transactions."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        clock: Clock,
        *,
        max_batch_alerts: int = 5000,
        commit_delay: float = 0.002,
        commit_siblings: int = 8,
        outbox: Callable[[IngestOutcome, datetime], Sequence[NewJob]] | None = None,
        on_commit: Callable[[], None] | None = None,
        traced: bool = False,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._max_batch_alerts = max_batch_alerts
        self._commit_delay = commit_delay
        self._commit_siblings = commit_siblings
        self._outbox = outbox  # jobs to enqueue in the batch's own transaction
        self._on_commit = on_commit
        self._traceparent: Callable[[], str | None] = (
            current_traceparent if traced else lambda: None
        )
        self._queue: list[_Waiting] = []
        self._wakeup = asyncio.Event()
        # While the next commit waits for company: how many waiting webhooks end the wait.
        self._company_wanted = 0
        self._company_came = asyncio.Event()
        # Background work waiting for webhooks to go first, woken when a commit may end that.
        self._held_back: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_batch = 0
        self._last_commit_at = 0.0
        self.last_outcome: IngestOutcome | None = None

    @property
    def give_way(self) -> float:
        """How long, at most, background work should now let webhooks go first: long under
        a flood, briefly while webhooks wait to be committed, not at all otherwise."""
        if self._flooded():
            return _FLOOD_GIVE_WAY
        return _BRIEF_GIVE_WAY if self._queue else 0.0

    def _flooded(self) -> bool:
        return self._last_batch >= self._commit_siblings and (bool(self._queue) or self._loaded())

    async def let_through(self) -> None:
        """Return once background work (the job runner's next turn) may go on: at once when
        no webhook waits, else when ``give_way`` has passed since the call or the webhooks no
        longer need it, whichever comes first. Woken by commits (and by the flood's memory
        running out), never polled."""
        began = self._loop_time()
        while True:
            now = self._loop_time()
            left = self.give_way - (now - began)
            if left <= 0:
                return
            if self._flooded() and not self._queue:
                # Only time ends this flood now: no commit is coming to say so.
                left = min(left, self._last_commit_at + _LOAD_MEMORY - now)
            loop = asyncio.get_running_loop()
            woken: asyncio.Future[None] = loop.create_future()
            self._held_back.append(woken)
            timer = loop.call_later(left, _settle, woken)
            try:
                await woken
            finally:
                timer.cancel()
                with contextlib.suppress(ValueError):
                    self._held_back.remove(woken)

    @staticmethod
    def _loop_time() -> float:
        # The load is a matter of real time: the event loop's clock, which its timers keep.
        return asyncio.get_running_loop().time()

    def _release_held_back(self) -> None:
        held, self._held_back = self._held_back, []
        for woken in held:
            _settle(woken)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="firebreak-ingest")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        self._company_came.set()
        self._release_held_back()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, notification: Notification, request_id: str | None) -> None:
        """Return once the notification is committed; raise StoreUnavailable if it was not."""
        if self._task is None or self._closing:
            raise StoreUnavailable("the receiver is shutting down")
        # Awaited right here, so its outcome is always retrieved: a request cancelled while it
        # waits cancels the future with it, and ``_commit`` settles only futures not done.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        received = ReceivedWebhook(notification, request_id, self._clock())
        encoded = self._store.encode_webhook(received)
        self._queue.append(_Waiting(received, encoded, done, self._traceparent()))
        self._wakeup.set()
        if self._company_wanted and len(self._queue) >= self._company_wanted:
            self._company_came.set()
        # Cancelling this wait (a client hanging up) cancels only the wait: the webhook is in
        # the queue and is committed with the others all the same.
        await done

    async def _run(self) -> None:
        company = 0  # webhooks the next commit waits for, under load
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                if company and not self._closing and self._loaded():
                    await self._wait_for_company(company)
                batch = self._take_batch()
                await self._commit(batch)
                self._last_batch = len(batch)
                self._last_commit_at = self._loop_time()
                company = self._company(batch)
                self._release_held_back()
            if self._closing:
                return

    def _loaded(self) -> bool:
        """Whether the last commit ended just now (an idle receiver commits at once)."""
        return self._loop_time() - self._last_commit_at < _LOAD_MEMORY

    def _company(self, batch: list[_Waiting]) -> int:
        """How many webhooks the next commit waits for (``commit_delay`` at most), from the
        commit of ``batch`` that just ended: none unless it carried ``commit_siblings``
        webhooks or more (under load). Under load the answers to a commit come back as new
        webhooks within a moment, and a commit costs much the same for one webhook as for a
        dozen: the next waits for everyone who sent during this one, the batch and those
        queued meanwhile, so that one commit (and one fsync, and the job runner's one turn
        after it) serves them all, rather than the senders splitting into groups that each
        pay for a commit. A commit of ``_OVERLAP_ALERTS`` alerts or more is long enough for
        the opposite, the next commit's webhooks parsed while one commits: when nobody sent
        meanwhile, the first to come back is committed at once, with whoever has come by
        then, while the rest are parsed; otherwise the next waits for as many as this one
        carried, which keeps the senders in groups of that size taking turns."""
        if len(batch) < self._commit_siblings:
            return 0
        if sum(len(w.webhook.notification.alerts) for w in batch) >= _OVERLAP_ALERTS:
            return len(batch) if self._queue else 0
        return len(batch) + len(self._queue)

    async def _wait_for_company(self, wanted: int) -> None:
        """Until ``wanted`` webhooks wait (woken by the one that makes them so), the ingest
        stops, or ``commit_delay`` has passed."""
        if len(self._queue) >= wanted:
            return
        self._company_wanted = wanted
        self._company_came.clear()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._company_came.wait(), self._commit_delay)
        finally:
            self._company_wanted = 0

    def _take_batch(self) -> list[_Waiting]:
        taken = 0
        alerts = 0
        for waiting in self._queue:
            alerts += len(waiting.webhook.notification.alerts)
            if taken and alerts > self._max_batch_alerts:
                break
            taken += 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _commit(self, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        # The jobs this commit enqueues continue the first traced webhook's trace.
        committing.set(next((w.traceparent for w in batch if w.traceparent), None))
        try:
            outcome = await self._store.ingest(
                [w.webhook for w in batch],
                self._clock(),
                [w.encoded for w in batch],
                outbox=self._outbox,
            )
        except StoreUnavailable as exc:
            self._metrics.store_errors.labels("ingest").inc()
            log.warning("webhook batch not stored: %s", exc, extra={"webhooks": len(batch)})
            for waiting in batch:
                _fail(waiting.done, exc)
            return
        except Exception:
            self._metrics.store_errors.labels("ingest").inc()
            if len(batch) > 1:
                # Not the database being away: commit one by one so one bad webhook cannot
                # hold the others back, and only its own request fails.
                log.exception("webhook batch failed; retrying its webhooks one by one")
                for waiting in batch:
                    await self._commit([waiting])
            else:
                log.exception("webhook could not be stored")
                _fail(batch[0].done, StoreUnavailable("the webhook could not be stored"))
            return
        self._metrics.ingest_commit_duration.observe(time.perf_counter() - started)
        self._metrics.ingest_batch_webhooks.observe(len(batch))
        self._metrics.occurrences_created.inc(len(outcome.new_alert_ids))
        self.last_outcome = outcome
        if self._on_commit is not None and (outcome.new_alert_ids or outcome.resolved_alert_ids):
            self._on_commit()
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(None)


def _settle(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _fail(done: asyncio.Future[None], exc: Exception) -> None:
    if not done.done():
        done.set_exception(exc)
