"""The signed Slack requests already received inside their timestamp window, so that a replayed
one is refused by every replica, after a restart too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.store.tables import slack_requests

__all__ = ["first_sight"]


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
