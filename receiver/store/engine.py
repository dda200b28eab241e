"""Engine construction (SQLite pragmas, PostgreSQL pool) and schema migrations."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from receiver.config import DatabaseConfig

log = logging.getLogger("firebreak.store")

# A fixed key for pg_advisory_lock so that replicas starting together migrate one at a time.
_MIGRATION_LOCK_KEY = 0x6669726562726B  # "firebrk"
# How often a migrator waiting for that lock tries it again: migrations take seconds, and a
# replica starting a fraction of a second after the one migrating is no loss.
_MIGRATION_LOCK_RETRY = 0.2

# SQLite connections: writers take turns behind the store's write lock, so more connections
# only add readers (a flood at 800 webhooks/s kept at most four open). Each keeps a page cache
# of its own that fills up to its size as the database grows, so the connections times the
# cache size is what the process may hold. (64 MiB each grew a soak's memory with the
# database, past 350 MiB in four minutes.) The writer thread's connection (store/writer.py)
# keeps 4 MiB. A reader's cache is thrown away whenever a read begins after another commit
# (WAL), which under load is every read: what it holds is one read's pages, and a scan (the
# counts /metrics reports) filled it to 4 MiB, handed back at the next read and kept by the
# allocator, a soak's memory rising with each. 1 MiB a reader: 4 + 4 readers and the writer,
# at most 12 MiB in all.
SQLITE_POOL_SIZE = 4
SQLITE_MAX_OVERFLOW = 4
SQLITE_CACHE_KIB = 4096
SQLITE_READER_CACHE_KIB = 1024
# WAL pages after which a commit checkpoints them into the database (SQLite's default 1,000,
# about 4 MB). The checkpoint runs inside the commit that crosses the mark, on the writer's
# thread: with 100-alert webhooks that was every second or third group commit, each copying
# the B-trees' hot pages (the indexes' inner pages, the tables' last ones) into the database
# again and fsyncing it. At 10,000 pages (about 40 MB of WAL on disk, reused once
# checkpointed) the same pages are copied once per ten times as many commits: 1.2 to 1.3 times the
# webhooks/s at 100 alerts a webhook, nothing told apart at one (bench/LABLOG.md, 7 Dec).
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000

_T = TypeVar("_T")


def in_list(values: Iterable[_T]) -> list[_T]:
    """Values for an expanding IN list (``bindparam(..., expanding=True)``), the last one
    repeated up to a power of two in number; a repeated value in IN changes no result.

    Each number of values is a statement of its own, which each connection keeps prepared
    (SQLite's writer up to 512 statements, each reader 128, asyncpg 100): one for every list
    length seen held 15 MiB after three minutes of a soak on SQLite, more the longer the lists
    got. Powers of two leave a few sizes (ten up to 512), at the cost of at most as many
    values again in the list."""
    padded = list(values)
    if padded:
        padded += padded[-1:] * ((1 << (len(padded) - 1).bit_length()) - len(padded))
    return padded


def binary_chunks(items: Sequence[_T], largest: int) -> Iterable[Sequence[_T]]:
    """``items`` in chunks whose sizes are powers of two up to ``largest`` (one), largest
    first: the chunk sizes of any batch are then among log2(largest) + 1 values."""
    start, size = 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        yield items[start : start + size]
        start += size


# Rows one multi-row INSERT carries on SQLite (a power of two): see ``insert_rows``.
SQLITE_ROWS_PER_INSERT = 64


def insert_rows(
    conn: Connection,
    head: str,
    rows: Sequence[Sequence[Any]],
    *,
    tail: str = "",
    largest: int = SQLITE_ROWS_PER_INSERT,
) -> int:
    """``{head} VALUES (?, ...), (?, ...) {tail}`` for ``rows`` (tuples of one width) on
    SQLite's driver, in a few multi-row statements; how many rows they inserted.

    The driver runs an executemany as one step of SQLite's per row, handing the interpreter
    lock to the event loop's thread and waiting to get it back around each (under load an
    ingest commit took about twice its thread's CPU time); a multi-row INSERT is one step.
    Chunk sizes are powers of two (``binary_chunks``), so the statements the writer keeps
    prepared stay few whatever the batch sizes."""
    inserted = 0
    if not rows:
        return inserted
    width = len(rows[0])
    for chunk in binary_chunks(rows, largest):
        sql = _insert_sql(head, tail, width, len(chunk))
        params = tuple(value for row in chunk for value in row)
        inserted += conn.exec_driver_sql(sql, params).rowcount
    return inserted


@functools.lru_cache(maxsize=256)
def _insert_sql(head: str, tail: str, width: int, count: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([row] * count)}{tail}"


def json_loads(text: str | bytes) -> Any:
    """Read a stored JSON column: with orjson, several times faster than the standard library
    on every label set and payload read, and as the standard library reads it: what orjson
    refuses (NaN, a lone surrogate) or reads otherwise (an integer past 64 bits becomes a
    float) is read again by the standard library, which may have written it."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return value if _exact(value) else json.loads(text)


# orjson reads an integer literal from 2**64 up, or below -2**63, as a float (which rounds to
# at least 2**64, at most -2**63): no float strictly between them is suspect.
_U64 = 2.0**64
_I64 = 2.0**63


def _exact(value: Any) -> bool:
    """Whether orjson's reading holds no float that may have been an integer past 64 bits."""
    kind = type(value)
    if kind is dict or kind is list:
        for item in value.values() if kind is dict else value:
            if type(item) is not str and not _exact(item):  # labels: strings only, no call
                return False
        return True
    if kind is float:
        return bool(-_I64 < value < _U64)
    return True


def create_engine_for(database: DatabaseConfig) -> AsyncEngine:
    """An async engine for ``database.url``; SQLite gets WAL and the configured durability."""
    url = database.url
    if url.startswith("sqlite"):
        # Readers (API, job handlers) each hold a connection; writers queue in the store.
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            json_deserializer=json_loads,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_OVERFLOW,
        )
        synchronous = database.sqlite_synchronous.upper()

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            sqlite_pragmas(dbapi_conn, synchronous)

        return engine
    return create_async_engine(
        url,
        pool_size=database.pool_size,
        max_overflow=database.pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        json_deserializer=json_loads,
        # Fail over to a 503 quickly rather than hold Alertmanager's request open.
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def sqlite_pragmas(dbapi_conn: Any, synchronous: str) -> None:
    """Set up a new SQLite reader's connection."""
    _sqlite_pragmas(dbapi_conn, synchronous, SQLITE_READER_CACHE_KIB)


def sqlite_writer_pragmas(dbapi_conn: Any, synchronous: str) -> None:
    """Set up SQLite's writer connection (store/writer.py)."""
    _sqlite_pragmas(dbapi_conn, synchronous, SQLITE_CACHE_KIB)


def _sqlite_pragmas(dbapi_conn: Any, synchronous: str, cache_kib: int) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; synchronous=FULL makes a commit survive
    # power loss, which is what "answer 200 only after the alert is stored" promises.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A bounded page cache per connection (negative: KiB), see SQLITE_READER_CACHE_KIB.
    cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
    cursor.close()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest alembic revision (idempotent). On PostgreSQL one process
    migrates at a time, under an advisory lock held by the session (not a transaction): each
    migration commits with its revision, and one that must run outside a transaction (CREATE
    INDEX CONCURRENTLY) may, while the lock still keeps the others waiting."""
    async with engine.connect() as conn:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            await _take_migration_lock(conn)
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        except BaseException:
            # Roll back first, or the unlock below fails too and hides why the upgrade did.
            await conn.rollback()
            raise
        finally:
            if postgresql:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                )
                await conn.commit()


async def _take_migration_lock(conn: AsyncConnection) -> None:
    """Wait for the migration lock by trying it, outside any transaction between tries. A
    migrator blocked in pg_advisory_lock holds a snapshot all the while, and CREATE INDEX
    CONCURRENTLY in the migrator holding the lock waits for every older snapshot to go: the
    two would wait for each other until PostgreSQL cancelled one as a deadlock."""
    waited = False
    while True:
        taken = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        ).scalar()
        await conn.commit()  # the session keeps the lock; the transaction must not stay open
        if taken:
            return
        if not waited:
            log.info("Waiting for another process to finish migrating the database")
            waited = True
        await asyncio.sleep(_MIGRATION_LOCK_RETRY)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The alembic revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "receiver.store:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
