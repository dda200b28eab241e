"""The PagerDuty v3 webhook events already received, so that a replayed one changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.store.tables import pagerduty_events

__all__ = ["received_before", "remember_event"]


async def received_before(conn: AsyncConnection, event_id: str) -> bool:
    """Whether an event with this id was received (and acted on) before."""
    found = await conn.execute(
        select(pagerduty_events.c.event_id).where(pagerduty_events.c.event_id == event_id)
    )
    return found.first() is not None


async def remember_event(
    conn: AsyncConnection,
    *,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    received_at: datetime,
    window_ends_at: datetime,
    outcome: str,
) -> bool:
    """Record an event as received; False when another delivery of it was recorded first."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(
        insert(pagerduty_events)
        .values(
            event_id=event_id,
            event_type=event_type,
            occurred_at=occurred_at,
            received_at=received_at,
            window_ends_at=window_ends_at,
            outcome=outcome,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    return bool(result.rowcount)
