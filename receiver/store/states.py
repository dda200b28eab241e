"""Alerts read by id: whole, or as escalation sees them (``AlertState``), for the job runner's
turns and the reactions to new and resolved alerts. These are the hottest reads of the store;
on SQLite they go through the driver's own SQL (see ``rows.sqlite_rows_by_ids``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import Alert, AlertStatus
from receiver.store.connections import Connections
from receiver.store.engine import in_list, json_loads
from receiver.store.rows import (
    ALERTS_BY_IDS,
    BY_IDS,
    SQLITE_ALERTS,
    STATUSES,
    DecodedOnRead,
    alert_from_columns,
    alert_from_sqlite,
    chunks,
    sqlite_rows_by_ids,
)
from receiver.store.tables import alerts, sqlite_time_reader


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert as escalation sees it."""

    id: int
    status: AlertStatus
    acknowledged_at: datetime | None
    snoozed_until: datetime | None
    group_key: str
    starts_at: datetime
    ends_at: datetime | None
    labels: Mapping[str, str]
    first_seen_at: datetime


_STATE_COLUMNS = (
    alerts.c.id,
    alerts.c.status,
    alerts.c.acknowledged_at,
    alerts.c.snoozed_until,
    alerts.c.group_key,
    alerts.c.starts_at,
    alerts.c.ends_at,
    alerts.c.first_seen_at,
)
# In the order the alerts arrived, on both stores (PostgreSQL returns an IN list's rows in
# whatever order they lie), so that routing meets them the same way every time.
_STATES = select(*_STATE_COLUMNS).where(BY_IDS).order_by(alerts.c.id)
_STATES_WITH_LABELS = select(*_STATE_COLUMNS, alerts.c.labels).where(BY_IDS).order_by(alerts.c.id)
# The same on SQLite, read through the driver (see ``rows.sqlite_rows_by_ids``).
_SQLITE_STATE_COLUMNS = ", ".join(f"alerts.{c.name}" for c in _STATE_COLUMNS)
_SQLITE_STATES = (
    f"SELECT {_SQLITE_STATE_COLUMNS} FROM alerts WHERE alerts.id IN ({{marks}}) ORDER BY alerts.id"
)
_SQLITE_STATES_WITH_LABELS = (
    f"SELECT {_SQLITE_STATE_COLUMNS}, alerts.labels FROM alerts WHERE alerts.id IN ({{marks}}) "
    "ORDER BY alerts.id"
)
_read_time = sqlite_time_reader()


