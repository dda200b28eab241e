"""Maintenance windows made at run time, and the held timers they end early; each statement
takes the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.store.tables import jobs
from receiver.store.tables import maintenance_windows as table
from receiver.windows import MaintenanceWindow

__all__ = [
    "add_window",
    "bring_forward",
    "end_window",
    "free_keys",
    "list_windows",
    "silenced_windows",
    "waited_for",
]


def _window(row: Any) -> MaintenanceWindow:
    return MaintenanceWindow(
        name=row.name,
        matchers=tuple(row.matchers),
        reason=row.reason,
        owner=row.owner,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        rrule=row.rrule,
        cron=row.cron,
        duration=None if row.duration_seconds is None else timedelta(seconds=row.duration_seconds),
        time_zone=row.time_zone,
        silence=bool(row.silence),
        source="api",
        id=row.id,
        created_by=row.created_by,
        created_at=row.created_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
    )


async def add_window(
    conn: AsyncConnection, window: MaintenanceWindow, *, created_by: str, now: datetime
) -> MaintenanceWindow:
    result = await conn.execute(
        insert(table)
        .values(
            name=window.name,
            matchers=list(window.matchers),
            reason=window.reason,
            owner=window.owner,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            rrule=window.rrule,
            cron=window.cron,
            duration_seconds=None
            if window.duration is None
            else int(window.duration.total_seconds()),
            time_zone=window.time_zone,
            silence=window.silence,
            created_by=created_by,
            created_at=now,
        )
        .returning(table.c.id)
    )
    row = (await conn.execute(select(table).where(table.c.id == result.scalar_one()))).one()
    return _window(row)


async def list_windows(
    conn: AsyncConnection, *, live_at: datetime | None = None
) -> list[MaintenanceWindow]:
    """Windows in the order they were made; with ``live_at``, only those neither ended early
    nor (one-offs) over by then."""
    stmt = select(table).order_by(table.c.created_at, table.c.id)
    if live_at is not None:
        stmt = stmt.where(
            or_(table.c.ended_at.is_(None), table.c.ended_at > live_at),
            or_(table.c.ends_at.is_(None), table.c.ends_at > live_at),
        )
    return [_window(row) for row in await conn.execute(stmt)]


async def end_window(
    conn: AsyncConnection, window_id: int, *, ended_by: str, now: datetime
) -> MaintenanceWindow | None:
    """End a window now; the window as it now stands, or None when it had ended already."""
    result = await conn.execute(
        update(table)
        .where(table.c.id == window_id, or_(table.c.ended_at.is_(None), table.c.ended_at > now))
        .values(ended_at=now, ended_by=ended_by)
    )
    if not result.rowcount:
        return None
    row = (await conn.execute(select(table).where(table.c.id == window_id))).one()
    return _window(row)


def _held_by() -> Any:
    return jobs.c.payload["held_by"].as_string()


def _waiting(kinds: Sequence[str], now: datetime) -> Any:
    """Pending jobs of ``kinds`` due after ``now``."""
    return and_(jobs.c.state == "pending", jobs.c.kind.in_(list(kinds)), jobs.c.due_at > now)


async def bring_forward(
    conn: AsyncConnection, kinds: Sequence[str], window: str, now: datetime
) -> int:
    """Make the pending jobs of ``kinds`` that wait for ``window`` to end (their payload's
    ``held_by``) due now; how many there were."""
    result = await conn.execute(
        update(jobs)
        .where(_waiting(kinds, now), _held_by() == window)
        .values(due_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)


async def waited_for(conn: AsyncConnection, kinds: Sequence[str], now: datetime) -> set[str]:
    """The windows that pending jobs of ``kinds`` wait for (their payload's ``held_by``),
    among those due after ``now``."""
    held_by = _held_by()
    rows = await conn.execute(
        select(held_by).where(_waiting(kinds, now), held_by.is_not(None)).distinct()
    )
    return {str(name) for (name,) in rows}


async def free_keys(conn: AsyncConnection, prefix: str, keep: str) -> int:
    """Give the finished jobs whose idempotency key starts with ``prefix``, but is not
    ``keep``, a key of their own (``...:superseded:<id>``), so that the same key may be
    enqueued again; how many there were."""
    key = jobs.c.idempotency_key
    result = await conn.execute(
        update(jobs)
        .where(
            key.startswith(prefix, autoescape=True),
            key != keep,
            ~key.contains(":superseded:", autoescape=True),
            jobs.c.state.in_(["done", "dead"]),
        )
        .values(idempotency_key=key + ":superseded:" + cast(jobs.c.id, String))
    )
    return int(result.rowcount or 0)


async def silenced_windows(conn: AsyncConnection, kind: str) -> set[str]:
    """The windows that jobs of ``kind`` (``maintenance_silence``) made silences for (a
    ``create`` job done): this deployment's, and no other's that shares its Alertmanager."""
    window = jobs.c.payload["window"].as_string()
    rows = await conn.execute(
        select(window)
        .where(
            jobs.c.kind == kind,
            jobs.c.state == "done",
            jobs.c.payload["action"].as_string() == "create",
        )
        .distinct()
    )
    return {str(name) for (name,) in rows if name is not None}
