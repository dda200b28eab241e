"""Purging what has aged out: resolved alerts with their history, finished jobs, webhook rows,
PagerDuty event ids, drills.

Each statement deletes at most ``limit`` rows, oldest first, so a purge runs as many short
transactions (no long lock on a busy table) and can stop between any two of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import AlertStatus
from receiver.store.tables import (
    alert_events,
    alert_routes,
    alerts,
    drills,
    jobs,
    notifications,
    pagerduty_events,
    webhooks,
)


async def purge_alerts(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Resolved occurrences that ended before ``cutoff``, with their events, notices and
    routes."""
    ended = func.coalesce(alerts.c.ends_at, alerts.c.last_seen_at)
    ids = [
        row[0]
        for row in await conn.execute(
            select(alerts.c.id)
            .where(alerts.c.status == AlertStatus.RESOLVED, ended < cutoff)
            .order_by(alerts.c.id)
            .limit(limit)
        )
    ]
    if not ids:
        return 0
    await conn.execute(delete(alert_events).where(alert_events.c.alert_id.in_(ids)))
    await conn.execute(delete(notifications).where(notifications.c.alert_id.in_(ids)))
    await conn.execute(delete(alert_routes).where(alert_routes.c.alert_id.in_(ids)))
    await conn.execute(delete(alerts).where(alerts.c.id.in_(ids)))
    return len(ids)


async def _purge_oldest(
    conn: AsyncConnection,
    table: Table,
    key: Column[Any],
    aged: Any,
    age: Column[Any],
    limit: int,
) -> int:
    """Delete at most ``limit`` rows of ``table`` that match ``aged``, oldest by ``age``
    first (the index on ``age`` finds them); how many went."""
    oldest = select(key).where(aged).order_by(age).limit(limit)
    ids = [row[0] for row in await conn.execute(oldest)]
    if ids:
        await conn.execute(delete(table).where(key.in_(ids)))
    return len(ids)


async def purge_jobs(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Jobs that finished before ``cutoff``; dead-lettered ones stay for a person to see."""
    # due_at <= finished_at, so bounding it too lets the (state, due_at) index find them.
    aged = and_(jobs.c.state == "done", jobs.c.due_at < cutoff, jobs.c.finished_at < cutoff)
    return await _purge_oldest(conn, jobs, jobs.c.id, aged, jobs.c.due_at, limit)


async def purge_webhooks(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """The record of webhooks received before ``cutoff``."""
    aged = webhooks.c.received_at < cutoff
    return await _purge_oldest(conn, webhooks, webhooks.c.id, aged, webhooks.c.received_at, limit)


async def purge_pagerduty_events(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Events whose copies have been refused as stale since before ``cutoff``: forgetting them
    lets no replay through."""
    t = pagerduty_events
    aged = t.c.window_ends_at < cutoff
    return await _purge_oldest(conn, t, t.c.event_id, aged, t.c.window_ends_at, limit)


async def purge_drills(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Drills asked for before ``cutoff``: their alerts are purged by then too (a drill's
    alert resolves when the drill ends), and a purged drill id leads nowhere."""
    aged = drills.c.created_at < cutoff
    return await _purge_oldest(conn, drills, drills.c.id, aged, drills.c.created_at, limit)


PURGES = (
    ("alerts", purge_alerts),
    ("jobs", purge_jobs),
    ("webhooks", purge_webhooks),
    ("pagerduty_events", purge_pagerduty_events),
    ("drills", purge_drills),
)
"""What a purge run deletes, table by table."""
