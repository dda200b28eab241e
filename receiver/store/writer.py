"""SQLite's writer: one thread that owns a write connection and runs whole units of work.

Through an async driver every statement is a hand-off between the event loop and the
connection's thread (a few per statement), and a unit of work of a dozen statements is dozens
of event-loop wake-ups, during which SQLite's one write lock stays held. Here a unit of work —
a plain function over a synchronous connection, such as an ingest group commit — is handed to
the writer's thread once, runs there start to finish in one transaction on the stdlib
``sqlite3`` driver (which keeps each statement prepared in its cache), and its result comes
back to the loop once.

A unit that raises, whatever it raises, is rolled back and fails its caller: a caller never
waits on a unit that will not finish. ``close`` lets the units already handed over finish
before the connection closes; units handed over afterwards fail at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection

from receiver.errors import StoreUnavailable
from receiver.store.engine import json_loads

log = logging.getLogger("firebreak.store")

_T = TypeVar("_T")

# Statements the driver keeps prepared on the writer's connection (the stdlib default is 128):
# ingest, the job runner's turn and what they enqueue need a few dozen distinct ones, with
# multi-row INSERTs of every batch size seen.
_PREPARED_STATEMENTS = 512

Unit = Callable[[Connection], _T]


@dataclass(slots=True)
class _Handed(Generic[_T]):
    """A unit handed to the writer, and where its result goes."""

    unit: Unit[_T]
    durable: bool
    context: contextvars.Context  # the caller's (the trace a unit's jobs continue, say)
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[_T]


_CLOSE = object()


class SQLiteWriter:
    """A thread owning one SQLite write connection; ``run`` hands it a unit of work."""

    def __init__(self, url: URL, *, synchronous: str, pragmas: Callable[[Any, str], None]) -> None:
        """``url``: the database (any SQLite driver name: the stdlib driver is used).
        ``synchronous``: the durability of a durable unit; ``pragmas(dbapi_connection,
        synchronous)`` sets up a new connection as the store's others are."""
        self._url = url.set(drivername="sqlite+pysqlite")
        self._synchronous = synchronous.upper()
        self._pragmas = pragmas
        self._queue: queue.SimpleQueue[_Handed[Any] | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()  # starting and closing the thread
        # Made now (it connects nothing yet), so that what listens to its statements can be
        # set up before the first unit; the connection is opened on the writer's thread.
        self.engine: Engine | None = self._engine()
        # Units handed over: one trip each between the loop and the writer's thread.
        self.trips = 0

    def run(self, unit: Unit[_T], *, durable: bool = True) -> asyncio.Future[_T]:
        """Hand ``unit`` to the writer; the future gets its result (or its error) once it
        has been committed (or rolled back). ``durable=False`` lets SQLite skip the fsync
        (see ``Connections.transaction``)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_T] = loop.create_future()
        with self._lock:
            if self._closed:
                done.set_exception(StoreUnavailable("the store is closed"))
                return done
            self._start()
            self.trips += 1
            self._queue.put(_Handed(unit, durable, contextvars.copy_context(), loop, done))
        return done

    async def close(self) -> None:
        """Let the units handed over finish, then close the connection."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_CLOSE)
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._serve, name="firebreak-sqlite-writer", daemon=True
            )
            self._thread.start()

    # -- the writer's thread ---------------------------------------------------------------

    def _serve(self) -> None:
        conn: Connection | None = None
        level: str | None = None
        try:
            while True:
                handed = self._queue.get()
                if handed is _CLOSE:
                    return
                assert isinstance(handed, _Handed)
                try:
                    if conn is None:
                        conn = self._connect()
                        level = None
                    wanted = self._synchronous if handed.durable else _relaxed(self._synchronous)
                    if level != wanted:
                        _set_synchronous(conn, wanted)
                        level = wanted
                    result = _in_transaction(conn, handed)
                except BaseException as exc:  # the caller hears of anything
                    conn = _discard_if_broken(conn, exc)
                    _deliver(handed, None, _as_error(exc))
                else:
                    _deliver(handed, result, None)
        finally:
            self._fail_waiting()
            if conn is not None:
                conn.close()
            if self.engine is not None:
                self.engine.dispose()
                self.engine = None

    def _engine(self) -> Engine:
        engine = create_engine(
            self._url,
            connect_args={"timeout": 30, "cached_statements": _PREPARED_STATEMENTS},
            json_deserializer=json_loads,
            pool_size=1,
            max_overflow=0,
        )
        synchronous = self._synchronous

        @event.listens_for(engine, "connect")
        def _setup(dbapi_conn: Any, _record: Any) -> None:
            self._pragmas(dbapi_conn, synchronous)
            # The writer says when a transaction begins (BEGIN IMMEDIATE, below), rather
            # than the driver deciding before the first write.
            dbapi_conn.isolation_level = None

        return engine

    def _connect(self) -> Connection:
        if self.engine is None:
            self.engine = self._engine()
        return self.engine.connect()

    def _fail_waiting(self) -> None:
        """Units still queued when the thread ends (it should not, but never leave a caller
        waiting on a thread that is gone)."""
        while True:
            try:
                handed = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(handed, _Handed):
                _deliver(handed, None, StoreUnavailable("the store is closed"))


def _set_synchronous(conn: Connection, level: str) -> None:
    """Set the durability of the units to come, between transactions. Straight on the driver's
    connection: a lone webhook's commit and the job runner's turn after it switch it twice,
    and through SQLAlchemy each switch was a statement and a commit of its own."""
    conn.connection.driver_connection.execute(f"PRAGMA synchronous={level}")  # type: ignore[union-attr]


def _in_transaction(conn: Connection, handed: _Handed[_T]) -> _T:
    # IMMEDIATE takes the write lock at once: a unit never fails halfway for want of it.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        result = handed.context.run(handed.unit, conn)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return result


def _relaxed(synchronous: str) -> str:
    """The durability of a unit that may skip the fsync: NORMAL at most."""
    return "NORMAL" if synchronous == "FULL" else synchronous


def _as_error(exc: BaseException) -> BaseException:
    """What the caller gets: an ordinary error as it is; anything else (an exit, an interrupt
    raised inside a unit) as a store that could not commit, which is what it was."""
    if isinstance(exc, Exception):
        return exc
    error = StoreUnavailable(f"the write was interrupted: {type(exc).__name__}")
    error.__cause__ = exc
    return error


def _discard_if_broken(conn: Connection | None, exc: BaseException) -> Connection | None:
    """Keep the connection after a unit's own error; start afresh when the connection may be
    what failed (the rollback failed too, or the unit never got to run)."""
    if conn is None:
        return None
    try:
        conn.rollback()
        if conn.invalidated:
            raise RuntimeError("connection invalidated")
    except Exception:
        log.warning("the SQLite writer's connection is reopened after: %r", exc)
        with contextlib.suppress(Exception):  # it is being thrown away
            conn.close()
        return None
    return conn


def _deliver(handed: _Handed[_T], result: _T | None, error: BaseException | None) -> None:
    def settle() -> None:
        if handed.done.done():  # the caller stopped waiting
            return
        if error is not None:
            handed.done.set_exception(error)
        else:
            handed.done.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        handed.loop.call_soon_threadsafe(settle)
