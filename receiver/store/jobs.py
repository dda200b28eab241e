"""The durable jobs table: enqueue, claim with a lease, finish, retry, dead-letter.

What the job runner does on every turn (record outcomes, claim, renew and hand back leases,
find the next job due) runs within a unit of work (``Connections.unit``), over a synchronous
connection; the rest (listings, counts, a retry from the console) over the async one.

Claiming is one statement on PostgreSQL (``FOR UPDATE SKIP LOCKED``, so replicas never take
the same job) and one write transaction on SQLite (a single process). Every change a worker
makes to a job it claimed is fenced by its lease: a worker whose lease expired and whose job
another worker took cannot mark it done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Integer,
    String,
    and_,
    bindparam,
    column,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import IN_DOUBT, Job, NewJob
from receiver.store.bulk import BulkInsert
from receiver.store.engine import in_list
from receiver.store.tables import NOTICES_ON_THEIR_WAY, GroupKeyOf, UTCDateTime, jobs
from receiver.tracing import carry


def _job_rows(new: Sequence[NewJob], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "kind": j.kind,
            "payload": j.payload,
            "state": "pending",
            "due_at": j.due_at,
            "attempts": 0,
            "idempotency_key": j.idempotency_key,
            "coalesce_key": j.coalesce_key,
            "created_at": now,
            "updated_at": now,
        }
        # The trace of the job or webhook enqueueing it, when tracing.
        for j in carry(new)
    ]


# On SQLite, jobs are enqueued as the driver's own INSERT (store/bulk.py): one for every ingest
# commit and runner turn, where SQLAlchemy's executemany cost twice what SQLite's insert did.
_ENQUEUE_ON_SQLITE = BulkInsert(jobs, on_conflict=("idempotency_key",))


def _job(row: Any) -> Job:
    return Job(**{name: getattr(row, name) for name in Job.__slots__})


# The statements the job runner runs on every turn are built once, with bound parameters
# (``b_*``): building SQLAlchemy expressions anew for each call cost more than running them.
_NOW = bindparam("b_now", type_=UTCDateTime())
_OWNER = bindparam("b_owner", type_=String())
_IDS: BindParameter[Any] = bindparam("b_ids", expanding=True)
_HELD = and_(jobs.c.id.in_(_IDS), jobs.c.lease_owner == _OWNER, jobs.c.state == "running")


def _claimable(due_before: Any) -> Any:
    """Pending jobs due by ``due_before``, and running ones whose worker's lease ran out by
    ``b_now`` (it died)."""
    return or_(
        and_(jobs.c.state == "pending", jobs.c.due_at <= due_before),
        and_(jobs.c.state == "running", jobs.c.lease_expires_at < _NOW),
    )


_SIBLING = jobs.alias("sibling")
# A job waits while another job of its coalesce key runs (leased and alive): jobs of one key
# speak to one place (an alert's Slack thread, a group's message), and one made later must not
# overtake one still running. Within one claim, a key's jobs run as one group, in order.
_NOT_BEHIND_A_RUNNING_SIBLING = or_(
    jobs.c.coalesce_key.is_(None),
    ~exists().where(
        _SIBLING.c.coalesce_key == jobs.c.coalesce_key,
        _SIBLING.c.state == "running",
        _SIBLING.c.lease_expires_at >= _NOW,
        _SIBLING.c.id != jobs.c.id,
    ),
)


def _leasing(candidates: Any) -> Any:
    """Lease the jobs ``candidates`` selects to ``b_owner`` until ``b_expires``."""
    return (
        update(jobs)
        .where(jobs.c.id.in_(candidates.scalar_subquery()))
        .values(
            state="running",
            lease_owner=_OWNER,
            lease_expires_at=bindparam("b_expires", type_=UTCDateTime()),
            started_at=_NOW,
            updated_at=_NOW,
            claims=jobs.c.claims + 1,
        )
        .returning(*jobs.c)
    )


def _on_their_way(postgres: bool) -> Any:
    """Notices not delivered yet about alerts of the groups ``b_groups``, off the partial index
    on them: the index's condition repeated word for word, for the planner to see it holds."""
    groups: BindParameter[Any] = bindparam("b_groups", expanding=True)
    if postgres:
        return select(*jobs.c).where(
            GroupKeyOf(jobs.c.payload).in_(groups), text(NOTICES_ON_THEIR_WAY)
        )
    # Named: with no statistics to go by, SQLite's planner would rather take the states through
    # ix_jobs_state_due_at and read every pending timer's payload (several times slower than
    # the whole table; bench/tier_order_bench.py lookup). Without the index, it fails.
    names = ", ".join(c.name for c in jobs.c)
    group_key = GroupKeyOf(column("payload")).compile(dialect=sqlite.dialect())
    return (
        text(
            f"SELECT {names} FROM jobs INDEXED BY ix_jobs_notices_on_their_way "
            f"WHERE {group_key} IN :b_groups AND {NOTICES_ON_THEIR_WAY}"
        )
        .bindparams(groups)
        .columns(*jobs.c)
    )


