"""``Store``, the SQL store behind every service: the connections (``connections.py``) and the
statements over alerts, each family in a module of its own (``states.py``: reads by id;
``history.py``: what was done about alerts; ``actions.py``: what people do to them;
``listing.py``: the listing). What stays here is the webhooks' group commit and the single
reads of alerts services make. docs/architecture.md has the package's map."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from receiver.errors import NotFound, StoreUnavailable
from receiver.model import (
    Alert,
    AlertCounts,
    AlertPage,
    AlertQuery,
    AlertStatus,
    ManualPage,
    NewJob,
    RaisedPage,
)
from receiver.store import listing
from receiver.store.actions import AlertActions
from receiver.store.connections import CONFLICT_ATTEMPTS, is_conflict
from receiver.store.engine import in_list
from receiver.store.heartbeats import HeartbeatSQL
from receiver.store.history import AlertHistory
from receiver.store.ingest import EncodedWebhook, IngestOutcome, IngestSQL, ReceivedWebhook
from receiver.store.jobs import JobQueue
from receiver.store.listing import AlertOverview
from receiver.store.manual_pages import ManualPageSQL
from receiver.store.pages import PageSQL
from receiver.store.rows import ALERT_COLUMNS, alert_from_row, chunks
from receiver.store.states import AlertState, AlertStates
from receiver.store.tables import alerts, webhooks

# What callers import from here.
__all__ = ["AlertState", "ReceivedWebhook", "Store"]

log = logging.getLogger("firebreak.store")


class Store(AlertStates, AlertHistory, AlertActions):
    """The SQL store behind every service. Database trouble surfaces as ``StoreUnavailable``."""

    def __init__(self, engine: AsyncEngine, *, sqlite_synchronous: str = "full") -> None:
        super().__init__(engine, sqlite_synchronous=sqlite_synchronous)
        self._ingest = IngestSQL(self.dialect)
        self.pages = PageSQL(self.dialect)
        self.heartbeats = HeartbeatSQL(self.dialect)
        self.manual_pages = ManualPageSQL(self.dialect)
        self.jobs = JobQueue(self.dialect)

    # -- ingest -------------------------------------------------------------------------------

    def encode_webhook(self, item: ReceivedWebhook) -> EncodedWebhook:
        """The database-free part of storing one webhook: run it in the webhook's request."""
        return self._ingest.encode(item)

    async def ingest(
        self,
        batch: Sequence[ReceivedWebhook],
        now: datetime,
        encoded: Sequence[EncodedWebhook] | None = None,
        outbox: Callable[[IngestOutcome, datetime], Sequence[NewJob]] | None = None,
    ) -> IngestOutcome:
        """Store a batch of webhooks in one transaction: all of them or none. The jobs
        ``outbox`` derives from what changed are enqueued in that same transaction."""
        prepared = self._ingest.prepare(batch, now, encoded)

        def commit(conn: Connection) -> IngestOutcome:
            outcome = self._ingest.execute(conn, prepared)
            if outbox is not None:
                self.jobs.enqueue_in(conn, outbox(outcome, now), now)
            return outcome

        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await self.unit(commit)
            except (DBAPIError, StoreUnavailable) as exc:
                # PostgreSQL broke a deadlock or a serialization conflict by rolling this
                # transaction back: run it again rather than answer Alertmanager 503.
                if attempt == CONFLICT_ATTEMPTS or not is_conflict(exc):
                    raise
                log.warning("ingest transaction rolled back by a conflict; running it again")
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reads --------------------------------------------------------------------------------

    async def list_alerts(self, query: AlertQuery) -> AlertPage:
        """A page of the alerts ``query`` selects, in its order (see ``store.listing``)."""
        async with self._connection() as conn:
            return await listing.list_alerts(conn, query)

    async def count_alerts(self, query: AlertQuery, now: datetime) -> AlertCounts:
        """How many alerts ``query`` selects, by severity and by state at ``now``."""
        async with self._connection() as conn:
            return await listing.count_alerts(conn, query, now)

    async def get_alert(self, alert_id: int) -> Alert:
        async with self._connection() as conn:
            row = (
                await conn.execute(select(*ALERT_COLUMNS).where(alerts.c.id == alert_id))
            ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return alert_from_row(row)

    async def count_firing_by_severity(self) -> dict[str, int]:
        async with self._connection() as conn:
            rows = await conn.execute(
                select(alerts.c.severity, func.count())
                .where(alerts.c.status == AlertStatus.FIRING)
                .group_by(alerts.c.severity)
            )
            return {row[0]: row[1] for row in rows}

    async def last_webhook_at(self) -> datetime | None:
        async with self._connection() as conn:
            latest: datetime | None = (
                await conn.execute(select(func.max(webhooks.c.received_at)))
            ).scalar()
            return latest

    async def last_seen_firing(self, alertname: str) -> datetime | None:
        """When a firing alert called ``alertname`` last arrived (the dead man's switch);
        None when none is firing. Only firing rows are read, so this stays cheap."""
        async with self._connection() as conn:
            latest: datetime | None = (
                await conn.execute(
                    select(func.max(alerts.c.last_seen_at)).where(
                        alerts.c.status == AlertStatus.FIRING, alerts.c.alertname == alertname
                    )
                )
            ).scalar()
            return latest

    async def firing_occurrences(
        self, *, group_key: str | None = None, exclude_group_keys: Sequence[str] = ()
    ) -> list[Alert]:
        """Firing occurrences: of one group, or all but those of some (Firebreak's own)."""
        stmt = select(alerts).where(alerts.c.status == AlertStatus.FIRING)
        if group_key is not None:
            stmt = stmt.where(alerts.c.group_key == group_key)
        if exclude_group_keys:
            stmt = stmt.where(alerts.c.group_key.not_in(list(exclude_group_keys)))
        async with self._connection() as conn:
            return [alert_from_row(row) for row in await conn.execute(stmt)]

    async def occurrence_starts(self, fingerprints: Iterable[str]) -> dict[str, list[datetime]]:
        """The startsAt of every stored occurrence of these fingerprints, in any state."""
        found: dict[str, list[datetime]] = {}
        async with self._connection() as conn:
            for chunk in chunks(sorted(set(fingerprints))):
                rows = await conn.execute(
                    select(alerts.c.fingerprint, alerts.c.starts_at).where(
                        alerts.c.fingerprint.in_(in_list(chunk))
                    )
                )
                for fingerprint, starts_at in rows:
                    found.setdefault(fingerprint, []).append(starts_at)
        return found

    async def find_occurrence(self, fingerprint: str, starts_at: datetime) -> int | None:
        """The id of the occurrence of ``fingerprint`` that started at ``starts_at``, if stored."""
        async with self._connection() as conn:
            found: int | None = (
                await conn.execute(
                    select(alerts.c.id).where(
                        alerts.c.fingerprint == fingerprint, alerts.c.starts_at == starts_at
                    )
                )
            ).scalar()
            return found

    async def escalation_overview(self, alert_ids: Sequence[int]) -> dict[int, AlertOverview]:
        """For a listing: the highest tier each alert's escalation notified, and whether a
        person silenced it in Alertmanager (see ``store.listing``)."""
        async with self._connection() as conn:
            return await listing.escalation_overview(conn, alert_ids)

    async def claim_manual_page(
        self, page: ManualPage, raised_by: str, at: datetime
    ) -> tuple[RaisedPage, bool]:
        """Record a page raised by hand under its key, committed when this returns; a key seen
        before answers what was recorded then (see ``ManualPageSQL.claim``)."""
        async with self._connection(write=True) as conn:
            return await self.manual_pages.claim(conn, page, raised_by, at)
