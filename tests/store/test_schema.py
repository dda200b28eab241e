"""The migrations build exactly the tables ``store/tables.py`` declares, on both databases,
and SQLite runs with the durability docs/operations.md promises."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from receiver.config import Config
from receiver.store import Store, create_engine_for, migrate
from receiver.store.engine import (
    SQLITE_CACHE_KIB,
    SQLITE_MAX_OVERFLOW,
    SQLITE_POOL_SIZE,
    SQLITE_READER_CACHE_KIB,
)
from receiver.store.tables import metadata


# SQLite cannot reflect an index on an expression (the payload's group_key): it is left out of
# the comparison there; tests/store/test_notices_on_their_way.py sees the migration made it.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:.*expression-based index:sqlalchemy.exc.SAWarning")
async def test_migrations_match_the_declared_tables(config: Config) -> None:
    engine = create_engine_for(config.database)
    try:
        await migrate(engine)
        await migrate(engine)  # a second run is a no-op

        def diff(sync_conn: Any) -> list[Any]:
            return compare_metadata(MigrationContext.configure(sync_conn), metadata)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_sqlite_is_wal_and_synchronous_full(sqlite_url: str, make_config: Any) -> None:
    engine = create_engine_for(make_config(sqlite_url).database)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
    finally:
        await engine.dispose()


async def test_sqlite_synchronous_is_configurable(sqlite_url: str, make_config: Any) -> None:
    config = make_config(sqlite_url, "ingest: {max_batch_alerts: 100}")
    from dataclasses import replace

    database = replace(config.database, sqlite_synchronous="normal")
    engine = create_engine_for(database)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
    finally:
        await engine.dispose()


async def test_sqlite_page_cache_is_bounded_in_all(sqlite_url: str, make_config: Any) -> None:
    """The caches of every connection the pool may open and the writer's stay within 12 MiB
    together, whatever pool_size says (it sizes the PostgreSQL pool)."""
    from dataclasses import replace

    database = replace(make_config(sqlite_url).database, pool_size=50)
    engine = create_engine_for(database)
    await migrate(engine)
    store = Store(engine)
    try:
        async with engine.connect() as conn:
            reader = (await conn.execute(text("PRAGMA cache_size"))).scalar()
        writer = await store.unit(lambda conn: conn.exec_driver_sql("PRAGMA cache_size").scalar())
        assert (reader, writer) == (-SQLITE_READER_CACHE_KIB, -SQLITE_CACHE_KIB)
        assert engine.pool.size() == SQLITE_POOL_SIZE  # type: ignore[attr-defined]
        readers = SQLITE_POOL_SIZE + SQLITE_MAX_OVERFLOW
        assert readers * SQLITE_READER_CACHE_KIB + SQLITE_CACHE_KIB <= 12 * 1024
    finally:
        await store.close()
