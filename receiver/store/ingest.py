"""The ingest transaction: a batch of webhooks → alert occurrences, events, webhook records.

This is the hot path (tens of thousands of alerts a second), so it speaks the driver's own SQL
with values prepared once per batch: SQLAlchemy's per-row bind processing cost more than
SQLite's own work here. Every other query goes through SQLAlchemy Core in ``store.py``; the
tables themselves are declared once, in ``tables.py``, and the schema test holds both to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy.engine import Connection

from receiver.model import AlertSnapshot, AlertStatus, EventKind, Notification, source_actor
from receiver.store.engine import binary_chunks, in_list, insert_rows
from receiver.store.rows import chunks

_T = TypeVar("_T")

# Rows per multi-row INSERT: 13 values a row stays far below SQLite's 32,766 and PostgreSQL's
# 32,767 bound-parameter limits.
_ROWS_PER_INSERT = 1000
# On SQLite, a power of two (see IngestSQL._insert_chunks).
_SQLITE_ROWS_PER_INSERT = 512
# Values per IN list.
_IN_CHUNK = 500

_ALERT_COLUMNS = (
    "fingerprint, starts_at, ends_at, status, alertname, severity, labels, annotations, "
    "generator_url, group_key, extra, first_seen_at, last_seen_at"
)
_ALERT_WIDTH = 13
_EVENTS_INSERT = "INSERT INTO alert_events (alert_id, kind, at, actor, request_id)"
_WEBHOOKS_INSERT = (
    "INSERT INTO webhooks (received_at, request_id, receiver, group_key, status, "
    "group_labels, alert_count, truncated_alerts, external_url, extra)"
)


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    """A validated webhook waiting to be committed, with the request that brought it."""

    notification: Notification
    request_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What one committed batch changed: occurrences created, resolved, and merely re-seen."""

    new_alert_ids: tuple[int, ...]
    resolved_alert_ids: tuple[int, ...]
    seen: int
    # Webhooks that Alertmanager cut short (truncatedAlerts > 0): their groups, to fetch whole.
    truncated: tuple[Notification, ...] = ()


@dataclass(slots=True)
class _Occurrence:
    """The merged state of one (fingerprint, startsAt) across every webhook of a batch."""

    snapshot: AlertSnapshot
    row: tuple[Any, ...]  # the alerts row to insert, should the occurrence be new
    request_id: str | None
    resolved: bool = False  # a snapshot of the batch said it ended
    resolved_request_id: str | None = None
    ends_at: datetime | None = None
    source: str = "alertmanager"  # who the history says fired it (model.source_actor)


