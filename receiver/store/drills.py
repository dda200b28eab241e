"""The drills people asked for: recorded before their synthetic alert is injected, looked up by
the id its ``firebreak_drill`` label carries. A label alone proves nothing: an alert is a
drill's only when the id is recorded with exactly the alert's labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import DRILL_LABEL
from receiver.store.engine import in_list
from receiver.store.tables import drills


@dataclass(frozen=True, slots=True)
class Drill:
    id: str
    runbook: str
    live: bool
    actor: str
    labels: dict[str, str]
    alert_id: int | None
    created_at: datetime
    finished_at: datetime | None

    def is_of(self, alert_id: int, labels: Mapping[str, str]) -> bool:
        """Whether an alert is this drill's own: its labels exactly, and no other alert
        bound to the drill before it."""
        return dict(labels) == self.labels and self.alert_id in (None, alert_id)


def _drill(row: Any) -> Drill:
    return Drill(**{name: getattr(row, name) for name in Drill.__slots__})


class DrillSQL:
    """Statements over the ``drills`` table; each takes the caller's connection."""

    async def register(
        self,
        conn: AsyncConnection,
        drill_id: str,
        runbook: str,
        live: bool,
        actor: str,
        labels: Mapping[str, str],
        now: datetime,
    ) -> None:
        await conn.execute(
            insert(drills).values(
                id=drill_id,
                runbook=runbook,
                live=live,
                actor=actor,
                labels=dict(labels),
                created_at=now,
            )
        )

    async def get(self, conn: AsyncConnection, drill_ids: Iterable[str]) -> dict[str, Drill]:
        wanted = sorted({i for i in drill_ids if isinstance(i, str)})
        if not wanted:
            return {}
        # Padded to a power of two: a few statements to keep prepared, whatever the number.
        rows = await conn.execute(select(drills).where(drills.c.id.in_(in_list(wanted))))
        return {row.id: _drill(row) for row in rows}

    async def bind(self, conn: AsyncConnection, drill_id: str, alert_id: int) -> bool:
        """Bind the drill to the alert that starts it; False when another alert was first."""
        result = await conn.execute(
            update(drills)
            .where(
                drills.c.id == drill_id,
                or_(drills.c.alert_id.is_(None), drills.c.alert_id == alert_id),
            )
            .values(alert_id=alert_id)
        )
        return bool(result.rowcount)

    async def finish(self, conn: AsyncConnection, drill_id: str, now: datetime) -> None:
        await conn.execute(update(drills).where(drills.c.id == drill_id).values(finished_at=now))

    async def of_alerts(
        self, conn: AsyncConnection, alerts: Iterable[tuple[int, Mapping[str, str]]]
    ) -> dict[int, Drill]:
        """The drill each of ``alerts`` (id, labels) really is, for those that are one."""
        carrying = [(i, labels) for i, labels in alerts if DRILL_LABEL in labels]
        if not carrying:
            return {}
        found = await self.get(conn, (labels[DRILL_LABEL] for _, labels in carrying))
        return {
            alert_id: drill
            for alert_id, labels in carrying
            if (drill := found.get(labels[DRILL_LABEL])) is not None
            and drill.is_of(alert_id, labels)
        }
