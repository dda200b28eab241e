"""What a job's run came to, applied in the job runner's turn: done jobs finished together with
what they enqueue and the history, notifications, routes and pages they record (set-based);
deferred ones rescheduled; failures retried with backoff, or dead-lettered when out of tries or
rejected for good. Only while the runner still holds the jobs' leases: a job another runner
took over is left to it."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from receiver.job_handlers import DeadLetter, Defer, Done, JobContext, Outcome, Retry
from receiver.metrics import Metrics
from receiver.model import NewJob
from receiver.store import Store

log = logging.getLogger("firebreak.jobs")


@dataclass(frozen=True, slots=True)
class Retrying:
    """Attempts before a failing job is dead-lettered, and the wait between them."""

    max_attempts: int
    backoff_initial: timedelta
    backoff_max: timedelta

    def backoff(self, attempts: int) -> timedelta:
        """Exponential in the attempts made, capped, with jitter so retries do not herd."""
        base = self.backoff_initial.total_seconds() * 2 ** max(0, attempts - 1)
        capped = min(base, self.backoff_max.total_seconds())
        return timedelta(seconds=capped / 2 + random.uniform(0, capped / 2))


class OutcomeRecorder:
    """Applies outcomes to the jobs table and the store's records."""

    def __init__(self, store: Store, metrics: Metrics, retrying: Retrying) -> None:
        self._store = store
        self._metrics = metrics
        self._retrying = retrying

    def record(
        self,
        conn: Connection,
        batch: Sequence[tuple[JobContext, Outcome]],
        owner: str,
        now: datetime,
    ) -> None:
        """Apply outcomes within the turn's unit of work, set-based for the common one (done).
        It may run on SQLite's writer thread: it touches nothing of the event loop's.
        ``owner``: the runner whose leases the jobs must still be under."""
        queue = self._store.jobs
        finished = [(c, o) for c, o in batch if isinstance(o, Done)]
        if finished:
            ids = [j.id for c, _ in finished for j in c.jobs]
            held = queue.held(conn, ids, owner)
            by_outcome: dict[str, list[int]] = {}
            enqueue: list[NewJob] = []
            events: list[dict[str, Any]] = []
            sent: list[dict[str, Any]] = []
            routes: list[dict[str, Any]] = []
            paged: list[dict[str, Any]] = []
            for context, done in finished:
                assert isinstance(done, Done)
                if not all(j.id in held for j in context.jobs):
                    # Our lease ran out and another worker took over: leave what follows to
                    # it (it enqueues under the same idempotency keys).
                    log.warning("job %d: lease lost before it finished", context.job.id)
                    continue
                by_outcome.setdefault(done.outcome, []).extend(j.id for j in context.jobs)
                enqueue += done.enqueue
                events += done.events
                sent += done.notifications
                routes += done.routes
                paged += done.pages
            for said, done_ids in by_outcome.items():
                queue.finish(conn, done_ids, owner, now, said)
            queue.enqueue_in(conn, enqueue, now)
            self._store.record_in(conn, events, sent, routes, paged)
        for context, outcome in batch:
            if not isinstance(outcome, Done):
                self._other(conn, context, outcome, owner, now)

    def _other(
        self, conn: Connection, context: JobContext, outcome: Outcome, owner: str, now: datetime
    ) -> None:
        ids = [j.id for j in context.jobs]
        queue = self._store.jobs
        if isinstance(outcome, Defer):
            queue.reschedule(
                conn,
                ids,
                owner,
                now,
                outcome.until,
                error=outcome.reason if outcome.count_attempt else None,
                count_attempt=outcome.count_attempt,
                kind=outcome.kind,
                coalesce_key=outcome.coalesce_key,
                in_doubt=context.in_doubt,
            )
        elif isinstance(outcome, Retry):
            attempts = context.job.attempts + 1
            if attempts >= self._retrying.max_attempts:
                queue.dead_letter(conn, ids, owner, now, outcome.error)
                self._metrics.dead_letters.inc(len(ids))
                log.error(
                    "job %d (%s) dead-lettered after %d attempts: %s",
                    context.job.id,
                    context.job.kind,
                    attempts,
                    outcome.error,
                )
            else:
                due = now + self._retrying.backoff(attempts)
                if outcome.not_before is not None:
                    due = max(due, outcome.not_before)
                queue.reschedule(
                    conn,
                    ids,
                    owner,
                    now,
                    due,
                    error=outcome.error,
                    count_attempt=True,
                    in_doubt=context.in_doubt,
                )
        elif isinstance(outcome, DeadLetter):
            queue.dead_letter(conn, ids, owner, now, outcome.reason)
            self._metrics.dead_letters.inc(len(ids))
            log.error(
                "job %d (%s) dead-lettered: %s", context.job.id, context.job.kind, outcome.reason
            )
