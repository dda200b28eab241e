"""One group-commit batch holding the same occurrence more than once (an HA pair, a retry):
it is stored once, and a resolved copy wins over a firing one whatever their order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from receiver.alertmanager import parse_webhook
from receiver.store import Store, create_engine_for, migrate
from receiver.store.ingest import ReceivedWebhook
from receiver.store.tables import alert_events, alerts
from tests.payloads import alert, webhook

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def received(payload: dict[str, Any], request_id: str) -> ReceivedWebhook:
    return ReceivedWebhook(parse_webhook(payload), request_id, NOW)


@pytest.mark.parametrize("order", ["firing-first", "resolved-first"])
async def test_resolved_wins_within_a_batch(store: Store, order: str) -> None:
    firing = received(webhook(alert("A", annotations={"v": "1"})), "req-firing")
    resolved = received(
        webhook(
            alert("A", status="resolved", ends_at="2026-11-23T08:30:00Z", annotations={"v": "2"})
        ),
        "req-resolved",
    )
    batch = [firing, resolved] if order == "firing-first" else [resolved, firing]
    outcome = await store.ingest(batch, NOW)
    assert len(outcome.new_alert_ids) == 1
    async with store.engine.connect() as conn:
        (row,) = (await conn.execute(select(alerts))).all()
        events = (await conn.execute(select(alert_events).order_by(alert_events.c.id))).all()
    assert row.status == "resolved"
    assert row.ends_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    # The latest copy's annotations are kept.
    assert row.annotations == ({"v": "2"} if order == "firing-first" else {"v": "1"})
    assert [(e.kind, e.request_id) for e in events] == [
        ("fired", batch[0].request_id),
        ("resolved", "req-resolved"),
    ]


async def test_existing_occurrence_resolved_by_a_batch(store: Store) -> None:
    await store.ingest([received(webhook(alert("A")), "r1")], NOW)
    batch = [
        received(webhook(alert("A", status="resolved")), "r2"),
        received(webhook(alert("A", status="resolved")), "r3"),
        received(webhook(alert("A")), "r4"),
    ]
    outcome = await store.ingest(batch, NOW)
    assert outcome.new_alert_ids == ()
    assert len(outcome.resolved_alert_ids) == 1
    async with store.engine.connect() as conn:
        events = (await conn.execute(select(alert_events).order_by(alert_events.c.id))).all()
    assert [(e.kind, e.request_id) for e in events] == [("fired", "r1"), ("resolved", "r2")]


async def test_a_batch_of_odd_size_is_stored_whole_with_each_alert_its_own_id(
    store: Store,
) -> None:
    """On SQLite a batch goes in several INSERTs (37 rows: 32, 4, 1); every new occurrence
    comes back with its own id, and those already stored are seen, not inserted again."""
    await store.ingest(
        [received(webhook(alert("A7")), "r0"), received(webhook(alert("A30")), "r0")], NOW
    )
    batch = [received(webhook(alert(f"A{i}")), f"req-{i}") for i in range(39)]
    outcome = await store.ingest(batch, NOW)
    assert outcome.seen == 2
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(alerts.c.id, alerts.c.alertname))).all()
        events = (await conn.execute(select(alert_events))).all()
    assert len(rows) == 39
    new = {row.id for row in rows if row.alertname not in ("A7", "A30")}
    assert set(outcome.new_alert_ids) == new and len(new) == 37
    request_of = {e.alert_id: e.request_id for e in events if e.request_id != "r0"}
    assert {row.id: f"req-{row.alertname[1:]}" for row in rows if row.id in new} == request_of


@pytest.mark.postgres
async def test_a_batch_rolled_back_to_break_a_deadlock_is_run_again(
    pg_database: str, make_config: Any
) -> None:
    """PostgreSQL's answer to a deadlock (SQLSTATE 40P01) rolls the batch back; the store runs
    it again instead of failing the webhook. A trigger fails the first try so; it counts tries
    with a sequence, which a rollback does not undo."""
    from tests.conftest import _empty_pg

    await _empty_pg(pg_database)
    engine = create_engine_for(make_config(pg_database).database)
    await migrate(engine)
    setup = [
        "CREATE SEQUENCE chaos_tries",
        """CREATE FUNCTION chaos_deadlock_once() RETURNS trigger AS $$
           BEGIN
             IF nextval('chaos_tries') = 1 THEN
               RAISE EXCEPTION 'deadlock detected (injected)' USING ERRCODE = '40P01';
             END IF;
             RETURN NEW;
           END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER chaos_deadlock BEFORE INSERT ON webhooks "
        "FOR EACH ROW EXECUTE FUNCTION chaos_deadlock_once()",
    ]
    teardown = [
        "DROP TRIGGER IF EXISTS chaos_deadlock ON webhooks",
        "DROP FUNCTION IF EXISTS chaos_deadlock_once()",
        "DROP SEQUENCE IF EXISTS chaos_tries",
    ]
    try:
        async with engine.begin() as conn:
            for sql in setup:
                await conn.exec_driver_sql(sql)
        outcome = await Store(engine).ingest([received(webhook(alert("A")), "r1")], NOW)
        assert len(outcome.new_alert_ids) == 1
        async with engine.connect() as conn:
            stored = (await conn.execute(select(alerts.c.id))).all()
            tries = (await conn.exec_driver_sql("SELECT last_value FROM chaos_tries")).scalar()
        assert len(stored) == 1
        assert tries == 2
    finally:
        async with engine.begin() as conn:
            for sql in teardown:
                await conn.exec_driver_sql(sql)
        await engine.dispose()
