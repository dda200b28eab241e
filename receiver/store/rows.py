"""Alerts' rows read back into ``Alert``s: the columns every read of whole alerts selects, the
decoders of their rows (through SQLAlchemy, or SQLite's driver for the hot reads by id), and
reads by id a few hundred at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from receiver.model import Alert, AlertStatus
from receiver.store.engine import in_list, json_loads
from receiver.store.tables import alerts, sqlite_time_reader

ALERT_COLUMNS = (
    alerts.c.id,
    alerts.c.fingerprint,
    alerts.c.status,
    alerts.c.labels,
    alerts.c.annotations,
    alerts.c.starts_at,
    alerts.c.ends_at,
    alerts.c.first_seen_at,
    alerts.c.last_seen_at,
    alerts.c.acknowledged_at,
    alerts.c.acknowledged_by,
    alerts.c.resolved_by,
    alerts.c.generator_url,
    alerts.c.group_key,
    alerts.c.snoozed_until,
    alerts.c.extra,
)


# A stored status by its value: one dict lookup, cheaper than ``AlertStatus(value)``.
STATUSES = {status.value: status for status in AlertStatus}


def alert_from_columns(row: Any) -> Alert:
    """``alert_from_row`` for a row of exactly ``ALERT_COLUMNS``, in their order: unpacked by
    position, which costs a fraction of reading sixteen columns by name (escalation reads
    every alert of every notice so)."""
    (
        alert_id,
        fingerprint,
        status,
        labels,
        annotations,
        starts_at,
        ends_at,
        first_seen_at,
        last_seen_at,
        acknowledged_at,
        acknowledged_by,
        resolved_by,
        generator_url,
        group_key,
        snoozed_until,
        extra,
    ) = row
    return Alert(
        id=alert_id,
        fingerprint=fingerprint,
        status=STATUSES[status],
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        first_seen_at=first_seen_at,
        last_seen_at=last_seen_at,
        acknowledged_at=acknowledged_at,
        acknowledged_by=acknowledged_by,
        resolved_by=resolved_by,
        generator_url=generator_url,
        group_key=group_key,
        snoozed_until=snoozed_until,
        extra=extra or {},
    )


# Escalation reads its alerts by id on SQLite as the driver's own SQL: SQLAlchemy's expanding
# IN lists and its type processors on every value cost several times SQLite's own work for
# each row (measured, 100 whole alerts: 1.37 ms through them, 0.64 ms so). Each value is read
# back to what SQLAlchemy makes of it: times by the column type's own reader, JSON by the
# engine's deserializer.
SQLITE_ALERTS = (
    f"SELECT {', '.join(f'alerts.{c.name}' for c in ALERT_COLUMNS)} FROM alerts "
    "WHERE alerts.id IN ({marks})"
)
# Ids per statement: far below SQLite's 32,766 bound parameters.
_SQLITE_IN_CHUNK = 500
_read_time = sqlite_time_reader()


def sqlite_rows_by_ids(conn: Connection, sql: str, ids: Sequence[int]) -> list[Any]:
    """The driver's rows of ``sql`` (a SELECT whose ``{marks}`` is an IN list of ids) for
    ``ids``, a few hundred at a time: chunks taken in the order of ``ids``."""
    rows: list[Any] = []
    for start in range(0, len(ids), _SQLITE_IN_CHUNK):
        # A power of two in number, as every IN list (see ``in_list``): few statements to keep
        # prepared, and a repeated id returns its row once.
        chunk = tuple(in_list(ids[start : start + _SQLITE_IN_CHUNK]))
        rows += conn.exec_driver_sql(sql.format(marks=", ".join("?" * len(chunk))), chunk).all()
    return rows


_V = TypeVar("_V")


class DecodedOnRead(Mapping[int, _V], Generic[_V]):
    """Driver rows by id, each decoded (its JSON parsed, its times read) the first time it is
    looked up. The job runner's turn reads its jobs' alerts on SQLite's writer thread, inside
    the write transaction: there it only fetches, and the decoding falls to whoever reads the
    alerts, on the event loop's thread, while the writer is free for the next commit."""

    __slots__ = ("_decode", "_decoded", "_rows")

    def __init__(self, rows: dict[int, Any], decode: Callable[[Any], _V]) -> None:
        self._rows = rows
        self._decode = decode
        self._decoded: dict[int, _V] = {}

    def __getitem__(self, key: int) -> _V:
        try:
            return self._decoded[key]
        except KeyError:
            value = self._decoded[key] = self._decode(self._rows[key])
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _json(value: Any) -> Any:
    return None if value is None else json_loads(value)


def alert_from_sqlite(row: Any) -> Alert:
    """``alert_from_columns`` for a driver row of ``SQLITE_ALERTS`` (SQLite's own values)."""
    (
        alert_id,
        fingerprint,
        status,
        labels,
        annotations,
        starts_at,
        ends_at,
        first_seen_at,
        last_seen_at,
        acknowledged_at,
        acknowledged_by,
        resolved_by,
        generator_url,
        group_key,
        snoozed_until,
        extra,
    ) = row
    read_time = _read_time
    # Positional, in Alert's field order (ALERT_COLUMNS'): a quarter cheaper than keywords.
    return Alert(
        alert_id,
        fingerprint,
        STATUSES[status],
        json_loads(labels),
        json_loads(annotations),
        read_time(starts_at),  # type: ignore[arg-type]  # NOT NULL
        read_time(ends_at),
        read_time(first_seen_at),  # type: ignore[arg-type]  # NOT NULL
        read_time(last_seen_at),  # type: ignore[arg-type]  # NOT NULL
        read_time(acknowledged_at),
        acknowledged_by,
        resolved_by,
        generator_url,
        group_key,
        read_time(snoozed_until),
        _json(extra) or {},
    )


def alert_from_row(row: Any) -> Alert:
    return Alert(
        id=row.id,
        fingerprint=row.fingerprint,
        status=AlertStatus(row.status),
        labels=row.labels,
        annotations=row.annotations,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_by=row.resolved_by,
        generator_url=row.generator_url,
        group_key=row.group_key,
        snoozed_until=row.snoozed_until,
        extra=row.extra or {},
    )


# SQLite allows 32,766 bound parameters per statement; this keeps every IN list well below it.
IN_CHUNK = 500

_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = IN_CHUNK) -> Iterable[Sequence[_T]]:
    """``items`` a few hundred at a time, in their order: one IN list each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Escalation reads alerts by id on every turn: these statements are built once (see JobQueue).
BY_IDS = alerts.c.id.in_(bindparam("b_ids", expanding=True))
ALERTS_BY_IDS = select(*ALERT_COLUMNS).where(BY_IDS)
