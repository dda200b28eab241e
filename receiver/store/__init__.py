"""The store: every table, every query, and the engine they run on."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from receiver.config import DatabaseConfig
from receiver.store.engine import create_engine_for, migrate
from receiver.store.store import Store

__all__ = ["Store", "create_engine_for", "migrate", "open_store"]


@asynccontextmanager
async def open_store(database: DatabaseConfig) -> AsyncIterator[Store]:
    """The store of a command run from a shell: the schema brought up to date first, the
    engine disposed of afterwards."""
    store = Store(create_engine_for(database), sqlite_synchronous=database.sqlite_synchronous)
    try:
        await migrate(store.engine)
        yield store
    finally:
        await store.close()