@dataclass(frozen=True, slots=True)
class EncodedWebhook:
    """One webhook's SQL values (see ``IngestSQL.encode``)."""

    rows: tuple[tuple[Any, ...], ...]
    webhook_row: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch turned into SQL values, ready to execute (see ``IngestSQL.prepare``)."""

    occurrences: dict[tuple[str, datetime], _Occurrence]
    keys: list[tuple[str, datetime]]
    by_stored_key: dict[tuple[str, Any], tuple[str, datetime]]
    values: list[Any]
    webhook_rows: list[tuple[Any, ...]]
    stamp: Any
    truncated: tuple[Notification, ...] = ()


@dataclass(slots=True)
class _Stored:
    """What the batch needs to know of an occurrence already in the store."""

    id: int
    status: str
    annotations: Any
    generator_url: str


def merge(
    batch: Sequence[ReceivedWebhook], encoded: Sequence[EncodedWebhook]
) -> dict[tuple[str, datetime], _Occurrence]:
    """Fold every snapshot of the batch into one state per occurrence, in arrival order.

    An HA pair of Alertmanagers sends the same group twice, often into the same batch; a
    resolved snapshot wins over a firing one for the same occurrence, whatever the order,
    because a late webhook must never reopen what has ended. Otherwise the latest wins.
    """
    merged: dict[tuple[str, datetime], _Occurrence] = {}
    for item, enc in zip(batch, encoded, strict=True):
        source = source_actor(item.notification)  # the webhook's, for each of its alerts
        for snap, row in zip(item.notification.alerts, enc.rows, strict=True):
            key = (snap.fingerprint, snap.starts_at)
            occ = merged.get(key)
            if occ is None:
                occ = merged[key] = _Occurrence(snap, row, item.request_id, source=source)
            else:
                if occ.resolved:  # keep its end: status and ends_at
                    row = (*row[:2], occ.row[2], occ.row[3], *row[4:])
                occ.snapshot = snap
                occ.row = row
            if snap.status is AlertStatus.RESOLVED and not occ.resolved:
                occ.resolved = True
                occ.resolved_request_id = item.request_id
                occ.ends_at = snap.ends_at
    return merged


def _same(dt: datetime) -> datetime:
    return dt


def sqlite_time(dt: datetime) -> str:
    """SQLAlchemy's SQLite storage format for UTC times (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    if dt.utcoffset():
        dt = dt.astimezone(UTC)
    text = dt.replace(tzinfo=None).isoformat(" ")
    # isoformat leaves out a zero fraction; the stored text always has one, so it sorts right.
    return text if dt.microsecond else text + ".000000"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class IngestSQL:
    """The ingest statements for one dialect (SQLite or PostgreSQL)."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        # SQLite keeps times as text in SQLAlchemy's storage format (what tables.UTCDateTime
        # reads back); PostgreSQL takes the aware datetime itself.
        self.time: Callable[[datetime], Any] = _same if self.postgres else sqlite_time

    def _marks(self, rows: int, width: int, start: int = 1) -> str:
        if self.postgres:
            groups = (
                "(" + ", ".join(f"${start + r * width + c}" for c in range(width)) + ")"
                for r in range(rows)
            )
        else:
            row = "(" + ", ".join("?" * width) + ")"
            groups = (row for _ in range(rows))
        return ", ".join(groups)

    def _mark(self, n: int) -> str:
        return f"${n}" if self.postgres else "?"

    def encode(self, item: ReceivedWebhook) -> EncodedWebhook:
        """One webhook as SQL values: its alert rows (in ``alerts`` order) and its own row.

        Pure CPU, done in the webhook's own request, so it overlaps the commit in flight
        instead of lengthening the next one.
        """
        time = self.time
        dumps = _dumps
        n = item.notification
        seen = time(item.received_at)
        firing, resolved = AlertStatus.FIRING.value, AlertStatus.RESOLVED.value
        times: dict[datetime, Any] = {}  # alerts of one rule evaluation share their startsAt
        rows = []
        for snap in n.alerts:
            starts = times.get(snap.starts_at)
            if starts is None:
                starts = times[snap.starts_at] = time(snap.starts_at)
            labels = snap.labels
            is_resolved = snap.status is AlertStatus.RESOLVED
            rows.append(
                (
                    snap.fingerprint,
                    starts,
                    (time(snap.ends_at) if snap.ends_at else seen) if is_resolved else None,
                    resolved if is_resolved else firing,
                    labels.get("alertname", "")[:256],
                    labels.get("severity", "")[:64],
                    dumps(labels),
                    dumps(snap.annotations),
                    snap.generator_url,
                    n.group_key,
                    dumps(snap.extra) if snap.extra else None,
                    seen,
                    seen,
                )
            )
        webhook_row = (
            seen,
            item.request_id,
            n.receiver,
            n.group_key,
            n.status.value,
            dumps(n.group_labels),
            len(n.alerts),
            n.truncated_alerts,
            n.external_url,
            dumps(n.extra) if n.extra else None,
        )
        return EncodedWebhook(tuple(rows), webhook_row)

    def prepare(
        self,
        batch: Sequence[ReceivedWebhook],
        now: datetime,
        encoded: Sequence[EncodedWebhook] | None = None,
    ) -> PreparedBatch:
        """Merge a batch's webhooks (``encoded`` in the same order, or encoded here) into the
        values of one transaction."""
        if encoded is None:
            encoded = [self.encode(item) for item in batch]
        occurrences = merge(batch, encoded)
        # One insert order on PostgreSQL, so concurrent replicas cannot deadlock; SQLite has a
        # single writer and is spared the sort.
        keys = sorted(occurrences) if self.postgres else list(occurrences)
        by_stored_key: dict[tuple[str, Any], tuple[str, datetime]] = {}
        values: list[Any] = []
        for key in keys:
            row = occurrences[key].row
            by_stored_key[(row[0], row[1])] = key
            values += row
        webhook_rows = [e.webhook_row for e in encoded]
        truncated = tuple(
            item.notification for item in batch if item.notification.truncated_alerts > 0
        )
        return PreparedBatch(
            occurrences, keys, by_stored_key, values, webhook_rows, self.time(now), truncated
        )

    def execute(self, conn: Connection, prepared: PreparedBatch) -> IngestOutcome:
        """Store a prepared batch in the caller's transaction (a unit of work: see
        ``Connections.unit``).

        New occurrences are inserted first (``ON CONFLICT DO NOTHING``); only those that
        already existed are looked up, locked on PostgreSQL, and updated. An occurrence only
        ever moves from firing to resolved.
        """
        occurrences = prepared.occurrences
        stamp = prepared.stamp
        inserted = self._insert_new(conn, prepared)
        existing = self._lock_existing(conn, [key for key in occurrences if key not in inserted])
        resolved = self._update_existing(conn, occurrences, existing, stamp)
        events: list[tuple[Any, ...]] = []
        fired, resolved_kind = EventKind.FIRED.value, EventKind.RESOLVED.value
        for key, alert_id in inserted.items():
            occ = occurrences[key]
            events.append((alert_id, fired, stamp, occ.source, occ.request_id))
            if occ.resolved:
                events.append((alert_id, resolved_kind, stamp, occ.source, occ.resolved_request_id))
        for alert_id, (request_id, source) in resolved.items():
            events.append((alert_id, resolved_kind, stamp, source, request_id))
        if events:
            self._append(conn, _EVENTS_INSERT, events)
        self._append(conn, _WEBHOOKS_INSERT, prepared.webhook_rows)
        return IngestOutcome(
            new_alert_ids=tuple(sorted(inserted.values())),
            resolved_alert_ids=tuple(sorted(resolved)),
            seen=len(existing),
            truncated=prepared.truncated,
        )

    def _append(self, conn: Connection, head: str, rows: Sequence[Sequence[Any]]) -> None:
        """``rows`` into the table ``head`` names: on SQLite as few multi-row INSERTs (one
        step of SQLite's each, not one per row), on PostgreSQL as the driver's executemany."""
        if self.postgres:
            marks = ", ".join(self._mark(i) for i in range(1, len(rows[0]) + 1))
            conn.exec_driver_sql(f"{head} VALUES ({marks})", list(rows))
        else:
            insert_rows(conn, head, rows)

    def _insert_chunks(self, rows: Sequence[_T]) -> Iterable[Sequence[_T]]:
        """The multi-row INSERTs a batch's rows go in. On SQLite each number of rows is a
        statement of its own that the writer keeps prepared, ~1.7 KiB a row: one for every
        batch size seen held 11 MiB after 90 s of a soak, and more with every larger batch.
        Sizes that are powers of two (37 rows: 32, 4, 1) keep ten statements, 1.7 MiB."""
        if self.postgres:
            return chunks(rows, _ROWS_PER_INSERT)
        return binary_chunks(rows, _SQLITE_ROWS_PER_INSERT)

    def _insert_new(
        self, conn: Connection, prepared: PreparedBatch
    ) -> dict[tuple[str, datetime], int]:
        """Insert every occurrence not yet stored; returns the keys and ids it inserted."""
        inserted: dict[tuple[str, datetime], int] = {}
        width = _ALERT_WIDTH
        values, by_stored_key = prepared.values, prepared.by_stored_key
        for chunk in self._insert_chunks(range(len(prepared.keys))):
            params = values[chunk[0] * width : (chunk[-1] + 1) * width]
            result = conn.exec_driver_sql(
                f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES {self._marks(len(chunk), width)} "
                "ON CONFLICT (fingerprint, starts_at) DO NOTHING "
                "RETURNING id, fingerprint, starts_at",
                tuple(params),
            )
            rows: Sequence[Any] = result.all()
            for row in rows:
                inserted[by_stored_key[(row[1], row[2])]] = row[0]
        return inserted

    def _lock_existing(
        self, conn: Connection, keys: list[tuple[str, datetime]]
    ) -> dict[tuple[str, datetime], _Stored]:
        """Stored occurrences for ``keys``; locked in id order on PostgreSQL until commit."""
        found: dict[tuple[str, datetime], _Stored] = {}
        if not keys:
            return found
        wanted = {(fp, self.time(starts)): (fp, starts) for fp, starts in keys}
        earliest = self.time(min(starts for _, starts in keys))
        fingerprints = sorted({fp for fp, _ in keys})
        for chunk in chunks(fingerprints, _IN_CHUNK):
            if self.postgres:
                # NO KEY UPDATE, as the UPDATEs below take (they change no key): it keeps
                # concurrent batches apart but, unlike FOR UPDATE, lets the job runner insert
                # events and notifications about these alerts meanwhile (their foreign keys
                # take KEY SHARE). With FOR UPDATE a runner inserting rows for alerts in
                # another order than id deadlocked with a webhook.
                sql = (
                    "SELECT id, fingerprint, starts_at, status, annotations, generator_url "
                    "FROM alerts WHERE fingerprint = ANY($1) AND starts_at >= $2 "
                    "ORDER BY id FOR NO KEY UPDATE"
                )
                params: tuple[Any, ...] = (list(chunk), earliest)
            else:
                padded = in_list(chunk)  # a few statements, not one per length
                sql = (
                    "SELECT id, fingerprint, starts_at, status, annotations, generator_url "
                    f"FROM alerts WHERE fingerprint IN ({', '.join('?' * len(padded))}) "
                    "AND starts_at >= ?"
                )
                params = (*padded, earliest)
            stored_rows: Sequence[Any] = (conn.exec_driver_sql(sql, params)).all()
            for row in stored_rows:
                key = wanted.get((row[1], row[2]))
                if key is not None:
                    found[key] = _Stored(
                        id=row[0], status=row[3], annotations=row[4], generator_url=row[5]
                    )
        return found

    def _update_existing(
        self,
        conn: Connection,
        occurrences: Mapping[tuple[str, datetime], _Occurrence],
        existing: Mapping[tuple[str, datetime], _Stored],
        stamp: Any,
    ) -> dict[int, tuple[str | None, str]]:
        """Move last_seen_at, refresh changed annotations, resolve what Alertmanager resolved.

        Returns the ids this batch resolved, with the request that resolved each and its source.
        """
        if not existing:
            return {}
        m = self._mark
        changed: list[tuple[Any, ...]] = []
        resolving: list[tuple[Any, ...]] = []
        resolved: dict[int, tuple[str | None, str]] = {}
        for key, stored in existing.items():
            occ = occurrences[key]
            snap = occ.snapshot
            if occ.resolved and stored.status == AlertStatus.FIRING:
                ends = self.time(occ.ends_at) if occ.ends_at else stamp
                resolving.append((AlertStatus.RESOLVED.value, ends, stored.id))
                resolved[stored.id] = (occ.resolved_request_id, occ.source)
            annotations = stored.annotations
            if isinstance(annotations, str):
                annotations = json.loads(annotations)
            if annotations != snap.annotations or stored.generator_url != snap.generator_url:
                changed.append((_dumps(snap.annotations), snap.generator_url, stored.id))
        ids = sorted(stored.id for stored in existing.values())
        for chunk in chunks(ids, _IN_CHUNK):
            padded = in_list(chunk)  # a few statements, not one per length
            marks = ", ".join(m(i + 2) for i in range(len(padded)))
            conn.exec_driver_sql(
                f"UPDATE alerts SET last_seen_at = {m(1)} WHERE id IN ({marks})",
                (stamp, *padded),
            )
        if changed:
            conn.exec_driver_sql(
                f"UPDATE alerts SET annotations = {m(1)}, generator_url = {m(2)} WHERE id = {m(3)}",
                changed,
            )
        if resolving:
            # The rows are locked (PostgreSQL) or this is the only writer (SQLite), so the
            # status read above still holds; the guard keeps it so regardless.
            conn.exec_driver_sql(
                f"UPDATE alerts SET status = {m(1)}, ends_at = {m(2)} "
                f"WHERE id = {m(3)} AND status = 'firing'",
                resolving,
            )
        return resolved
