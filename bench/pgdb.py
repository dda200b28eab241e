"""A throwaway database on the PostgreSQL server, for the benchmarks that run on PostgreSQL.

``fresh_database(admin_url)`` creates a database with a random name through ``admin_url`` (a
libpq URL of a database to connect to for ``CREATE DATABASE``, the ``postgres`` one by
default) and drops it on leaving the block, connections and all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

PG_ADMIN_URL = os.environ.get("FIREBREAK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Database:
    name: str
    url: str  # libpq: postgresql://user@host:port/name

    @property
    def asyncpg_url(self) -> str:
        """The SQLAlchemy URL Firebreak's ``database.url`` takes."""
        return self.url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def _admin(admin_url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-not-found]

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(
    admin_url: str = PG_ADMIN_URL, prefix: str = "firebreak_bench"
) -> Iterator[Database]:
    """A new database on the server, dropped on leaving the block."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield Database(name, f"{admin_url.rsplit('/', 1)[0]}/{name}")
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def checkpoint(admin_url: str = PG_ADMIN_URL) -> None:
    """Have the server write out its dirty pages now (``CHECKPOINT``), not while the next
    measurement runs."""
    asyncio.run(_admin(admin_url, "CHECKPOINT"))
