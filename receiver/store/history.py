"""What was done about alerts: their history (``alert_events``), the notices sent about them,
the routes they took and the people paged, recorded in the job runner's commits and read back
for an alert's page, its notices' edits and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import AlertEvent, EventKind, Page, RaisedPage
from receiver.store.bulk import BulkInsert
from receiver.store.connections import Connections
from receiver.store.manual_pages import ManualPageSQL
from receiver.store.pages import PageSQL
from receiver.store.tables import alert_events, alert_routes, notifications

# The job runner's rows on SQLite, a few for every alert routed and notified (store/bulk.py).
_ROUTE_KEY = ("alert_id", "route")
_EVENTS = BulkInsert(alert_events)
_SENT = BulkInsert(notifications)
_ROUTES = BulkInsert(alert_routes, on_conflict=_ROUTE_KEY)


class AlertHistory(Connections):
    """The store's rows of what happened to alerts (``Store`` has them)."""

    pages: PageSQL
    manual_pages: ManualPageSQL

    async def record(
        self,
        conn: AsyncConnection,
        events: Sequence[dict[str, Any]],
        sent: Sequence[dict[str, Any]],
        routes: Sequence[dict[str, Any]] = (),
        paged: Sequence[dict[str, Any]] = (),
    ) -> None:
        """``record_in`` in the caller's transaction."""
        if events or sent or routes or paged:
            await conn.run_sync(self.record_in, events, sent, routes, paged)

    def record_in(
        self,
        conn: Connection,
        events: Sequence[dict[str, Any]],
        sent: Sequence[dict[str, Any]],
        routes: Sequence[dict[str, Any]] = (),
        paged: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Append history rows, sent-notification rows, the routes alerts took and the people
        tiers paged within a unit of work. A route or page already recorded for an alert is
        kept as it was."""
        if self.dialect == "sqlite":
            _EVENTS.run(conn, events)
            _SENT.run(conn, sent)
            _ROUTES.run(conn, routes)
        else:
            if events:
                conn.execute(insert(alert_events), list(events))
            if sent:
                conn.execute(insert(notifications), list(sent))
            if routes:
                conn.execute(
                    postgresql.insert(alert_routes).on_conflict_do_nothing(
                        index_elements=_ROUTE_KEY
                    ),
                    list(routes),
                )
        self.pages.record(conn, paged)

    async def alert_events(self, alert_id: int) -> tuple[AlertEvent, ...]:
        async with self._connection() as conn:
            rows = await conn.execute(
                select(alert_events)
                .where(alert_events.c.alert_id == alert_id)
                .order_by(alert_events.c.id)
            )
            return tuple(
                AlertEvent(
                    id=row.id,
                    alert_id=row.alert_id,
                    kind=EventKind(row.kind),
                    at=row.at,
                    actor=row.actor,
                    note=row.note,
                    request_id=row.request_id,
                )
                for row in rows
            )

    async def notified_targets(
        self, conn: AsyncConnection, alert_id: int
    ) -> list[tuple[str, str, str | None]]:
        """Every (channel, target, last reference) a firing notice about the alert reached."""
        rows = await conn.execute(
            select(
                notifications.c.channel, notifications.c.target, func.max(notifications.c.reference)
            )
            .where(
                notifications.c.alert_id == alert_id, notifications.c.kind.in_(("firing", "digest"))
            )
            .group_by(notifications.c.channel, notifications.c.target)
            .order_by(notifications.c.channel, notifications.c.target)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def sent_notifications(self, alert_id: int) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            rows = await conn.execute(
                select(notifications)
                .where(notifications.c.alert_id == alert_id)
                .order_by(notifications.c.id)
            )
            return [dict(row._mapping) for row in rows]

    async def raised_page(self, alert_id: int) -> RaisedPage | None:
        """The page an alert was raised by, when it was raised by hand."""
        async with self._connection() as conn:
            return await self.manual_pages.of_alert(conn, alert_id)

    async def alert_pages(self, alert_id: int) -> list[Page]:
        """The people tiers paged about an alert, first paged first."""
        async with self._connection() as conn:
            return await self.pages.of_alerts(conn, [alert_id])
