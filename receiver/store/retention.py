"""Purging what has aged out: resolved alerts with their history, finished jobs, webhook rows,
PagerDuty event ids, drills.

Each statement deletes at most ``limit`` rows, oldest first, so a purge runs as many short
transactions (no long lock on a busy table) and can stop between any two of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import AlertStatus
from receiver.store.drills import purge_drills
from receiver.store.pagerduty_events import purge_pagerduty_events
from receiver.store.tables import alert_events, alert_routes, alerts, jobs, notifications, webhooks


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


async def purge_jobs(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Jobs that finished before ``cutoff``; dead-lettered ones stay for a person to see."""
    oldest = (
        select(jobs.c.id)
        .where(
            jobs.c.state == "done",
            # due_at <= finished_at, so this bound lets the (state, due_at) index find them.
            and_(jobs.c.due_at < cutoff, jobs.c.finished_at < cutoff),
        )
        .order_by(jobs.c.due_at)
        .limit(limit)
    )
    ids = [row[0] for row in await conn.execute(oldest)]
    if ids:
        await conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
    return len(ids)


async def purge_webhooks(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """The record of webhooks received before ``cutoff``."""
    oldest = (
        select(webhooks.c.id)
        .where(webhooks.c.received_at < cutoff)
        .order_by(webhooks.c.received_at)
        .limit(limit)
    )
    ids = [row[0] for row in await conn.execute(oldest)]
    if ids:
        await conn.execute(delete(webhooks).where(webhooks.c.id.in_(ids)))
    return len(ids)


PURGES = (
    ("alerts", purge_alerts),
    ("jobs", purge_jobs),
    ("webhooks", purge_webhooks),
    ("pagerduty_events", purge_pagerduty_events),
    ("drills", purge_drills),
)
"""What a purge run deletes, table by table."""
