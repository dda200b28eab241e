"""Connections to the database: reads, transactions that commit on a clean exit, units of work
run whole in one hand-off, SQLite's one writer at a time and its durability per transaction,
and database trouble turned into ``StoreUnavailable``. ``Store`` adds the queries."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from receiver.errors import StoreUnavailable
from receiver.store.engine import sqlite_writer_pragmas
from receiver.store.writer import SQLiteWriter

_T = TypeVar("_T")


class Connections:
    """Connections to one database, from one engine."""

    def __init__(self, engine: AsyncEngine, *, sqlite_synchronous: str = "full") -> None:
        self.engine = engine
        self._synchronous = sqlite_synchronous.upper()
        self._write_lock = _WriteLock()
        self.dialect = engine.dialect.name
        # Write transactions this process has committed: what was counted before the last
        # one may be out of date (see receiver/gauges.py).
        self.commits = 0
        database = engine.url.database
        # SQLite's writer thread needs a file the thread can open a connection of its own to.
        self.writer: SQLiteWriter | None = (
            SQLiteWriter(engine.url, synchronous=self._synchronous, pragmas=sqlite_writer_pragmas)
            if self.dialect == "sqlite" and database and database != ":memory:"
            else None
        )

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()

    async def unit(self, work: Callable[[Connection], _T], *, durable: bool = True) -> _T:
        """Run ``work`` (statements over a synchronous connection) in one transaction that
        commits when it returns; its result, or ``StoreUnavailable`` when the database could
        not be reached or could not commit.

        On SQLite it runs whole on the writer's thread: one hand-off for the unit, however many
        statements it runs. Elsewhere it runs on a connection of the pool, each statement
        awaited in turn (``AsyncConnection.run_sync``). ``durable`` as for ``transaction``.
        """
        if self.writer is None:
            async with self._connection(write=True, durable=durable) as conn:
                return await conn.run_sync(work)
        try:
            async with self._write_lock.held(first=durable):
                running = self.writer.run(work, durable=durable)
                running.add_done_callback(lambda f: f.cancelled() or f.exception())
                try:
                    result = await asyncio.shield(running)
                except asyncio.CancelledError:
                    # The unit runs on regardless: keep other writers out until it has.
                    await asyncio.wait([running])
                    raise
            self.commits += 1
            return result
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction that commits on a clean exit.

        ``durable=False`` (the job runner's bookkeeping) lets SQLite skip the fsync: in WAL
        mode the next durable commit's fsync covers it, and a job transition lost to a power
        cut only means the job runs again, under the same idempotency key.
        """
        return self._connection(write=True, durable=durable)

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads."""
        return self._connection()

    @asynccontextmanager
    async def _connection(
        self, *, write: bool = False, durable: bool = True
    ) -> AsyncIterator[AsyncConnection]:
        """A connection (in a transaction that commits on exit, when ``write``); trouble
        reaching the database becomes ``StoreUnavailable``."""
        try:
            async with self.engine.connect() as conn:
                if not write:
                    yield conn
                    return
                if self.dialect != "sqlite":
                    async with conn.begin():
                        yield conn
                    self.commits += 1
                    return
                # SQLite has one writer at a time, and a writer that finds the lock taken
                # sleeps in growing steps (1, 2, 5, 10 ms...): queueing writers here instead
                # keeps a webhook's commit from waiting out those sleeps behind a job's.
                async with self._write_lock.held(first=durable):
                    await self._sqlite_durability(conn, durable)
                    async with conn.begin():
                        yield conn
                    self.commits += 1
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    async def _sqlite_durability(self, conn: AsyncConnection, durable: bool) -> None:
        level = (
            self._synchronous
            if durable
            else _SYNC_ORDER[min(_SYNC_ORDER.index(self._synchronous), _SYNC_ORDER.index("NORMAL"))]
        )
        info = await conn.get_raw_connection()
        if info.info.get("synchronous") != level:
            await conn.exec_driver_sql(f"PRAGMA synchronous={level}")
            await conn.commit()
            info.info["synchronous"] = level

    async def ping(self) -> float:
        """Round-trip a trivial query; returns its latency in seconds."""
        started = time.perf_counter()
        async with self._connection() as conn:
            await conn.execute(select(1))
        return time.perf_counter() - started


def _raise_if_unavailable(exc: Exception) -> None:
    """Trouble reaching or committing to the database becomes ``StoreUnavailable`` (a 503,
    which Alertmanager retries); anything else is a defect and propagates as it is."""
    unavailable = isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if unavailable:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from exc


# Times an ingest transaction is run when PostgreSQL rolls it back to break a deadlock or a
# serialization conflict (SQLSTATE 40P01, 40001): such a rollback says nothing about the data.
CONFLICT_ATTEMPTS = 3


_CONFLICT_STATES = frozenset({"40P01", "40001"})


def is_conflict(exc: Exception) -> bool:
    """Whether ``exc`` (or the database error behind it) is such a rollback."""
    cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
    return isinstance(cause, DBAPIError) and (
        getattr(cause.orig, "sqlstate", None) in _CONFLICT_STATES
    )


class _WriteLock:
    """One SQLite writer at a time; when it is released, a waiting durable writer (webhooks,
    people's actions) goes before the job runner's bookkeeping. Neither waits on the other
    otherwise, so a steady stream of webhooks delays jobs by one commit at most each time."""

    def __init__(self) -> None:
        self._held = False
        self._firsts: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def held(self, *, first: bool) -> AsyncIterator[None]:
        if self._held or self._firsts or self._others:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            (self._firsts if first else self._others).append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # it was handed to us as we were cancelled
                else:
                    with contextlib.suppress(ValueError):
                        (self._firsts if first else self._others).remove(waiter)
                raise
        else:
            self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._firsts, self._others):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # handed over: stays held
                    return
        self._held = False


# SQLite's PRAGMA synchronous levels, weakest first.
_SYNC_ORDER = ("OFF", "NORMAL", "FULL")
