"""The statements one request makes the store run, for tests that promise "one statement for
all of them" (set-based actions from the console and Slack)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from receiver.obs import request_id_var
from receiver.store import Store
from receiver.typedefs import STORE


def store_engines(store: Store) -> list[Engine]:
    """Every engine the store runs statements on: on SQLite a unit of work (the job runner's
    turn, with its preloads) runs on the writer thread's connection, of an engine of its own."""
    engines = [store.engine.sync_engine]
    if store.writer is not None and store.writer.engine is not None:
        engines.append(store.writer.engine)
    return engines


@contextmanager
def writes(client: Any, request_id: str) -> Iterator[list[str]]:
    """The INSERT and UPDATE statements run for the request with ``request_id`` (not the job
    runner's), each as its first three words, table names unquoted (``INSERT INTO "jobs"``,
    as the store writes some by hand, counts as ``INSERT INTO JOBS``); an executemany counts
    once."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        words = statement.replace('"', "").split()[:3]
        if request_id_var.get() == request_id and words[0].upper() in ("INSERT", "UPDATE"):
            seen.append(" ".join(words).upper())

    engines = store_engines(client.app[STORE])
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
