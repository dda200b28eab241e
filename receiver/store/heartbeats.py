"""Statements over the ``heartbeats`` table: a beat, registration of the heartbeats a
configuration names, and the missing mark the check sets and clears.

A beat and the check that marks a heartbeat missing both write the heartbeat's one row and each
returns what the other wrote, so whichever commits second sees the first: a beat arriving while
the check raises the alert is never left unseen (see ``receiver.heartbeats``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import HeartbeatRecord
from receiver.store.tables import heartbeats


def _record(row: Any) -> HeartbeatRecord:
    return HeartbeatRecord(
        name=row.name,
        registered_at=row.registered_at,
        last_beat_at=row.last_beat_at,
        beats=int(row.beats),
        last_message=row.last_message,
        missing_since=row.missing_since,
    )


class HeartbeatSQL:
    """Statements over ``heartbeats``; each takes the caller's connection."""

    def __init__(self, dialect: str) -> None:
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def register(self, conn: AsyncConnection, names: Iterable[str], now: datetime) -> None:
        """A row for each heartbeat not known yet, its baseline ``now``; known ones unchanged."""
        rows = [{"name": n, "registered_at": now, "beats": 0} for n in sorted(set(names))]
        if rows:
            statement = self._insert(heartbeats).on_conflict_do_nothing(index_elements=["name"])
            await conn.execute(statement, rows)

    async def beat(
        self, conn: AsyncConnection, name: str, at: datetime, message: str | None
    ) -> HeartbeatRecord:
        """Record a beat and return the row as it is now (``missing_since`` included)."""
        insert = self._insert(heartbeats).values(
            name=name, registered_at=at, last_beat_at=at, beats=1, last_message=message
        )
        statement = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "last_beat_at": insert.excluded.last_beat_at,
                "last_message": insert.excluded.last_message,
                "beats": heartbeats.c.beats + 1,
            },
        ).returning(*heartbeats.c)
        return _record((await conn.execute(statement)).one())

    async def mark_missing(
        self, conn: AsyncConnection, name: str, since: datetime
    ) -> datetime | None:
        """Mark the heartbeat missing; the last beat as it stands, which may be newer than the
        one the check judged by."""
        statement = (
            update(heartbeats)
            .where(heartbeats.c.name == name)
            .values(missing_since=since)
            .returning(heartbeats.c.last_beat_at)
        )
        row = (await conn.execute(statement)).one_or_none()
        return None if row is None else row.last_beat_at

    async def clear_missing(self, conn: AsyncConnection, name: str) -> None:
        await conn.execute(
            update(heartbeats).where(heartbeats.c.name == name).values(missing_since=None)
        )

    async def get(self, conn: AsyncConnection, name: str) -> HeartbeatRecord | None:
        row = (await conn.execute(select(heartbeats).where(heartbeats.c.name == name))).first()
        return None if row is None else _record(row)

    async def all(self, conn: AsyncConnection) -> dict[str, HeartbeatRecord]:
        rows = await conn.execute(select(heartbeats).order_by(heartbeats.c.name))
        return {row.name: _record(row) for row in rows}
