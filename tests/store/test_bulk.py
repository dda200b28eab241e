"""SQLite's bulk rows (the job runner's history, notifications and routes) are stored exactly as
SQLAlchemy stores the same rows: the same values, the same time text, the same JSON text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, event, insert
from sqlalchemy.engine import Connection

from receiver.config import Config
from receiver.model import Actor, EventKind
from receiver.store import Store, create_engine_for
from receiver.store.bulk import BulkInsert
from receiver.store.tables import alert_events, alert_routes, notifications, pages
from tests.payloads import alert, webhook
from tests.store.test_reads import received

AT = datetime(2026, 11, 23, 10, 30, tzinfo=timezone(timedelta(hours=2)))  # 08:30 UTC


@pytest.fixture
async def store(sqlite_url: str, make_config: Callable[..., Config]) -> AsyncIterator[Store]:
    store = Store(create_engine_for(make_config(sqlite_url).database))
    yield store
    await store.close()


async def two_alerts(store: Store) -> tuple[int, int]:
    outcome = await store.ingest([received(webhook(alert("A"), alert("B")), "r1")], AT)
    first, second = outcome.new_alert_ids
    return first, second


async def stored_text(store: Store, table: Table) -> list[tuple[Any, ...]]:
    """Every row as SQLite holds it (times and JSON as their text), without the id."""
    async with store.connection() as conn:
        rows = (await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY id")).all()
    return [tuple(row)[1:] for row in rows]


async def insert_both_ways(
    store: Store, table: Table, rows: list[dict[str, Any]], **bulk: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    def by_sqlalchemy(conn: Connection) -> None:
        conn.execute(insert(table), rows)

    def by_bulk(conn: Connection) -> None:
        BulkInsert(table, **bulk).run(conn, rows)

    async def emptied() -> None:
        async with store.engine.begin() as conn:
            await conn.execute(table.delete())

    await emptied()
    await store.unit(by_sqlalchemy)
    expected = await stored_text(store, table)
    await emptied()
    await store.unit(by_bulk)
    return expected, await stored_text(store, table)


async def test_history_rows_as_sqlalchemy_stores_them(store: Store) -> None:
    first, second = await two_alerts(store)
    hostile = "x'); DROP TABLE alerts; --\u202e\U0001f525"
    rows = [
        {"alert_id": first, "kind": EventKind.NOTIFIED, "at": AT, "actor": "tier:0",
         "note": hostile, "request_id": None},
        {"alert_id": second, "kind": EventKind.NOTIFIED, "at": AT.replace(microsecond=5),
         "actor": None, "note": None, "request_id": "req"},
        {"alert_id": second, "kind": "escalated", "at": datetime(2026, 1, 1, tzinfo=UTC),
         "actor": "a", "note": "", "request_id": "req"},
    ]  # fmt: skip
    expected, stored = await insert_both_ways(store, alert_events, rows)
    assert stored == expected
    assert stored[0][1:5] == ("notified", "2026-11-23 08:30:00.000000", "tier:0", hostile)
    assert stored[1][2] == "2026-11-23 08:30:00.000005"


async def test_notification_and_route_rows_as_sqlalchemy_stores_them(store: Store) -> None:
    first, second = await two_alerts(store)
    sent = [
        {"alert_id": first, "channel": "log", "target": "log", "kind": "firing", "tier": 0,
         "idempotency_key": "k1", "reference": None, "sent_at": AT},
        {"alert_id": second, "channel": "slack", "target": "#ops", "kind": "firing",
         "tier": None, "idempotency_key": "k2", "reference": "1700.1", "sent_at": AT},
    ]  # fmt: skip
    expected, stored = await insert_both_ways(store, notifications, sent)
    assert stored == expected
    routes = [
        {"alert_id": first, "route": "default", "escalation_policy": "p", "routed_at": AT},
        {"alert_id": first, "route": "default", "escalation_policy": "other", "routed_at": AT},
    ]
    expected, stored = await insert_both_ways(
        store, alert_routes, routes[:1], on_conflict=("alert_id", "route")
    )
    assert stored == expected

    def again(conn: Connection) -> None:  # a route already recorded is kept as it was
        BulkInsert(alert_routes, on_conflict=("alert_id", "route")).run(conn, routes)

    await store.unit(again)
    assert await stored_text(store, alert_routes) == expected


async def test_json_rows_as_sqlalchemy_stores_them(store: Store) -> None:
    first, _ = await two_alerts(store)
    contacts = {"email": "a@example.com", "n": [1, 2.5, None, "\u00e9"], "x": None}
    row = {"alert_id": first, "person": "alice", "paged_at": AT, "policy": "p", "route": "r",
           "tier": 0, "repeat": 0, "via": "person:alice", "contacts": contacts}  # fmt: skip
    expected, stored = await insert_both_ways(store, pages, [row])
    assert stored == expected
    assert '"\\u00e9"' in stored[0][-1]  # the standard library's escaping, as SQLAlchemy's


async def test_the_runner_turn_records_through_the_bulk_rows(store: Store) -> None:
    first, second = await two_alerts(store)
    events = [{"alert_id": first, "kind": EventKind.NOTIFIED, "at": AT, "actor": "tier:0",
               "note": None, "request_id": None}]  # fmt: skip
    sent = [{"alert_id": second, "channel": "log", "target": "log", "kind": "firing",
             "tier": 0, "idempotency_key": "k", "reference": None, "sent_at": AT}]  # fmt: skip
    routes = [{"alert_id": first, "route": "r", "escalation_policy": "p", "routed_at": AT}]

    def record(conn: Connection) -> None:
        store.record_in(conn, events, sent, routes)

    await store.unit(record)
    await store.unit(record)  # the route again: kept once
    history = await store.alert_events(first)
    assert [(e.kind, e.at, e.actor) for e in history][-2:] == [
        (EventKind.NOTIFIED, AT, "tier:0"),
        (EventKind.NOTIFIED, AT, "tier:0"),
    ]
    assert [(n["channel"], n["sent_at"]) for n in await store.sent_notifications(second)] == [
        ("log", AT),
        ("log", AT),
    ]
    assert len(await stored_text(store, alert_routes)) == 1


async def test_bad_rows_change_nothing(store: Store) -> None:
    first, _ = await two_alerts(store)
    naive = {"alert_id": first, "kind": "fired", "at": datetime(2026, 1, 1), "actor": None,
             "note": None, "request_id": None}  # fmt: skip
    unknown = {"alert_id": first, "kind": "fired", "at": AT, "bogus": 1}
    for rows, error in (([naive], "naive datetime"), ([unknown], "no column bogus")):

        def bad(conn: Connection, rows: list[dict[str, Any]] = rows) -> None:
            BulkInsert(alert_events).run(conn, rows)

        with pytest.raises(ValueError, match=error):
            await store.unit(bad)
    assert [e.kind for e in await store.alert_events(first)] == [EventKind.FIRED]
    await store.acknowledge(first, Actor("a", "api"), None, None, AT)  # the store still writes


async def test_many_rows_go_in_a_few_statements_and_a_conflict_is_not_counted(
    store: Store,
) -> None:
    first, second = await two_alerts(store)
    routes = [
        {"alert_id": (first, second)[i % 2], "route": f"r{i // 2}", "escalation_policy": "p",
         "routed_at": AT + timedelta(seconds=i)}
        for i in range(100)
    ]  # fmt: skip
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> int:
        return BulkInsert(alert_routes, on_conflict=("alert_id", "route")).run(conn, rows)

    assert store.writer is not None and store.writer.engine is not None
    event.listen(store.writer.engine, "before_cursor_execute", count)
    try:
        assert await store.unit(lambda conn: insert_rows(conn, routes[:90])) == 90
        inserts = [s for s in statements if s.startswith("INSERT")]
        assert len(inserts) == 4  # 64 + 16 + 8 + 2 rows: powers of two, each one statement
        statements.clear()
        # Ten new rows among the ninety already stored: ten counted, the others kept as they were.
        later = [{**row, "routed_at": row["routed_at"] + timedelta(hours=1)} for row in routes]
        assert await store.unit(lambda conn: insert_rows(conn, later)) == 10
    finally:
        event.remove(store.writer.engine, "before_cursor_execute", count)
    stored = await stored_text(store, alert_routes)
    assert len({(row[0], row[1]) for row in stored}) == len(stored) == 100
    # The ninety rows stored first kept their time; the ten new ones have the later one.
    assert [row[3] for row in stored] == [
        (AT + timedelta(seconds=i, hours=i >= 90)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        for i in range(100)
    ]
