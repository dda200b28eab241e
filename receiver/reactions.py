"""What a new alert sets off, in one place: the ``route`` and ``resolve`` jobs.

A committed webhook enqueues a ``route`` job for the alerts it stored new and a ``resolve``
job for those it ended (see ``receiver.ingest.outbox``); a person resolving an alert enqueues
a ``resolve`` job too. Each job reads its alerts' states once and hands them to every reaction
in a list — escalation starts its policies, automation its runbooks, Grafana marks its graphs —
and what they all return is applied in one transaction with the job's completion. A reaction
only decides: it enqueues jobs and writes rows through the outcome, so a job that fails half
way is run again whole, and the idempotency keys of the jobs it enqueues keep a second run
from doubling what the first one committed.

A module adds what it does on an alert's arrival or end by joining the list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.job_handlers import Done, Handler, JobContext, Outcome, Preload
from receiver.model import Job, NewJob
from receiver.store import Store
from receiver.store.store import AlertState


@dataclass(frozen=True, slots=True)
class Reacted:
    """What one reaction sets off: jobs to enqueue, history rows, the routes alerts took."""

    enqueue: Sequence[NewJob] = ()
    events: Sequence[dict[str, Any]] = ()
    routes: Sequence[dict[str, Any]] = ()


class Reaction(Protocol):
    """Something a module does when alerts arrive (``on_new``) or end (``on_resolved``).

    ``alerts`` are the states of the job's alerts that are still stored, labels included;
    ``conn`` is a read connection for anything more a reaction needs to look up. The job's
    time, and the jobs run together with it, are in ``ctx``."""

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted: ...

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted: ...


def alert_ids(jobs: Iterable[Job]) -> list[int]:
    """The alerts of jobs run together (a batch job and those claimed with it), once each, in
    order."""
    return sorted({i for j in jobs for i in j.payload.get("alert_ids", ())})


def ids_key(alert_ids: Iterable[int]) -> str:
    """A short stable name for a set of alerts, for idempotency keys."""
    ids = sorted(set(alert_ids))
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    return f"{ids[0]}-{ids[-1]}-{len(ids)}-{digest}"


class Reactions:
    """The ``route`` and ``resolve`` job handlers over a list of reactions, run in its order."""

    def __init__(self, store: Store, reactions: Sequence[Reaction]) -> None:
        self._store = store
        self._reactions = tuple(reactions)

    def handlers(self) -> dict[str, Handler]:
        return {"route": self.route, "resolve": self.resolve}

    def preloads(self) -> dict[str, Preload]:
        """The route job runs in the runner's turn (see ``Escalation.inline``): its alerts'
        states are read within the turn that claims it, on the connection the turn holds,
        rather than by a read of its own through the async driver."""
        return {"route": self.preload}

    def preload(self, conn: Connection, jobs: Sequence[Job]) -> Mapping[int, AlertState]:
        return self._store.alert_states_read_in(conn, alert_ids(jobs), with_labels=True)

    async def route(self, ctx: JobContext) -> Outcome:
        return await self._react(ctx, "routed", new=True)

    async def resolve(self, ctx: JobContext) -> Outcome:
        return await self._react(ctx, "resolved", new=False)

    async def _react(self, ctx: JobContext, reason: str, *, new: bool) -> Outcome:
        ids = alert_ids(ctx.jobs)
        read = ctx.preloaded  # the states of every route job of the turn that claimed this one
        async with self._store.connection() as conn:
            if isinstance(read, Mapping):
                alerts = {i: read[i] for i in ids if i in read}
            else:
                alerts = await self._store.alert_states(conn, ids, with_labels=True)
            reacted = await react_all(self._reactions, conn, ctx, alerts, new=new)
        return Done(reason, enqueue=reacted.enqueue, events=reacted.events, routes=reacted.routes)


async def react_all(
    reactions: Sequence[Reaction],
    conn: AsyncConnection,
    ctx: JobContext,
    alerts: Mapping[int, AlertState],
    *,
    new: bool,
) -> Reacted:
    """What ``reactions`` set off for ``alerts`` arriving (``new``) or ending, in their order."""
    enqueue: list[NewJob] = []
    events: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    for reaction in reactions:
        if new:
            reacted = await reaction.on_new(conn, ctx, alerts)
        else:
            reacted = await reaction.on_resolved(conn, ctx, alerts)
        enqueue += reacted.enqueue
        events += reacted.events
        routes += reacted.routes
    return Reacted(enqueue, events, routes)
