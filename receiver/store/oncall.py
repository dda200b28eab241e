"""On-call overrides: added, listed and deleted; each statement takes the caller's connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.oncall import Override
from receiver.store.tables import oncall_overrides as table

__all__ = ["add_override", "delete_override", "get_override", "list_overrides"]


def _override(row: Any) -> Override:
    return Override(
        id=row.id,
        schedule=row.schedule,
        person=row.person,
        start=row.starts_at,
        end=row.ends_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def add_override(
    conn: AsyncConnection,
    *,
    schedule: str,
    person: str,
    start: datetime,
    end: datetime,
    created_by: str,
    now: datetime,
) -> Override:
    result = await conn.execute(
        insert(table)
        .values(
            schedule=schedule,
            person=person,
            starts_at=start,
            ends_at=end,
            created_by=created_by,
            created_at=now,
        )
        .returning(table.c.id)
    )
    return Override(result.scalar_one(), schedule, person, start, end, created_by, now)


async def list_overrides(
    conn: AsyncConnection,
    *,
    schedule: str | None = None,
    ending_after: datetime | None = None,
    starting_before: datetime | None = None,
) -> list[Override]:
    """Overrides in the order they were made, those of ``schedule`` only when given, and only
    those that overlap ``ending_after`` … ``starting_before`` when given."""
    stmt = select(table).order_by(table.c.created_at, table.c.id)
    if schedule is not None:
        stmt = stmt.where(table.c.schedule == schedule)
    if ending_after is not None:
        stmt = stmt.where(table.c.ends_at > ending_after)
    if starting_before is not None:
        stmt = stmt.where(table.c.starts_at < starting_before)
    return [_override(row) for row in await conn.execute(stmt)]


async def get_override(conn: AsyncConnection, override_id: int) -> Override | None:
    row = (await conn.execute(select(table).where(table.c.id == override_id))).first()
    return None if row is None else _override(row)


async def delete_override(
    conn: AsyncConnection, override_id: int, *, schedule: str
) -> Override | None:
    """Delete an override of ``schedule``; the override deleted, or None when there was none."""
    found = await get_override(conn, override_id)
    if found is None or found.schedule != schedule:
        return None
    await conn.execute(delete(table).where(table.c.id == override_id))
    return found
