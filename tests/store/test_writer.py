"""Units of work: on SQLite's writer thread one is one hand-off, runs whole or not at all, fails
its caller whatever goes wrong in it and drains at shutdown; on both stores a process killed in
the middle of one loses and doubles nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from receiver.alertmanager import parse_webhook
from receiver.config import Config
from receiver.errors import StoreUnavailable
from receiver.ingest import outbox
from receiver.store import Store, create_engine_for, migrate
from receiver.store.ingest import IngestOutcome, ReceivedWebhook
from receiver.store.tables import alert_events, alerts, jobs, webhooks
from tests.payloads import alert, webhook

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# A guard against a hang, never reached when the writer does its job.
NO_HANG = 10.0
ROOT = Path(__file__).resolve().parents[2]


def received(name: str, request_id: str) -> ReceivedWebhook:
    return ReceivedWebhook(parse_webhook(webhook(alert(name))), request_id, NOW)


def routed(outcome: IngestOutcome, now: datetime) -> list[Any]:
    return outbox(outcome, now, fetch_truncated=False)


@pytest.fixture
async def store(sqlite_url: str, make_config: Callable[..., Config]) -> AsyncIterator[Store]:
    store = Store(create_engine_for(make_config(sqlite_url).database))
    yield store
    await store.close()


async def counts(store: Store) -> dict[str, int]:
    async with store.connection() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (alerts, alert_events, webhooks, jobs)
        }


async def test_an_ingest_commit_is_one_trip_to_the_writer(store: Store) -> None:
    assert store.writer is not None
    before = store.writer.trips
    batch = [received(f"A{n}", f"r{n}") for n in range(3)]
    outcome = await store.ingest(batch, NOW, outbox=routed)
    assert store.writer.trips == before + 1
    assert len(outcome.new_alert_ids) == 3
    # The alerts, their history, the webhooks and the route job that follows, all committed.
    assert await counts(store) == {"alerts": 3, "alert_events": 3, "webhooks": 3, "jobs": 1}


async def test_a_unit_commits_with_the_durability_it_asked_for(store: Store) -> None:
    # SQLite's synchronous level, as the unit runs: 2 is FULL (an fsync at every commit, the
    # store's setting here), 1 NORMAL (what a unit that may skip the fsync gets).
    def level(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    seen = [await store.unit(level, durable=durable) for durable in (True, False, False, True)]
    assert seen == [2, 1, 1, 2]


async def test_commits_leave_the_wal_to_grow_to_ten_thousand_pages_before_a_checkpoint(
    store: Store,
) -> None:
    """About 2,000 pages of alerts (8 MiB), twice SQLite's default checkpoint mark, in group
    commits: the WAL holds every page of them, none yet copied into the database."""
    database = Path(str(store.engine.url.database))
    wal = database.with_name(database.name + "-wal")
    annotations = {"description": "x" * 40_000}
    for n in range(10):
        batch = [
            ReceivedWebhook(
                parse_webhook(webhook(alert(f"Big{n}-{i}", annotations=annotations))),
                f"r{n}-{i}",
                NOW,
            )
            for i in range(20)
        ]
        await store.ingest(batch, NOW)
    pages = wal.stat().st_size // 4096
    assert pages > 1_900
    async with store.connection() as conn:
        # A checkpoint now copies them all: none had been copied by the commits.
        busy, frames, copied = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")).one()
    assert busy == 0
    assert copied == frames > 1_900


@pytest.mark.parametrize(
    ("raised", "caller_gets"),
    [
        (ValueError("a defect in the unit"), ValueError),
        (KeyboardInterrupt(), StoreUnavailable),
        (SystemExit(3), StoreUnavailable),
        (GeneratorExit(), StoreUnavailable),
    ],
    ids=["exception", "keyboard-interrupt", "system-exit", "generator-exit"],
)
async def test_a_unit_that_raises_is_rolled_back_and_fails_its_caller(
    store: Store, raised: BaseException, caller_gets: type[BaseException]
) -> None:
    await store.ingest([received("Before", "r0")], NOW)

    def broken(conn: Connection) -> None:
        store._ingest.execute(conn, store._ingest.prepare([received("Lost", "r1")], NOW))
        raise raised

    with pytest.raises(caller_gets):
        await asyncio.wait_for(store.unit(broken), NO_HANG)
    # Nothing of the broken unit is stored, and the writer goes on with the next one.
    await asyncio.wait_for(store.ingest([received("After", "r2")], NOW), NO_HANG)
    async with store.connection() as conn:
        names = set((await conn.execute(select(alerts.c.alertname))).scalars())
    assert names == {"Before", "After"}


async def test_shutdown_runs_the_units_handed_over_and_refuses_later_ones(store: Store) -> None:
    assert store.writer is not None
    gate = threading.Event()

    def held(conn: Connection) -> None:
        gate.wait(NO_HANG)  # keeps the writer busy while the others queue behind it

    def one(n: int) -> Callable[[Connection], IngestOutcome]:
        prepared = store._ingest.prepare([received(f"A{n}", f"r{n}")], NOW)
        return lambda conn: store._ingest.execute(conn, prepared)

    first = store.writer.run(held)
    queued = [store.writer.run(one(n)) for n in range(20)]
    closing = asyncio.create_task(store.writer.close())
    await asyncio.sleep(0)  # closing has begun: nothing more is taken
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.writer.run(one(99))
    gate.set()
    await asyncio.wait_for(closing, NO_HANG)
    await first
    outcomes = await asyncio.gather(*queued)
    assert all(len(o.new_alert_ids) == 1 for o in outcomes)
    with pytest.raises(StoreUnavailable):
        await store.ingest([received("Late", "r-late")], NOW)
    assert (await counts(store))["alerts"] == 20


async def test_a_caller_that_stops_waiting_does_not_stop_its_unit(store: Store) -> None:
    """A client hanging up mid-commit: its unit still commits, and no other write starts
    before it has."""
    gate = threading.Event()
    prepared = store._ingest.prepare([received("Kept", "r1")], NOW)

    def slow(conn: Connection) -> IngestOutcome:
        gate.wait(NO_HANG)
        return store._ingest.execute(conn, prepared)

    waiting = asyncio.create_task(store.unit(slow))
    await asyncio.sleep(0)
    after = asyncio.create_task(store.ingest([received("Next", "r2")], NOW))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)
    assert not after.done()  # the cancelled unit still holds the writer
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(after, NO_HANG)
    async with store.connection() as conn:
        names = list(
            (await conn.execute(select(alerts.c.alertname).order_by(alerts.c.id))).scalars()
        )
    assert names == ["Kept", "Next"]


# The child commits one webhook, then is SIGKILLed inside the next unit: after the alerts are
# written and before the jobs that follow them are.
_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import datetime, UTC
    from receiver.alertmanager import parse_webhook
    from receiver.config import DatabaseConfig
    from receiver.ingest import outbox
    from receiver.store import Store, create_engine_for
    from receiver.store.ingest import ReceivedWebhook
    from tests.payloads import alert, webhook

    NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def routed(outcome, now):
        return outbox(outcome, now, fetch_truncated=False)

    def killed(outcome, now):
        os.kill(os.getpid(), signal.SIGKILL)

    async def main(url):
        store = Store(create_engine_for(DatabaseConfig(url=url)))
        first = ReceivedWebhook(parse_webhook(webhook(alert("Committed"))), "r1", NOW)
        await store.ingest([first], NOW, outbox=routed)
        second = ReceivedWebhook(parse_webhook(webhook(alert("Killed"))), "r2", NOW)
        await store.ingest([second], NOW, outbox=killed)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_a_process_killed_mid_unit_loses_and_doubles_nothing(
    db_url: str, make_config: Callable[..., Config]
) -> None:
    """On SQLite in the writer's thread, on PostgreSQL on a pooled connection: the same."""
    store = Store(create_engine_for(make_config(db_url).database))
    await migrate(store.engine)  # PostgreSQL's test database may be older than the schema
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, db_url, cwd=ROOT, stderr=subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(child.communicate(), 60)
        assert child.returncode == -9, stderr.decode()
        async with store.connection() as conn:
            names = list((await conn.execute(select(alerts.c.alertname))).scalars())
        # The committed webhook and its route job are there; nothing of the killed unit is.
        assert names == ["Committed"]
        assert await counts(store) == {"alerts": 1, "alert_events": 1, "webhooks": 1, "jobs": 1}
        # Alertmanager, which got no answer, sends the webhook again: stored once, routed once.
        again = ReceivedWebhook(parse_webhook(webhook(alert("Killed"))), "r2", NOW)
        await store.ingest([again], NOW, outbox=routed)
        again_too = ReceivedWebhook(parse_webhook(webhook(alert("Killed"))), "r3", NOW)
        await store.ingest([again_too], NOW, outbox=routed)
        assert (await counts(store))["alerts"] == 2
        assert (await counts(store))["jobs"] == 2
    finally:
        await store.close()