class AlertStates(Connections):
    """The store's reads of alerts by id (``Store`` has them)."""

    async def alerts_with_ids(self, ids: Sequence[int]) -> dict[int, Alert]:
        """The alerts among ``ids`` that exist, by id."""
        found: dict[int, Alert] = {}
        async with self._connection() as conn:
            for chunk in chunks(sorted(set(ids))):
                for alert in await self.alerts_by_ids(conn, chunk):
                    found[alert.id] = alert
        return found

    async def alert_states(
        self, conn: AsyncConnection, ids: Sequence[int], *, with_labels: bool = False
    ) -> dict[int, AlertState]:
        """What escalation decides on, without the annotations it does not need; by id, in
        id order."""
        return await conn.run_sync(self.alert_states_in, ids, with_labels=with_labels)

    def alert_states_in(
        self, conn: Connection, ids: Sequence[int], *, with_labels: bool = False
    ) -> dict[int, AlertState]:
        """``alert_states`` over a synchronous connection (a unit of work's, say)."""
        if self.dialect == "sqlite":
            rows, decode = _sqlite_states(conn, ids, with_labels)
            return {alert_id: decode(row) for alert_id, row in rows.items()}
        found: dict[int, AlertState] = {}
        statement = _STATES_WITH_LABELS if with_labels else _STATES
        for chunk in chunks(sorted(ids)):
            _add_states(found, conn.execute(statement, {"b_ids": in_list(chunk)}), with_labels)
        return found

    def alert_states_read_in(
        self, conn: Connection, ids: Sequence[int], *, with_labels: bool = False
    ) -> Mapping[int, AlertState]:
        """``alert_states_in``; on SQLite each state made from its row when first looked up
        (``DecodedOnRead``): the job runner's turn reads them on the writer's thread, and its
        handlers look them up on the loop's."""
        if self.dialect == "sqlite":
            return DecodedOnRead(*_sqlite_states(conn, ids, with_labels))
        return self.alert_states_in(conn, ids, with_labels=with_labels)

    async def alerts_by_ids(self, conn: AsyncConnection, ids: Sequence[int]) -> list[Alert]:
        return await conn.run_sync(self.alerts_by_ids_in, ids)

    def alerts_read_in(self, conn: Connection, ids: Sequence[int]) -> Mapping[int, Alert]:
        """The alerts ``ids`` names, by id, over a synchronous connection; on SQLite each made
        from its row when first looked up (``DecodedOnRead``): the job runner's turn reads
        them on the writer's thread, and its handlers look them up on the loop's."""
        if self.dialect == "sqlite":
            rows = sqlite_rows_by_ids(conn, SQLITE_ALERTS, ids)
            return DecodedOnRead({row[0]: row for row in rows}, alert_from_sqlite)
        return {alert.id: alert for alert in self.alerts_by_ids_in(conn, ids)}

    def alerts_by_ids_in(self, conn: Connection, ids: Sequence[int]) -> list[Alert]:
        """``alerts_by_ids`` over a synchronous connection (the job runner's turn)."""
        if self.dialect == "sqlite":
            return [alert_from_sqlite(row) for row in sqlite_rows_by_ids(conn, SQLITE_ALERTS, ids)]
        return [
            alert_from_columns(row)
            for chunk in chunks(ids)
            for row in conn.execute(ALERTS_BY_IDS, {"b_ids": in_list(chunk)})
        ]


def _sqlite_states(
    conn: Connection, ids: Sequence[int], with_labels: bool
) -> tuple[dict[int, Any], Callable[[Any], AlertState]]:
    """The driver's rows for ``ids`` by id, in id order, and what makes a state of one."""
    sql = _SQLITE_STATES_WITH_LABELS if with_labels else _SQLITE_STATES
    rows = {row[0]: row for row in sqlite_rows_by_ids(conn, sql, sorted(ids))}
    return rows, (_state_with_labels if with_labels else _state)


def _state(row: Any) -> AlertState:
    """An ``AlertState`` from a driver row of ``_SQLITE_STATES`` (SQLite's own values)."""
    return _state_of(row, {})


def _state_with_labels(row: Any) -> AlertState:
    """``_state`` for a row of ``_SQLITE_STATES_WITH_LABELS``."""
    return _state_of(row, json_loads(row[8]))


def _state_of(row: Any, labels: Mapping[str, str]) -> AlertState:
    alert_id, status, acked, snoozed, group_key, starts, ends, first_seen = row[:8]
    read_time = _read_time
    # Positional, in AlertState's field order: a quarter cheaper than keywords.
    return AlertState(
        alert_id,
        STATUSES[status],
        read_time(acked),
        read_time(snoozed),
        group_key,
        read_time(starts),  # type: ignore[arg-type]  # NOT NULL
        read_time(ends),
        labels,
        read_time(first_seen),  # type: ignore[arg-type]  # NOT NULL
    )


def _add_states(found: dict[int, AlertState], rows: Iterable[Any], with_labels: bool) -> None:
    for row in rows:
        # By position (_STATE_COLUMNS' order), a fraction of the cost of by name.
        alert_id, status, acked, snoozed, group_key, starts, ends, first_seen = row[:8]
        found[alert_id] = AlertState(
            id=alert_id,
            status=STATUSES[status],
            acknowledged_at=acked,
            snoozed_until=snoozed,
            group_key=group_key,
            starts_at=starts,
            ends_at=ends,
            labels=row[8] if with_labels else {},
            first_seen_at=first_seen,
        )
