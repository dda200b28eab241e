"""What a job handler gets and answers: its ``JobContext``, and an outcome (``Done``,
``Defer``, ``Retry``, ``DeadLetter``) that the job runner (``receiver.jobs``) applies in one
transaction. The kinds' handlers and preloads depend on this, not on the runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from receiver.model import Clock, Job, NewJob

__all__ = [
    "DeadLetter",
    "Defer",
    "Done",
    "Handler",
    "JobContext",
    "Outcome",
    "Preload",
    "Retry",
]


@dataclass(frozen=True, slots=True)
class Done:
    """Finished: apply these follow-ups in the same transaction as marking the job done."""

    outcome: str = "ok"
    enqueue: Sequence[NewJob] = ()
    events: Sequence[dict[str, Any]] = ()
    notifications: Sequence[dict[str, Any]] = ()
    routes: Sequence[dict[str, Any]] = ()  # alert_routes rows: the routes alerts took
    pages: Sequence[dict[str, Any]] = ()  # pages rows: the people a tier paged


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
    # The runner's lease (a job due a whole lease ago may have been taken over) and clock (the
    # time now, where ``now`` is when the job was claimed).
    lease: timedelta
    clock: Clock
    siblings: list[Job] = field(default_factory=list)
    # What the kind's preload read for every job of that kind claimed in the same turn (one
    # query for all of them), or None: the handler reads for itself.
    preloaded: Any = None
    # Set by the handler when it begins its side effect (a request sent), cleared when the far
    # side says nothing was done: a run that ends set but unrecorded as done (cut off at
    # shutdown, deferred, retried) leaves the job ``in_doubt``, and only such a job's next run
    # pays for looking whether the side effect happened (a read of a rate-limited API).
    in_doubt: bool = False

    @property
    def jobs(self) -> list[Job]:
        return [self.job, *self.siblings]

    def earlier_attempts(self, job: Job | None = None) -> int:
        """Earlier runs of ``job`` (this context's by default) whose side effect may have
        happened: the failed attempts, and one more when an earlier run ended in doubt (cut
        off at shutdown while sending, or its answer lost) or the job was due a whole lease
        ago (a worker that took it died, perhaps after sending). A run merely deferred before
        it began counts none, so the handler need not ask a rate-limited API first."""
        job = job or self.job
        # A first claim is no take-over however late it comes (a backlog, a restart).
        late = self.now - job.due_at >= self.lease
        taken_over = job.claimed_before and late
        return job.attempts + (1 if taken_over or job.in_doubt else 0)


Handler = Callable[[JobContext], Awaitable[Outcome]]
# Reads, in one query, what the handlers of the jobs claimed together will need; run within
# the turn that claims them (on SQLite, on the writer's thread, so no trip of its own).
Preload = Callable[[Connection, Sequence[Job]], Any]
