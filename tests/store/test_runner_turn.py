"""The job runner's turn (record what finished, claim what is due) as one unit of work: on
SQLite's writer one hand-off however many jobs a turn records and claims, and on both stores a
process killed in the middle of one loses and doubles nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, event, select

from receiver.alertmanager import parse_webhook
from receiver.config import Config
from receiver.job_handlers import Done, JobContext, Outcome
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.model import NewJob
from receiver.store import Store, create_engine_for, migrate, tables
from receiver.store.ingest import ReceivedWebhook
from tests.clock import ManualClock
from tests.payloads import alert, webhook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def store(sqlite_url: str, make_config: Callable[..., Config]) -> AsyncIterator[Store]:
    store = Store(create_engine_for(make_config(sqlite_url).database))
    yield store
    await store.close()


async def rows(store: Store) -> list[tuple[str, str, str | None]]:
    jobs = tables.jobs.c
    async with store.connection() as conn:
        found = await conn.execute(select(jobs.kind, jobs.state, jobs.outcome).order_by(jobs.id))
        return [(r.kind, r.state, r.outcome) for r in found]


async def test_a_turn_records_and_claims_many_jobs_in_one_hand_off(
    store: Store, start: Callable[..., JobRunner], manual_clock: ManualClock
) -> None:
    """Eight jobs finishing together, their eight follow-ups enqueued and claimed: a handful
    of trips to the writer, each carrying a whole turn's statements."""
    assert store.writer is not None
    now = manual_clock()

    async def work(ctx: JobContext) -> Outcome:
        n = ctx.job.payload["n"]
        return Done("sent", enqueue=[NewJob("follow", {"n": n}, ctx.now, f"follow:{n}")])

    async def follow(ctx: JobContext) -> Outcome:
        return Done("followed")

    async with store.transaction() as conn:
        await store.jobs.enqueue(
            conn, [NewJob("work", {"n": n}, now, f"work:{n}") for n in range(8)], now
        )
    statements = 0

    def counted(conn: Any, *_rest: Any) -> None:
        nonlocal statements
        if conn.engine is store.writer.engine:  # type: ignore[union-attr]
            statements += 1

    event.listen(Engine, "before_cursor_execute", counted)
    try:
        before = store.writer.trips
        start({"work": work, "follow": follow}, workers=8)
        await manual_clock.settle(wake=True)
        trips = store.writer.trips - before
    finally:
        event.remove(Engine, "before_cursor_execute", counted)
    assert (
        await rows(store) == [("work", "done", "sent")] * 8 + [("follow", "done", "followed")] * 8
    )
    # Claim 8; record 8, enqueue and claim their 8 follow-ups; record those: three turns when
    # the eight finish together, a few more when they straggle, never one per job or statement.
    assert 3 <= trips <= 6, trips
    assert statements >= 3 * trips, (statements, trips)


# The child's one job finishes with a follow-up whose payload kills the process as it is turned
# into JSON: it dies inside the turn's unit of work, after the job was marked done, before the
# follow-up and the history row are written and anything is committed.
_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import UTC, datetime, timedelta
    from prometheus_client import CollectorRegistry
    from receiver.config import DatabaseConfig
    from receiver.job_handlers import Done
    from receiver.jobs import JobRunner, RunnerSettings
    from receiver.metrics import Metrics
    from receiver.model import NewJob
    from receiver.store import Store, create_engine_for

    class Killer(dict):
        def items(self):
            os.kill(os.getpid(), signal.SIGKILL)

    def now():
        return datetime.now(UTC)

    async def main(url, alert_id):
        store = Store(create_engine_for(DatabaseConfig(url=url)))

        async def work(ctx):
            return Done(
                "sent",
                enqueue=[NewJob("follow", Killer(n=1), ctx.now, "follow:1")],
                events=[{"alert_id": alert_id, "kind": "escalated", "at": ctx.now, "actor": "t"}],
            )

        settings = RunnerSettings(owner="doomed", lease=timedelta(seconds=30))
        runner = JobRunner(store, {"work": work}, Metrics(CollectorRegistry()), now, settings)
        async with store.transaction() as conn:
            await store.jobs.enqueue(conn, [NewJob("work", {}, now(), "work:1")], now())
        runner.start()
        await asyncio.sleep(60)  # the kill comes long before

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_a_process_killed_mid_turn_loses_and_doubles_nothing(
    db_url: str, make_config: Callable[..., Config]
) -> None:
    store = Store(create_engine_for(make_config(db_url).database))
    await migrate(store.engine)  # PostgreSQL's test database may be older than the schema
    try:
        await _killed_mid_turn(store, db_url)
    finally:
        await store.close()


async def _killed_mid_turn(store: Store, db_url: str) -> None:
    stored = ReceivedWebhook(parse_webhook(webhook(alert("A"))), "r1", datetime.now(UTC))
    (alert_id,) = (await store.ingest([stored], stored.received_at)).new_alert_ids
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, db_url, str(alert_id), cwd=ROOT, stderr=subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == -9, stderr.decode()
    # The turn that would have recorded the job is gone whole: still leased to the dead
    # runner, no follow-up, no history row.
    assert await rows(store) == [("work", "running", None)]

    ran: list[int] = []

    async def work(ctx: JobContext) -> Outcome:
        ran.append(ctx.job.id)
        return Done(
            "sent",
            enqueue=[NewJob("follow", {}, ctx.now, "follow:1")],
            events=[{"alert_id": alert_id, "kind": "escalated", "at": ctx.now, "actor": "t"}],
        )

    async def follow(ctx: JobContext) -> Outcome:
        return Done("followed")

    # Started again after the dead runner's lease has run out: the job is taken over and run
    # again, once.
    later = ManualClock(datetime.now(UTC) + timedelta(minutes=2))
    runner = JobRunner(
        store,
        {"work": work, "follow": follow},
        Metrics(CollectorRegistry()),
        later,
        RunnerSettings(owner="again", poll_interval=timedelta(hours=1)),
    )
    later.watch_runner(store, runner)
    runner.start()
    try:
        await later.settle(wake=True)
    finally:
        await runner.stop()
    assert await rows(store) == [("work", "done", "sent"), ("follow", "done", "followed")]
    assert len(ran) == 1
    async with store.connection() as conn:
        kinds = list(
            (
                await conn.execute(
                    select(tables.alert_events.c.kind).order_by(tables.alert_events.c.id)
                )
            ).scalars()
        )
    assert kinds == ["fired", "escalated"]
