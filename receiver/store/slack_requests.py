"""The signed Slack requests already received inside their timestamp window, so that a replayed
one is refused by every replica, after a restart too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.store.tables import slack_requests

__all__ = ["first_sight", "seen_before"]


async def seen_before(conn: AsyncConnection, signature: str) -> bool:
    """Whether a request with this signature was recorded (a read: a replay costs no write)."""
    t = slack_requests
    found = await conn.execute(select(t.c.signature).where(t.c.signature == signature))
    return found.first() is not None


async def first_sight(
    conn: AsyncConnection, signature: str, signed_at: datetime, expires_at: datetime, now: datetime
) -> bool:
    """Record a request by its signature; False when it was recorded before (a replay). Rows
    whose window has passed go first, so the table holds one window's requests at most."""
    t = slack_requests
    await conn.execute(delete(t).where(t.c.expires_at < now))
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(
        insert(t)
        .values(signature=signature, signed_at=signed_at, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["signature"])
    )
    return bool(result.rowcount)
