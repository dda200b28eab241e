"""Pages raised by hand: claimed by their key before their alert is ingested, read back for
the alert's page and by escalation for whom the page is for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import MANUAL_GROUP_KEY, ManualPage, PageTarget, RaisedPage
from receiver.store.tables import alerts, manual_pages


def _target(text: str) -> PageTarget | None:
    kind, _, ident = text.partition(":")
    return PageTarget(kind, ident) if ident else None


def _raised(row: Any) -> RaisedPage:
    page = ManualPage(
        row.key, row.title, row.details, row.severity, dict(row.labels), _target(row.target)
    )
    return RaisedPage(page, row.raised_by, row.raised_at)


class ManualPageSQL:
    """Statements over the ``manual_pages`` table; each takes the caller's connection."""

    def __init__(self, dialect: str) -> None:
        self._upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def claim(
        self, conn: AsyncConnection, page: ManualPage, raised_by: str, at: datetime
    ) -> tuple[RaisedPage, bool]:
        """The page recorded under ``page.key``, and whether this call recorded it: a key seen
        before keeps what was recorded first (a retry, or the same page sent twice at once)."""
        row = {
            "key": page.key,
            "fingerprint": page.fingerprint,
            "raised_at": at,
            "raised_by": raised_by,
            "target": str(page.target) if page.target else "",
            "title": page.title,
            "details": page.details,
            "severity": page.severity,
            "labels": dict(page.labels),
        }
        statement = self._upsert(manual_pages).on_conflict_do_nothing(index_elements=["key"])
        inserted = (await conn.execute(statement, row)).rowcount == 1
        found = (
            await conn.execute(select(manual_pages).where(manual_pages.c.key == page.key))
        ).one()
        return _raised(found), inserted

    async def targets(
        self, conn: AsyncConnection, alert_ids: Sequence[int]
    ) -> dict[int, PageTarget]:
        """Whom each of the alerts, where raised by hand for someone, is for."""
        if not alert_ids:
            return {}
        rows = await conn.execute(
            select(alerts.c.id, manual_pages.c.target)
            .join(manual_pages, manual_pages.c.fingerprint == alerts.c.fingerprint)
            .where(
                alerts.c.id.in_(sorted(set(alert_ids))),
                alerts.c.group_key == MANUAL_GROUP_KEY,
                manual_pages.c.target != "",
            )
        )
        return {row.id: target for row in rows if (target := _target(row.target)) is not None}

    async def of_alert(self, conn: AsyncConnection, alert_id: int) -> RaisedPage | None:
        """The page an alert was raised by, when it was raised by hand."""
        row = (
            await conn.execute(
                select(manual_pages)
                .join(alerts, manual_pages.c.fingerprint == alerts.c.fingerprint)
                .where(alerts.c.id == alert_id, alerts.c.group_key == MANUAL_GROUP_KEY)
            )
        ).first()
        return _raised(row) if row is not None else None
