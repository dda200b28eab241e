"""Migration 0019 on PostgreSQL: the index on notifications.reference is built concurrently, so
writes to a busy notifications table go on meanwhile; an index an interrupted build left
INVALID is dropped and built again on the next upgrade; migrators starting together still
take turns. Each test on a PostgreSQL database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from receiver.config import DatabaseConfig
from receiver.store import create_engine_for, migrate
from receiver.store.engine import current_revision
from receiver.store.tables import alerts, notifications
from tests.conftest import eventually, new_pg_database

pytestmark = pytest.mark.postgres

INDEX = "ix_notifications_reference"
BEFORE = "0018"  # the revision before the index
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with new_pg_database() as url:
        yield url


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    found = create_engine_for(DatabaseConfig(url=pg_url))
    yield found
    await found.dispose()


async def _at_the_revision_before(engine: AsyncEngine, rows: int = 50) -> int:
    """The schema as 0018 left it (the newest, without the index), with ``rows``
    notifications of one alert; returns the alert's id."""
    await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX {INDEX}"))
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": BEFORE})
        alert_id = await _alert(conn)
        for n in range(rows):
            await _notification(conn, alert_id, f"firebreak/2026-12-07T05:00:00Z/{n:016x}")
    return alert_id


async def _alert(conn: AsyncConnection) -> int:
    row = await conn.execute(
        insert(alerts)
        .values(
            fingerprint="0123456789abcdef",
            starts_at=NOW,
            status="firing",
            labels={"alertname": "DiskFull"},
            annotations={},
            first_seen_at=NOW,
            last_seen_at=NOW,
        )
        .returning(alerts.c.id)
    )
    return int(row.scalar_one())


async def _notification(conn: AsyncConnection, alert_id: int, reference: str) -> None:
    await conn.execute(
        insert(notifications).values(
            alert_id=alert_id,
            channel="pd",
            target="",
            kind="firing",
            idempotency_key=f"test/{reference}",
            reference=reference,
            sent_at=NOW,
        )
    )


async def _index(engine: AsyncEngine) -> tuple[bool, bool] | None:
    """(valid, unique) of the index on the reference, None without one."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT indisvalid, indisunique FROM pg_index "
                    "WHERE indexrelid = to_regclass(:name)"
                ),
                {"name": INDEX},
            )
        ).first()
    return None if row is None else (bool(row[0]), bool(row[1]))


async def _building(engine: AsyncEngine) -> bool:
    """Whether an upgrade is waiting, in its CREATE INDEX, for the transactions before it."""
    async with engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query ILIKE 'CREATE INDEX%' AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())


async def test_the_upgrade_builds_a_valid_index_while_writes_go_on(engine: AsyncEngine) -> None:
    alert_id = await _at_the_revision_before(engine)
    # A writer in the middle of a transaction: the build waits for it to end.
    writer = await engine.connect()
    try:
        await _notification(writer, alert_id, "C0LONG:1.0")
        upgrade = asyncio.create_task(migrate(engine))
        await eventually(lambda: _building(engine), what="the build waiting for the writer")
        # Meanwhile another writer is not held up behind the build (a plain CREATE INDEX
        # would hold it until the first writer and the whole build were done).
        async with engine.connect() as other:
            await other.execute(text("SET lock_timeout = '10s'"))
            await _notification(other, alert_id, "C0OTHER:2.0")
            await other.commit()
        assert not upgrade.done()
        await writer.commit()
    finally:
        await writer.close()
    await upgrade
    assert await _index(engine) == (True, False)
    assert await current_revision(engine) != BEFORE


async def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(
    engine: AsyncEngine, pg_url: str
) -> None:
    alert_id = await _at_the_revision_before(engine)
    async with engine.begin() as conn:
        await _notification(conn, alert_id, "firebreak/2026-12-07T05:00:00Z/0000000000000000")
    # A concurrent build that fails halfway leaves its index behind, INVALID: a unique one
    # over a duplicate reference fails that way every time.
    autocommit = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with autocommit.connect() as conn:
            with pytest.raises(Exception, match="could not create unique index"):
                await conn.execute(
                    text(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON notifications (reference)")
                )
    finally:
        await autocommit.dispose()
    assert await _index(engine) == (False, True)

    await migrate(engine)
    assert await _index(engine) == (True, False)  # dropped and built again, as 0019 builds it
    await migrate(engine)  # nothing more to do
    assert await _index(engine) == (True, False)


async def test_an_index_0019_built_before_is_kept(engine: AsyncEngine) -> None:
    """A database the earlier 0019 (a plain CREATE INDEX) already upgraded: stamped back to
    0018 and upgraded again, it keeps the valid index it has."""
    await migrate(engine)
    async with engine.begin() as conn:
        oid = (await conn.execute(text("SELECT to_regclass(:n)::oid"), {"n": INDEX})).scalar()
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": BEFORE})
    await migrate(engine)
    async with engine.connect() as conn:
        again = (await conn.execute(text("SELECT to_regclass(:n)::oid"), {"n": INDEX})).scalar()
    assert again == oid
    assert await _index(engine) == (True, False)


async def test_migrators_starting_together_take_turns(pg_url: str) -> None:
    """Replicas starting at once on an empty database, then on one at 0018 (where one builds
    the index concurrently while the others wait for its lock): each upgrade succeeds."""
    engines = [create_engine_for(DatabaseConfig(url=pg_url)) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(e) for e in engines))
        assert await _index(engines[0]) == (True, False)
        await _at_the_revision_before(engines[0])
        await asyncio.gather(*(migrate(e) for e in engines))
        assert await _index(engines[0]) == (True, False)
        heads = {await current_revision(e) for e in engines}
        assert len(heads) == 1 and BEFORE not in heads
    finally:
        for each in engines:
            await each.dispose()
