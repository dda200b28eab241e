"""Background work lets webhooks go first: the job runner's turn waits while the ingest asks,
and is woken by the commit (or the flood's memory running out) that ends the wait, never
by polling. The ingest's waits are set long here, so a wake that did not come shows as a
test that runs out of time rather than as one that passes slowly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

import receiver.ingest
from receiver.alertmanager import parse_webhook
from receiver.ingest import Ingestor
from receiver.job_handlers import Done, JobContext, Outcome
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.model import NewJob
from receiver.store import Store
from tests.payloads import alert, webhook

NEVER = 600.0  # a wait that only a wake-up ends within the test's time
GUARD = 30.0  # how long a test waits for what should follow at once


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def long_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver.ingest, "_BRIEF_GIVE_WAY", NEVER)
    monkeypatch.setattr(receiver.ingest, "_FLOOD_GIVE_WAY", NEVER)


@pytest.fixture
async def ingestor(store: Store, long_waits: None) -> AsyncIterator[Ingestor]:
    ingestor = Ingestor(store, Metrics(CollectorRegistry()), now, commit_siblings=3)
    ingestor.start()
    yield ingestor
    await ingestor.stop()


def submit(ingestor: Ingestor, name: str) -> asyncio.Task[None]:
    notification = parse_webhook(webhook(alert(name)))
    return asyncio.create_task(ingestor.submit(notification, f"req-{name}"))


async def settle(rounds: int = 20) -> None:
    """Let the loop run what is ready (no timer is waited on)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_nothing_waiting_lets_background_work_through_at_once(ingestor: Ingestor) -> None:
    through = asyncio.create_task(ingestor.let_through())
    await settle(2)
    assert through.done()


async def test_a_waiting_webhook_holds_back_until_the_commit_before_it(
    store: Store, ingestor: Ingestor
) -> None:
    """A webhook waiting while another's commit is under way: background work is held back
    briefly, and let through by that commit (after which the waiting one is taken at once),
    not by the brief wait running out (here it never would)."""
    async with store.transaction() as conn:
        # The first webhook's commit cannot finish while this transaction holds the table.
        if store.dialect == "postgresql":
            await conn.exec_driver_sql("LOCK TABLE alerts IN EXCLUSIVE MODE")
        first = submit(ingestor, "A")
        await settle()
        second = submit(ingestor, "B")
        await settle()
        assert ingestor.give_way > 0  # B waits behind A's commit
        through = asyncio.create_task(ingestor.let_through())
        await settle()
        assert not through.done()
    await asyncio.wait_for(asyncio.gather(first, second), GUARD)
    await asyncio.wait_for(through, GUARD)


async def test_a_flood_holds_back_until_its_memory_runs_out(
    ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that carried commit_siblings webhooks or more counts as a flood for a moment
    after it: background work waits that moment out (a timer, not a poll), then goes."""
    monkeypatch.setattr(receiver.ingest, "_LOAD_MEMORY", 0.5)
    flood = [submit(ingestor, f"F{i}") for i in range(5)]
    await asyncio.wait_for(asyncio.gather(*flood), GUARD)
    assert ingestor.give_way == receiver.ingest._FLOOD_GIVE_WAY
    through = asyncio.create_task(ingestor.let_through())
    await settle()
    assert not through.done()
    await asyncio.wait_for(through, GUARD)
    assert ingestor.give_way == 0.0


async def test_stopping_the_ingest_lets_background_work_through(
    store: Store, long_waits: None
) -> None:
    ingestor = Ingestor(store, Metrics(CollectorRegistry()), now, commit_siblings=3)
    ingestor.start()
    flood = [submit(ingestor, f"S{i}") for i in range(5)]
    await asyncio.wait_for(asyncio.gather(*flood), GUARD)
    through = asyncio.create_task(ingestor.let_through())
    await settle()
    assert not through.done()
    await ingestor.stop()
    await asyncio.wait_for(through, GUARD)


async def test_the_runner_claims_nothing_while_webhooks_go_first(store: Store) -> None:
    """The runner's turn (and so its claim) waits on the ingest's word."""
    webhooks_first = asyncio.Event()
    ran: list[int] = []
    worked = asyncio.Event()

    async def work(ctx: JobContext) -> Outcome:
        ran.append(ctx.job.id)
        worked.set()
        return Done("done")

    runner = JobRunner(
        store,
        {"work": work},
        Metrics(CollectorRegistry()),
        now,
        RunnerSettings(owner="t", lease=timedelta(seconds=30)),
        give_way=webhooks_first.wait,
    )
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, [NewJob("work", {}, now(), "work:1")], now())
    runner.start()
    try:
        await settle(50)
        assert ran == []
        webhooks_first.set()
        await asyncio.wait_for(worked.wait(), GUARD)
        assert len(ran) == 1
    finally:
        await runner.stop()
