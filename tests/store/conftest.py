"""The store on the parametrised database (SQLite file and PostgreSQL), migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from receiver.config import Config
from receiver.store import Store, create_engine_for, migrate


@pytest.fixture
async def store(config: Config) -> AsyncIterator[Store]:
    engine = create_engine_for(config.database)
    await migrate(engine)
    store = Store(engine)
    yield store
    await store.close()
