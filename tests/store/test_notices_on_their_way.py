"""The notices on their way that a later tier's notice waits behind are found by alert group off
an index of their own, not by reading the payload of every pending job (every timer waits in
the same table). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update

from receiver.model import NewJob
from receiver.store import Store
from receiver.store.tables import jobs

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def job(kind: str, key: str, group_key: str, **payload: Any) -> NewJob:
    body = {"group_key": group_key, "channel": "chat", "target": "", **payload}
    return NewJob(kind, body, NOW, key)


async def test_finds_the_groups_notices_not_yet_delivered(store: Store) -> None:
    async with store.transaction() as conn:
        await store.jobs.enqueue(
            conn,
            [
                job("notify", "n1", "g1", notice="firing", tier=0),
                job("digest", "d1", "g1", notice="firing", tier=0),
                job("notify", "n2", "g2", notice="firing", tier=0),
                job("escalate", "e1", "g1", tier=1),  # a timer, not a notice
                job("notify", "sent", "g1", notice="firing", tier=0),
                job("notify", "dead", "g1", notice="firing", tier=0),
                job("notify", "weird", "g1'); DROP TABLE jobs; --", notice="firing", tier=0),
            ],
            NOW,
        )
        for key, state in (("sent", "done"), ("dead", "dead")):
            await conn.execute(
                update(jobs).where(jobs.c.idempotency_key == key).values(state=state)
            )
    async with store.connection() as conn:
        found = await store.jobs.on_their_way(conn, ["g1", "nobody"])
        odd = await store.jobs.on_their_way(conn, ["g1'); DROP TABLE jobs; --"])
        assert (await conn.execute(select(jobs.c.id))).all()  # the table is still there
    assert sorted(j.idempotency_key for j in found) == ["d1", "n1"]
    assert [j.idempotency_key for j in odd] == ["weird"]


async def test_the_lookup_is_read_off_its_index(store: Store) -> None:
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with store.connection() as conn:
            await store.jobs.on_their_way(conn, ["g1", "g2"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    [(statement, parameters)] = statements
    async with store.connection() as conn:
        if store.engine.dialect.name == "sqlite":
            plan = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        else:
            # A handful of rows is read faster whole: say so, to see what the index can serve.
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        text = " ".join(str(row[-1]) for row in plan)
    assert "ix_jobs_notices_on_their_way" in text, text
