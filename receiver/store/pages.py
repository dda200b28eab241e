"""The people escalation tiers paged: recorded in the commit of the tier that paged them,
read for an alert's page, its Slack message and the on-call reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import Page
from receiver.store.tables import alerts, pages

_KEY = ["alert_id", "route", "policy", "repeat", "tier", "person"]


def _page(row: Any) -> Page:
    found = {name: getattr(row, name) for name in Page.__slots__}
    return Page(**{**found, "contacts": tuple(row.contacts or ())})


def page_row(page: Page) -> dict[str, Any]:
    """A page as a row of ``pages`` (what a job's ``Done(pages=...)`` carries)."""
    return {**dataclasses.asdict(page), "contacts": list(page.contacts)}


class PageSQL:
    """Statements over the ``pages`` table; each takes the caller's connection."""

    def __init__(self, dialect: str) -> None:
        self._upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def record(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Add pages within a unit of work; one already recorded (the same alert, tier and
        person) is kept."""
        if rows:
            statement = self._upsert(pages).on_conflict_do_nothing(index_elements=_KEY)
            conn.execute(statement, list(rows))

    async def of_alerts(self, conn: AsyncConnection, alert_ids: Sequence[int]) -> list[Page]:
        """The pages about the alerts, in the order they were paged."""
        if not alert_ids:
            return []
        rows = await conn.execute(
            select(pages)
            .where(pages.c.alert_id.in_(sorted(set(alert_ids))))
            .order_by(pages.c.paged_at, pages.c.id)
        )
        return [_page(row) for row in rows]

    async def between(
        self, conn: AsyncConnection, start: datetime, end: datetime
    ) -> list[tuple[Page, datetime | None]]:
        """Every page in ``[start, end)`` with when its alert was acknowledged (None: not
        yet), in the order they were paged."""
        rows = await conn.execute(
            select(pages, alerts.c.acknowledged_at)
            .join(alerts, alerts.c.id == pages.c.alert_id)
            .where(pages.c.paged_at >= start, pages.c.paged_at < end)
            .order_by(pages.c.paged_at, pages.c.id)
        )
        return [(_page(row), row.acknowledged_at) for row in rows]
