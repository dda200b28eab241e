"""Queries over the store. Every SQL statement Firebreak runs on alerts lives here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from receiver.errors import Conflict, NotFound, StoreUnavailable
from receiver.model import (
    Actor,
    Alert,
    AlertCounts,
    AlertEvent,
    AlertPage,
    AlertQuery,
    AlertStatus,
    EventKind,
    ManualPage,
    NewJob,
    Page,
    RaisedPage,
)
from receiver.store import listing
from receiver.store.bulk import BulkInsert
from receiver.store.connections import CONFLICT_ATTEMPTS, Connections, is_conflict
from receiver.store.engine import in_list, json_loads
from receiver.store.heartbeats import HeartbeatSQL
from receiver.store.ingest import EncodedWebhook, IngestOutcome, IngestSQL, ReceivedWebhook
from receiver.store.jobs import JobQueue
from receiver.store.listing import (
    ALERT_COLUMNS,
    SQLITE_ALERTS,
    alert_from_columns,
    alert_from_row,
    alert_from_sqlite,
    sqlite_rows_by_ids,
)
from receiver.store.manual_pages import ManualPageSQL
from receiver.store.pages import PageSQL
from receiver.store.tables import (
    alert_events,
    alert_routes,
    alerts,
    notifications,
    sqlite_time_reader,
    webhooks,
)

log = logging.getLogger("firebreak.store")

# SQLite allows 32,766 bound parameters per statement; this keeps every IN list well below it.
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AlertOverview:
    """What a listing shows beside an alert: the highest escalation tier notified (0 is the
    first) and whether a person silenced it in Alertmanager."""

    tier: int | None = None
    silenced: bool = False


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


_STATUSES = {status.value: status for status in AlertStatus}

# Escalation reads alerts by id on every turn: these statements are built once (see JobQueue).
_BY_IDS = alerts.c.id.in_(bindparam("b_ids", expanding=True))
_ALERTS_BY_IDS = select(*ALERT_COLUMNS).where(_BY_IDS)
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
_STATES = select(*_STATE_COLUMNS).where(_BY_IDS).order_by(alerts.c.id)
_STATES_WITH_LABELS = select(*_STATE_COLUMNS, alerts.c.labels).where(_BY_IDS).order_by(alerts.c.id)
# The same on SQLite, read through the driver (see ``listing.sqlite_rows_by_ids``).
_SQLITE_STATE_COLUMNS = ", ".join(f"alerts.{c.name}" for c in _STATE_COLUMNS)
_SQLITE_STATES = (
    f"SELECT {_SQLITE_STATE_COLUMNS} FROM alerts WHERE alerts.id IN ({{marks}}) ORDER BY alerts.id"
)
_SQLITE_STATES_WITH_LABELS = (
    f"SELECT {_SQLITE_STATE_COLUMNS}, alerts.labels FROM alerts WHERE alerts.id IN ({{marks}}) "
    "ORDER BY alerts.id"
)
_read_time = sqlite_time_reader()


# The job runner's rows on SQLite, a few for every alert routed and notified (store/bulk.py).
_ROUTE_KEY = ("alert_id", "route")
_EVENTS = BulkInsert(alert_events)
_SENT = BulkInsert(notifications)
_ROUTES = BulkInsert(alert_routes, on_conflict=_ROUTE_KEY)

_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int = _IN_CHUNK) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store(Connections):
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

    async def alerts_with_ids(self, ids: Sequence[int]) -> dict[int, Alert]:
        """The alerts among ``ids`` that exist, by id."""
        found: dict[int, Alert] = {}
        async with self._connection() as conn:
            for chunk in _chunks(sorted(set(ids))):
                for alert in await self.alerts_by_ids(conn, chunk):
                    found[alert.id] = alert
        return found

    async def get_alert(self, alert_id: int) -> Alert:
        async with self._connection() as conn:
            row = (
                await conn.execute(select(*ALERT_COLUMNS).where(alerts.c.id == alert_id))
            ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return alert_from_row(row)

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
            for chunk in _chunks(sorted(set(fingerprints))):
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

    # -- escalation ---------------------------------------------------------------------------

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
        found: dict[int, AlertState] = {}
        if self.dialect == "sqlite":
            read_time = _read_time
            sql = _SQLITE_STATES_WITH_LABELS if with_labels else _SQLITE_STATES
            for row in sqlite_rows_by_ids(conn, sql, sorted(ids)):
                alert_id, status, acked, snoozed, group_key, starts, ends, first_seen = row[:8]
                # Positional, in AlertState's field order: a quarter cheaper than keywords.
                found[alert_id] = AlertState(
                    alert_id,
                    _STATUSES[status],
                    read_time(acked),
                    read_time(snoozed),
                    group_key,
                    read_time(starts),  # type: ignore[arg-type]  # NOT NULL
                    read_time(ends),
                    json_loads(row[8]) if with_labels else {},
                    read_time(first_seen),  # type: ignore[arg-type]  # NOT NULL
                )
            return found
        statement = _STATES_WITH_LABELS if with_labels else _STATES
        for chunk in _chunks(sorted(ids)):
            _add_states(found, conn.execute(statement, {"b_ids": in_list(chunk)}), with_labels)
        return found

    async def alerts_by_ids(self, conn: AsyncConnection, ids: Sequence[int]) -> list[Alert]:
        return await conn.run_sync(self.alerts_by_ids_in, ids)

    def alerts_by_ids_in(self, conn: Connection, ids: Sequence[int]) -> list[Alert]:
        """``alerts_by_ids`` over a synchronous connection (the job runner's turn)."""
        if self.dialect == "sqlite":
            return [alert_from_sqlite(row) for row in sqlite_rows_by_ids(conn, SQLITE_ALERTS, ids)]
        return [
            alert_from_columns(row)
            for chunk in _chunks(ids)
            for row in conn.execute(_ALERTS_BY_IDS, {"b_ids": in_list(chunk)})
        ]

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

    async def claim_manual_page(
        self, page: ManualPage, raised_by: str, at: datetime
    ) -> tuple[RaisedPage, bool]:
        """Record a page raised by hand under its key, committed when this returns; a key seen
        before answers what was recorded then (see ``ManualPageSQL.claim``)."""
        async with self._connection(write=True) as conn:
            return await self.manual_pages.claim(conn, page, raised_by, at)

    async def raised_page(self, alert_id: int) -> RaisedPage | None:
        """The page an alert was raised by, when it was raised by hand."""
        async with self._connection() as conn:
            return await self.manual_pages.of_alert(conn, alert_id)

    async def alert_pages(self, alert_id: int) -> list[Page]:
        """The people tiers paged about an alert, first paged first."""
        async with self._connection() as conn:
            return await self.pages.of_alerts(conn, [alert_id])

    async def sent_notifications(self, alert_id: int) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            rows = await conn.execute(
                select(notifications)
                .where(notifications.c.alert_id == alert_id)
                .order_by(notifications.c.id)
            )
            return [dict(row._mapping) for row in rows]

    async def escalation_overview(self, alert_ids: Sequence[int]) -> dict[int, AlertOverview]:
        """For a listing: the highest tier each alert's escalation notified, and whether a
        person silenced it in Alertmanager."""
        found = {alert_id: AlertOverview() for alert_id in alert_ids}
        async with self._connection() as conn:
            for chunk in _chunks(sorted(found)):
                ids = in_list(chunk)
                tiers = await conn.execute(
                    select(notifications.c.alert_id, func.max(notifications.c.tier))
                    .where(notifications.c.alert_id.in_(ids), notifications.c.tier.is_not(None))
                    .group_by(notifications.c.alert_id)
                )
                for alert_id, tier in tiers:
                    found[alert_id] = AlertOverview(tier=tier)
                silenced = await conn.execute(
                    select(alert_events.c.alert_id)
                    .where(
                        alert_events.c.alert_id.in_(ids),
                        alert_events.c.kind == EventKind.SILENCED.value,
                    )
                    .distinct()
                )
                for (alert_id,) in silenced:
                    found[alert_id] = AlertOverview(tier=found[alert_id].tier, silenced=True)
        return found

    # -- actions by people --------------------------------------------------------------------

    async def acknowledge(
        self,
        alert_id: int,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Acknowledge a firing alert, enqueueing ``then`` with it. Repeating it changes
        nothing; a resolved alert conflicts."""
        changed, alert = await self._act(
            alert_id,
            update(alerts)
            .where(alerts.c.status == AlertStatus.FIRING, alerts.c.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=actor.name),
            _event_row(alert_id, EventKind.ACKNOWLEDGED, now, request_id, actor, note),
            then,
            now,
        )
        if not changed and alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert_id} is resolved; there is nothing to acknowledge")
        return alert

    async def acknowledge_many(
        self,
        alert_ids: Sequence[int],
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``acknowledge`` for many alerts in one transaction: one guarded UPDATE (and one
        INSERT of their events) per 500 alerts, not a statement each. Returns the ids it
        acknowledged, and every alert of ``alert_ids`` found as it now is (an id missing there
        does not exist). ``then(acknowledged ids)`` is enqueued with them."""
        return await self._act_many(
            alert_ids,
            {"acknowledged_at": now, "acknowledged_by": actor.name},
            _event_row(0, EventKind.ACKNOWLEDGED, now, request_id, actor, note),
            then,
            now,
            alerts.c.acknowledged_at.is_(None),
        )

    async def resolve(
        self,
        alert_id: int,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Resolve a firing alert by hand, enqueueing ``then`` with it. Resolving a resolved
        alert changes nothing."""
        _changed, alert = await self._act(
            alert_id,
            update(alerts)
            .where(alerts.c.status == AlertStatus.FIRING)
            .values(status=AlertStatus.RESOLVED, ends_at=now, resolved_by=actor.name),
            _event_row(alert_id, EventKind.MANUALLY_RESOLVED, now, request_id, actor, note),
            then,
            now,
        )
        return alert

    async def snooze(
        self,
        alert_id: int,
        until: datetime,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Put off a firing alert's next escalation tier until ``until``."""
        changed, alert = await self._act(
            alert_id,
            update(alerts).where(alerts.c.status == AlertStatus.FIRING).values(snoozed_until=until),
            _event_row(alert_id, EventKind.SNOOZED, now, request_id, actor, note),
            then,
            now,
        )
        if not changed:
            raise Conflict(f"alert {alert_id} is resolved; there is nothing to snooze")
        return alert

    async def add_event(
        self,
        alert_id: int,
        kind: EventKind,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
    ) -> None:
        """Append one entry to an existing alert's history (an action that changes no state,
        such as a silence created or an action refused)."""
        async with self._connection(write=True) as conn:
            found = (await conn.execute(select(alerts.c.id).where(alerts.c.id == alert_id))).first()
            if found is None:
                raise NotFound(f"alert {alert_id} does not exist")
            await conn.execute(
                insert(alert_events), [_event_row(alert_id, kind, now, request_id, actor, note)]
            )

    async def _act(
        self,
        alert_id: int,
        guarded_update: Any,
        event: dict[str, Any],
        then: Sequence[NewJob] = (),
        now: datetime | None = None,
    ) -> tuple[bool, Alert]:
        """Apply a state change whose WHERE clause says when it is allowed, record the event
        (and enqueue ``then``) only if it applied, and return whether it did with the alert as
        it now is. The guard makes a race (acknowledge against resolve) settle in the
        database, never backwards."""
        async with self._connection(write=True) as conn:
            result = await conn.execute(guarded_update.where(alerts.c.id == alert_id))
            changed = result.rowcount == 1
            if changed:
                await conn.execute(insert(alert_events), [event])
                if then and now is not None:
                    await self.jobs.enqueue(conn, then, now)
            row = (
                await conn.execute(select(*ALERT_COLUMNS).where(alerts.c.id == alert_id))
            ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return changed, alert_from_row(row)

    async def resolve_many(
        self,
        alert_ids: Sequence[int],
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``resolve`` for many alerts in one transaction, as ``acknowledge_many``: the ids it
        resolved, and every alert of ``alert_ids`` found as it now is."""
        return await self._act_many(
            alert_ids,
            {"status": AlertStatus.RESOLVED, "ends_at": now, "resolved_by": actor.name},
            _event_row(0, EventKind.MANUALLY_RESOLVED, now, request_id, actor, note),
            then,
            now,
        )

    async def snooze_many(
        self,
        alert_ids: Sequence[int],
        until: datetime,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``snooze`` for many alerts in one transaction, as ``acknowledge_many``: the ids it
        snoozed (those found and not snoozed are resolved), and every alert found."""
        return await self._act_many(
            alert_ids,
            {"snoozed_until": until},
            _event_row(0, EventKind.SNOOZED, now, request_id, actor, note),
            then,
            now,
        )

    async def _act_many(
        self,
        alert_ids: Sequence[int],
        values: Mapping[str, Any],
        event: Mapping[str, Any],
        then: Callable[[list[int]], Sequence[NewJob]],
        now: datetime,
        *guard: Any,
    ) -> tuple[list[int], dict[int, Alert]]:
        """``values`` set on the firing alerts of ``alert_ids`` (that meet ``guard`` too) by
        one guarded UPDATE (and
        ``event`` recorded for each by one INSERT) per 500 alerts, ``then(changed ids)``
        enqueued with them; returns the ids changed and the alerts found as they now are."""
        ids = list(dict.fromkeys(alert_ids))

        def work(conn: Connection) -> tuple[list[int], dict[int, Alert]]:
            changed: list[int] = []
            for chunk in _chunks(ids):
                result = conn.execute(
                    update(alerts)
                    .where(
                        alerts.c.id.in_(in_list(chunk)),
                        alerts.c.status == AlertStatus.FIRING,
                        *guard,
                    )
                    .values(**values)
                    .returning(alerts.c.id)
                )
                changed += sorted(row.id for row in result)
            if changed:
                conn.execute(insert(alert_events), [{**event, "alert_id": i} for i in changed])
                self.jobs.enqueue_in(conn, then(changed), now)
            found: dict[int, Alert] = {}
            for chunk in _chunks(ids):
                for row in conn.execute(_ALERTS_BY_IDS, {"b_ids": in_list(chunk)}):
                    found[row.id] = alert_from_row(row)
            return changed, found

        return await self.unit(work)


def _add_states(found: dict[int, AlertState], rows: Iterable[Any], with_labels: bool) -> None:
    for row in rows:
        # By position (_STATE_COLUMNS' order), a fraction of the cost of by name.
        alert_id, status, acked, snoozed, group_key, starts, ends, first_seen = row[:8]
        found[alert_id] = AlertState(
            id=alert_id,
            status=_STATUSES[status],
            acknowledged_at=acked,
            snoozed_until=snoozed,
            group_key=group_key,
            starts_at=starts,
            ends_at=ends,
            labels=row[8] if with_labels else {},
            first_seen_at=first_seen,
        )


def _bind(name: str) -> Any:
    return bindparam(name)


def _event_row(
    alert_id: int,
    kind: EventKind,
    at: datetime,
    request_id: str | None,
    actor: Actor | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": kind,
        "at": at,
        "actor": f"{actor.interface}:{actor.name}" if actor else "alertmanager",
        "note": note,
        "request_id": request_id,
    }
