"""The statements a connection keeps prepared stay few, however many rows a batch brings or
ids a read names: each distinct SQL text is a statement of its own, held prepared as long as
the connection lives (a multi-row INSERT of the alerts, 1.7 KiB a row), and one for every batch
size and list length seen grew a soak's memory by tens of MiB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.alertmanager import parse_webhook
from receiver.model import EventKind
from receiver.store import Store
from receiver.store.drills import DrillSQL
from receiver.store.ingest import ReceivedWebhook
from receiver.store.listing import AlertOverview
from tests.payloads import alert, webhook

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

_K = TypeVar("_K", int, str)


def received(name: str) -> ReceivedWebhook:
    return ReceivedWebhook(parse_webhook(webhook(alert(name))), f"req-{name}", NOW)


def recording(engine: Any) -> set[str]:
    texts: set[str] = set()

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        texts.add(statement)

    event.listen(engine, "before_cursor_execute", record)
    return texts


async def distinct_reads(
    store: Store,
    read: Callable[[AsyncConnection, list[_K]], Awaitable[Iterable[_K]]],
    keys: list[_K],
) -> int:
    """The distinct statements ``read`` runs over the first 1, 2, 3... of ``keys`` (sorted),
    each read finding exactly the keys it names."""
    texts = recording(store.engine.sync_engine)
    for length in range(1, len(keys) + 1):
        async with store.connection() as conn:
            assert sorted(await read(conn, keys[:length])) == keys[:length]
    return len(texts)


async def test_batches_of_every_size_share_a_few_insert_statements(store: Store) -> None:
    if store.writer is None:
        pytest.skip("SQLite's writer only; PostgreSQL inserts a batch in one statement")
    await store.ingest([received("first")], NOW)  # the writer's engine exists from here
    assert store.writer.engine is not None
    texts = recording(store.writer.engine)
    for size in range(1, 34):
        outcome = await store.ingest([received(f"A{size}-{i}") for i in range(size)], NOW)
        assert len(outcome.new_alert_ids) == size
    inserts = {text for text in texts if text.startswith("INSERT INTO alerts ")}
    assert len(inserts) == 6  # of 1, 2, 4, 8, 16 and 32 rows


async def test_reads_by_id_of_every_length_share_a_few_statements(store: Store) -> None:
    outcome = await store.ingest([received(f"A{i}") for i in range(20)], NOW)
    ids = sorted(outcome.new_alert_ids)
    assert await distinct_reads(store, store.alert_states, ids) == 6  # IN lists of 1, 2, 4...32


async def test_resent_alerts_of_every_count_share_a_few_statements(store: Store) -> None:
    """Alertmanager sends a firing group again and again: the occurrences already stored are
    looked up and their last_seen_at moved through a few statements, whatever their number."""
    await store.ingest([received(f"A{i}") for i in range(20)], NOW)
    writes = store.writer.engine if store.writer is not None else store.engine.sync_engine
    texts = recording(writes)
    for count in range(1, 21):
        outcome = await store.ingest([received(f"A{i}") for i in range(count)], NOW)
        assert (outcome.seen, outcome.new_alert_ids) == (count, ())
    moved = {text for text in texts if text.startswith("UPDATE alerts SET last_seen_at")}
    assert len(moved) == 6  # of 1, 2, 4, 8, 16 and 32 ids
    if store.writer is not None:  # PostgreSQL looks them up with one array parameter
        looked_up = {text for text in texts if "WHERE fingerprint IN" in text}
        assert len(looked_up) == 6


async def test_drills_looked_up_by_id_of_every_count_share_a_few_statements(store: Store) -> None:
    sql = DrillSQL()
    ids = [f"drill-{i:02}" for i in range(20)]
    async with store.transaction() as conn:
        for drill_id in ids:
            await sql.register(conn, drill_id, "restart", False, "api:alice", {}, NOW)
    assert await distinct_reads(store, sql.get, ids) == 6  # IN lists of 1, 2, 4, 8, 16 and 32


async def test_the_listing_overview_of_every_length_shares_a_few_statements(store: Store) -> None:
    outcome = await store.ingest([received(f"A{i}") for i in range(20)], NOW)
    ids = sorted(outcome.new_alert_ids)
    sent = [
        {
            "alert_id": alert_id,
            "channel": "pager",
            "target": "oncall",
            "kind": "firing",
            "tier": tier,
            "idempotency_key": f"notify:{alert_id}:{tier}",
            "sent_at": NOW,
        }
        for alert_id in ids[:10]
        for tier in (0, 1)
    ]
    silenced = [{"alert_id": ids[0], "kind": EventKind.SILENCED, "at": NOW, "actor": "slack:alice"}]
    await store.unit(lambda conn: store.record_in(conn, silenced, sent))
    texts = recording(store.engine.sync_engine)
    for length in range(1, 21):
        overview = await store.escalation_overview(ids[:length])
        assert sorted(overview) == ids[:length]
    assert overview[ids[0]] == AlertOverview(tier=1, silenced=True)
    assert overview[ids[9]] == AlertOverview(tier=1, silenced=False)
    assert overview[ids[10]] == AlertOverview()
    assert len(texts) == 12  # the tiers and the silences, each for 1, 2, 4, 8, 16 and 32 ids
