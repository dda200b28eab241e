"""The group commit under load: the next commit waits (``commit_delay`` at most) for the
webhooks of everyone who sent during the last one, so that one commit serves them all; after
a commit of many alerts it waits only for as many as that one carried. Read from what
``/metrics`` shows of every commit's size. ``commit_delay`` is set long here, so a wait that
company did not end shows as a test that runs out of time rather than one that passes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

import receiver.ingest
from receiver.alertmanager import parse_webhook
from receiver.ingest import Ingestor
from receiver.metrics import Metrics
from receiver.store import Store
from tests.payloads import alert, webhook

NEVER = 600.0
GUARD = 30.0


def now() -> datetime:
    return datetime.now(UTC)


class Commits:
    """The ingest's commits as ``/metrics`` counts them (firebreak_ingest_batch_webhooks)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._count = 0.0
        self._sum = 0.0

    def carried(self) -> tuple[int, int]:
        """Commits since the last call, and the webhooks they carried in all."""
        count = self._registry.get_sample_value("firebreak_ingest_batch_webhooks_count") or 0.0
        total = self._registry.get_sample_value("firebreak_ingest_batch_webhooks_sum") or 0.0
        found = (int(count - self._count), int(total - self._sum))
        self._count, self._sum = count, total
        return found


@pytest.fixture
def commits(registry: CollectorRegistry) -> Commits:
    return Commits(registry)


@pytest.fixture
async def make(
    store: Store, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Ingestor]]:
    """``make(commit_delay=NEVER)``: a started ingest on ``store``, stopped after the test."""
    # Under load for as long as the test takes, however slow the machine.
    monkeypatch.setattr(receiver.ingest, "_LOAD_MEMORY", NEVER)
    started: list[Ingestor] = []

    def make(commit_delay: float = NEVER) -> Ingestor:
        ingestor = Ingestor(
            store, Metrics(registry), now, commit_delay=commit_delay, commit_siblings=3
        )
        ingestor.start()
        started.append(ingestor)
        return ingestor

    yield make
    for ingestor in started:
        await ingestor.stop()


@asynccontextmanager
async def commits_held(store: Store) -> AsyncIterator[None]:
    """No ingest commit can finish until the block ends (the webhooks' batch waits)."""
    async with store.transaction() as conn:
        if store.dialect == "postgresql":
            await conn.exec_driver_sql("LOCK TABLE alerts IN EXCLUSIVE MODE")
        yield


def submit(ingestor: Ingestor, *names: str) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(ingestor.submit(parse_webhook(webhook(alert(n))), f"req-{n}"))
        for n in names
    ]


async def settle(rounds: int = 20) -> None:
    """Let the loop run what is ready (no timer is waited on)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def under_load(
    store: Store, ingestor: Ingestor, commits: Commits, *, remembered: bool = True
) -> list[asyncio.Task[None]]:
    """Four webhooks committed together while two more came in: the two, still waiting while
    the load is ``remembered`` (else they may be committed already)."""
    async with commits_held(store):
        first = submit(ingestor, "A", "B", "C", "D")  # taken together, then held
        await settle()
        meanwhile = submit(ingestor, "E", "F")
        await settle()
    await asyncio.wait_for(asyncio.gather(*first), GUARD)
    if remembered:
        await settle()
        assert commits.carried() == (1, 4)
    return meanwhile


async def test_the_next_commit_waits_for_everyone_who_sent_during_the_last(
    store: Store, make: Callable[..., Ingestor], commits: Commits
) -> None:
    ingestor = make()
    waiting = await under_load(store, ingestor, commits)
    waiting += submit(ingestor, "G", "H", "I")
    await settle()
    assert not any(task.done() for task in waiting)  # five of the six
    assert commits.carried() == (0, 0)
    waiting += submit(ingestor, "J")
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
    assert commits.carried() == (1, 6)


async def test_after_a_commit_of_many_alerts_the_next_waits_for_as_many_webhooks(
    store: Store,
    make: Callable[..., Ingestor],
    commits: Commits,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four one-alert webhooks count as many alerts here: the next commit waits for four, not
    for the six who sent; and when nobody sent during a commit, the next goes at once."""
    monkeypatch.setattr(receiver.ingest, "_OVERLAP_ALERTS", 4)
    ingestor = make()
    waiting = await under_load(store, ingestor, commits)
    assert not any(task.done() for task in waiting)
    waiting += submit(ingestor, "G", "H")
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
    await settle()
    assert commits.carried() == (1, 4)
    await asyncio.wait_for(asyncio.gather(*submit(ingestor, "K")), GUARD)
    assert commits.carried() == (1, 1)


async def test_company_that_does_not_come_is_waited_for_commit_delay_at_most(
    store: Store, make: Callable[..., Ingestor], commits: Commits
) -> None:
    # Long enough that no stall of a busy machine ends it before under_load has looked.
    ingestor = make(commit_delay=0.5)
    waiting = await under_load(store, ingestor, commits)
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
    assert commits.carried() == (1, 2)


async def test_stopping_commits_the_webhooks_waiting_for_company(
    store: Store, make: Callable[..., Ingestor], commits: Commits
) -> None:
    ingestor = make()
    waiting = await under_load(store, ingestor, commits)
    await asyncio.wait_for(ingestor.stop(), GUARD)
    assert all(task.done() and task.exception() is None for task in waiting)
    assert commits.carried() == (1, 2)


async def test_once_the_load_is_forgotten_webhooks_are_committed_at_once(
    store: Store,
    make: Callable[..., Ingestor],
    commits: Commits,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An idle receiver commits a lone webhook at once, whatever the last commit carried."""
    monkeypatch.setattr(receiver.ingest, "_LOAD_MEMORY", 0.0)
    ingestor = make()
    waiting = await under_load(store, ingestor, commits, remembered=False)
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)  # the wait would be 600 s
    assert commits.carried() == (2, 6)