def _rescheduling(error: bool, count_attempt: bool, kind: bool, in_doubt: bool) -> Any:
    """The UPDATE that hands leased jobs back (``JobQueue.reschedule``), for one shape of
    its arguments: a deferred notification runs it on every turn it is held back."""
    values: dict[str, Any] = {
        "state": "pending",
        "due_at": bindparam("b_due", type_=UTCDateTime()),
        "updated_at": _NOW,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if error:
        values["last_error"] = bindparam("b_error", type_=String())
    if count_attempt:
        values["attempts"] = jobs.c.attempts + 1
    if kind:
        values["kind"] = bindparam("b_kind", type_=String())
        values["coalesce_key"] = bindparam("b_coalesce_key", type_=String())
    if in_doubt:
        values["outcome"] = IN_DOUBT  # kept by later runs until one finishes it
    return update(jobs).where(_HELD).values(**values)


class JobQueue:
    """Statements over ``jobs``; each takes the connection of the caller's transaction."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        # Built once for each shape of its arguments, as the statements below are.
        self._reschedule: dict[tuple[bool, bool, bool, bool], Any] = {}
        limit = bindparam("b_limit", type_=Integer())
        candidates = (
            select(jobs.c.id)
            .where(_claimable(_NOW), _NOT_BEHIND_A_RUNNING_SIBLING)
            .order_by(jobs.c.due_at, jobs.c.id)
            .limit(limit)
        )
        due_before = bindparam("b_due_before", type_=UTCDateTime())
        company = (
            select(jobs.c.id)
            .where(
                jobs.c.coalesce_key == bindparam("b_key", type_=String()), _claimable(due_before)
            )
            .order_by(jobs.c.id)
            .limit(limit)
        )
        if self.postgres:
            candidates = candidates.with_for_update(skip_locked=True)
            company = company.with_for_update(skip_locked=True)
        self._claim = _leasing(candidates)
        self._claim_coalesced = _leasing(company)
        self._keys_with_claimable = (
            select(jobs.c.coalesce_key, func.min(jobs.c.due_at))
            .where(
                jobs.c.coalesce_key.in_(bindparam("b_keys", expanding=True)),
                _claimable(due_before),
            )
            .group_by(jobs.c.coalesce_key)
        )
        self._held = select(jobs.c.id).where(_HELD)
        self._keys_waiting = (
            select(jobs.c.coalesce_key)
            .where(
                jobs.c.coalesce_key.in_(bindparam("b_keys", expanding=True)),
                jobs.c.state.in_(("pending", "running")),
            )
            .distinct()
        )
        self._on_their_way = _on_their_way(self.postgres)
        self._finish = (
            update(jobs)
            .where(_HELD)
            .values(
                state="done",
                outcome=bindparam("b_outcome", type_=String()),
                finished_at=_NOW,
                updated_at=_NOW,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        self._dead_letter = (
            update(jobs)
            .where(_HELD)
            .values(
                state="dead",
                last_error=bindparam("b_error", type_=String()),
                outcome="dead",
                finished_at=_NOW,
                updated_at=_NOW,
                attempts=jobs.c.attempts + 1,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        self._renew = (
            update(jobs)
            .where(_HELD)
            .values(lease_expires_at=bindparam("b_expires", type_=UTCDateTime()))
        )
        self._enqueue = self._insert().on_conflict_do_nothing(index_elements=["idempotency_key"])
        if self.postgres:
            # asyncpg runs many rows as one executemany and reports no row count (-1): the ids
            # of the rows inserted are the count. SQLite's executemany adds up each row's count.
            self._enqueue = self._enqueue.returning(jobs.c.id)
        due = select(func.min(jobs.c.due_at)).where(jobs.c.state == "pending")
        lease = select(func.min(jobs.c.lease_expires_at)).where(jobs.c.state == "running")
        self._next_wakeup = select(due.scalar_subquery(), lease.scalar_subquery())

    def _insert(self) -> Any:
        return (postgresql.insert if self.postgres else sqlite.insert)(jobs)

    async def enqueue(self, conn: AsyncConnection, new: Sequence[NewJob], now: datetime) -> int:
        """Add jobs; one whose idempotency key exists already is left as it is. Returns how many
        were added."""
        if not new:
            return 0
        return await conn.run_sync(self.enqueue_in, new, now)

    def enqueue_in(self, conn: Connection, new: Sequence[NewJob], now: datetime) -> int:
        """``enqueue`` within a unit of work (see ``Connections.unit``)."""
        if not new:
            return 0
        if not self.postgres:
            return _ENQUEUE_ON_SQLITE.run(conn, _job_rows(new, now))
        return len(conn.execute(self._enqueue, _job_rows(new, now)).all())

    def claim(
        self, conn: Connection, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Job]:
        """Lease up to ``limit`` claimable jobs to ``owner``, earliest due first."""
        return self._lease(conn, self._claim, owner, now, lease, {"b_limit": limit})

    def keys_with_claimable(
        self, conn: Connection, due_before: Mapping[str, datetime], now: datetime
    ) -> list[str]:
        """Which of these coalesce keys have a job that ``claim_coalesced`` would take."""
        rows = conn.execute(
            self._keys_with_claimable,
            {"b_keys": in_list(due_before), "b_due_before": max(due_before.values()), "b_now": now},
        )
        return [key for key, due in rows if due is None or due <= due_before[key]]

    def keys_waiting(self, conn: Connection, keys: Iterable[str]) -> set[str]:
        """Which of these coalesce keys have a job not done yet (pending or running)."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = conn.execute(self._keys_waiting, {"b_keys": in_list(wanted)})
        return {key for (key,) in rows}

    def claim_coalesced(
        self,
        conn: Connection,
        coalesce_key: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        due_before: datetime,
        limit: int = 1000,
    ) -> list[Job]:
        """Lease the other jobs that may go out in the same message as one being run."""
        more = {"b_key": coalesce_key, "b_due_before": due_before, "b_limit": limit}
        return self._lease(conn, self._claim_coalesced, owner, now, lease, more)

    def _lease(
        self,
        conn: Connection,
        statement: Any,
        owner: str,
        now: datetime,
        lease: timedelta,
        more: dict[str, Any],
    ) -> list[Job]:
        result = conn.execute(
            statement, {"b_owner": owner, "b_now": now, "b_expires": now + lease, **more}
        )
        return sorted((_job(row) for row in result), key=lambda j: (j.due_at, j.id))

    def renew(
        self, conn: Connection, ids: Sequence[int], owner: str, now: datetime, lease: timedelta
    ) -> int:
        """Extend the leases ``owner`` still holds on these jobs to a whole ``lease`` from now;
        returns how many it held."""
        result = conn.execute(
            self._renew, {"b_ids": in_list(ids), "b_owner": owner, "b_expires": now + lease}
        )
        return int(result.rowcount or 0)

    def held(self, conn: Connection, ids: Sequence[int], owner: str) -> set[int]:
        """Which of these jobs ``owner`` still holds the lease of."""
        rows = conn.execute(self._held, {"b_ids": in_list(ids), "b_owner": owner})
        return {row[0] for row in rows}

    async def on_their_way(self, conn: AsyncConnection, group_keys: Sequence[str]) -> list[Job]:
        """The notices (``notify`` and ``digest`` jobs) not delivered yet, pending or running,
        about alerts of these groups: read off their own index, however many timers and
        finished jobs the table holds."""
        rows = await conn.execute(self._on_their_way, {"b_groups": in_list(group_keys)})
        return [_job(row) for row in rows]

    def on_their_way_in(self, conn: Connection, group_keys: Sequence[str]) -> list[Job]:
        """``on_their_way`` within a unit of work (the job runner's turn)."""
        return [
            _job(row) for row in conn.execute(self._on_their_way, {"b_groups": in_list(group_keys)})
        ]

    def finish(
        self, conn: Connection, ids: Sequence[int], owner: str, now: datetime, outcome: str
    ) -> int:
        """Mark leased jobs done; returns how many this owner still held."""
        result = conn.execute(
            self._finish,
            {"b_ids": in_list(ids), "b_owner": owner, "b_now": now, "b_outcome": outcome},
        )
        return int(result.rowcount or 0)

    def reschedule(
        self,
        conn: Connection,
        ids: Sequence[int],
        owner: str,
        now: datetime,
        due_at: datetime,
        *,
        error: str | None,
        count_attempt: bool,
        kind: str | None = None,
        coalesce_key: str | None = None,
        in_doubt: bool = False,
    ) -> int:
        """Hand leased jobs back to run again at ``due_at`` (optionally as another kind);
        ``in_doubt``: the run began its side effect and does not know what came of it."""
        shape = (error is not None, count_attempt, kind is not None, in_doubt)
        statement = self._reschedule.get(shape)
        if statement is None:
            statement = self._reschedule[shape] = _rescheduling(*shape)
        params: dict[str, Any] = {
            "b_ids": in_list(ids),
            "b_owner": owner,
            "b_now": now,
            "b_due": due_at,
        }
        if error is not None:
            params["b_error"] = error[:2000]
        if kind is not None:
            params["b_kind"] = kind
            params["b_coalesce_key"] = coalesce_key
        return int(conn.execute(statement, params).rowcount or 0)

    def dead_letter(
        self, conn: Connection, ids: Sequence[int], owner: str, now: datetime, error: str
    ) -> int:
        result = conn.execute(
            self._dead_letter,
            {"b_ids": in_list(ids), "b_owner": owner, "b_now": now, "b_error": error[:2000]},
        )
        return int(result.rowcount or 0)

    def release(
        self, conn: Connection, owner: str, now: datetime, in_doubt: Sequence[int] = ()
    ) -> int:
        """Hand back every lease ``owner`` holds (a clean shutdown), due at once; the jobs
        ``in_doubt`` were cut off with their side effect begun (``Job.in_doubt``)."""
        if in_doubt:
            conn.execute(
                update(jobs).where(_HELD).values(outcome=IN_DOUBT),
                {"b_ids": in_list(in_doubt), "b_owner": owner},
            )
        result = conn.execute(
            update(jobs)
            .where(jobs.c.lease_owner == owner, jobs.c.state == "running")
            .values(state="pending", lease_owner=None, lease_expires_at=None, updated_at=now)
        )
        return int(result.rowcount or 0)

    async def leases_held(self, conn: AsyncConnection, owner: str) -> int:
        """How many running jobs ``owner`` holds the lease of."""
        held = await conn.execute(
            select(func.count()).where(jobs.c.lease_owner == owner, jobs.c.state == "running")
        )
        return int(held.scalar() or 0)

    async def earlier_pending(
        self, conn: AsyncConnection, coalesce_key: str, before_id: int
    ) -> datetime | None:
        """When the earliest job still pending under ``coalesce_key`` that was made before job
        ``before_id`` falls due (None: there is none): what goes out in order waits for it."""
        due = await conn.execute(
            select(func.min(jobs.c.due_at)).where(
                jobs.c.coalesce_key == coalesce_key,
                jobs.c.state == "pending",
                jobs.c.id < before_id,
            )
        )
        found = due.scalar()
        return found if isinstance(found, datetime) else None

    def next_wakeup(self, conn: Connection) -> datetime | None:
        """When the next job becomes claimable: the earliest due or the earliest lease end
        (one statement; each minimum is read off its own index)."""
        row = conn.execute(self._next_wakeup).one()
        found = [t for t in row if t is not None]
        return min(found) if found else None

    async def retry_dead(self, conn: AsyncConnection, job_id: int, now: datetime) -> Job | None:
        """Put a dead-lettered job back in the queue with a fresh attempt budget. Its last
        attempt may have had its side effect though it ended in a failure (an answer lost):
        with the attempts that said so gone, it is marked in doubt (``Job.in_doubt``)."""
        result = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == "dead")
            .values(
                state="pending",
                attempts=0,
                due_at=now,
                updated_at=now,
                finished_at=None,
                outcome=IN_DOUBT,
            )
            .returning(*jobs.c)
        )
        row = result.first()
        return _job(row) if row is not None else None

    async def get(self, conn: AsyncConnection, job_id: int) -> Job | None:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return _job(row) if row is not None else None

    async def list_jobs(
        self,
        conn: AsyncConnection,
        state: str | None,
        kind: str | None,
        limit: int,
        before_id: int | None,
    ) -> list[Job]:
        stmt = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(jobs.c.state == state)
        if kind is not None:
            stmt = stmt.where(jobs.c.kind == kind)
        if before_id is not None:
            stmt = stmt.where(jobs.c.id < before_id)
        return [_job(row) for row in await conn.execute(stmt)]

    async def stats(self, conn: AsyncConnection) -> dict[str, Any]:
        """Queue depth by kind and state (done left out), and the oldest due pending job."""
        rows = await conn.execute(
            select(jobs.c.kind, jobs.c.state, func.count())
            .where(jobs.c.state != "done")
            .group_by(jobs.c.kind, jobs.c.state)
        )
        oldest = (
            await conn.execute(select(func.min(jobs.c.due_at)).where(jobs.c.state == "pending"))
        ).scalar()
        return {"counts": [(r[0], r[1], r[2]) for r in rows], "oldest_due_at": oldest}
