"""The reads behind the alert-quality reports: one set-based statement per report, returning
one row per occurrence (or execution) with what the report needs already joined in SQL —
routes, whether a page went out, whether a person acted, the previous occurrence's end. The
figures themselves are computed from these rows by ``receiver.reports``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import AlertStatus, EventKind
from receiver.store.tables import (
    UTCDateTime,
    alert_events,
    alert_routes,
    alerts,
    executions,
    notifications,
)

UNROUTED = "unrouted"
"""The route reported for occurrences with no recorded route (the watchdog, or older rows)."""

# A firing notice or a digest naming the alert: somebody was told it was firing.
PAGE_KINDS = ("firing", "digest")

# History entries that only a person (or a token acting for one) writes.
HUMAN_KINDS = (
    EventKind.ACKNOWLEDGED.value,
    EventKind.MANUALLY_RESOLVED.value,
    EventKind.SNOOZED.value,
    EventKind.SILENCED.value,
)


@dataclass(frozen=True, slots=True)
class ResponseRow:
    """One occurrence in one group (an occurrence that took two routes is in both)."""

    alert_id: int
    group: str
    severity: str
    starts_at: datetime
    acknowledged_at: datetime | None
    ends_at: datetime | None
    paged: bool


@dataclass(frozen=True, slots=True)
class OccurrenceRow:
    """One occurrence for the noise report; ``equal`` holds its values of the labels that
    an inhibition would compare (None where the label is missing)."""

    alert_id: int
    alertname: str
    severity: str
    fingerprint: str
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None
    previous_ends_at: datetime | None  # of the previous occurrence of the same fingerprint
    acted: bool
    paged: bool
    equal: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class RunRow:
    """One runbook execution with the alert it ran for, if any."""

    execution_id: int
    runbook: str
    state: str
    trigger: str
    created_at: datetime
    finished_at: datetime | None
    alert_id: int | None
    alertname: str | None
    alert_starts_at: datetime | None
    alert_ends_at: datetime | None
    paged: bool
    acted: bool


@dataclass(frozen=True, slots=True)
class ResolvedRow:
    """A paged occurrence that ended: the human path a runbook's resolution is compared to."""

    alertname: str
    starts_at: datetime
    ends_at: datetime


def _paged(alert_id: Any) -> ColumnElement[bool]:
    return exists().where(
        notifications.c.alert_id == alert_id, notifications.c.kind.in_(PAGE_KINDS)
    )


def _acted(alert_id: Any, *, runs: bool = True) -> ColumnElement[bool]:
    """A person acknowledged, resolved, snoozed or silenced the alert, or (``runs``) started a
    runbook on it by hand."""
    by_event = exists().where(
        alert_events.c.alert_id == alert_id, alert_events.c.kind.in_(HUMAN_KINDS)
    )
    if not runs:
        return by_event
    return or_(
        by_event,
        exists().where(executions.c.alert_id == alert_id, executions.c.trigger == "manual"),
    )


async def response_rows(
    conn: AsyncConnection, since: datetime, until: datetime, by_label: str | None
) -> list[ResponseRow]:
    """Occurrences that started in ``[since, until)``, grouped by their routes, or by the
    value of the label ``by_label`` ("" when the alert does not have it)."""
    group: ColumnElement[Any]
    if by_label is None:
        group = func.coalesce(alert_routes.c.route, literal(UNROUTED))
        source: Any = alerts.outerjoin(alert_routes, alert_routes.c.alert_id == alerts.c.id)
    else:
        group = func.coalesce(alerts.c.labels[by_label].as_string(), literal(""))
        source = alerts
    stmt = (
        select(
            alerts.c.id,
            group.label("grp"),
            alerts.c.severity,
            alerts.c.starts_at,
            alerts.c.acknowledged_at,
            alerts.c.ends_at,
            _paged(alerts.c.id).label("paged"),
        )
        .select_from(source)
        .where(alerts.c.starts_at >= since, alerts.c.starts_at < until)
    )
    return [
        ResponseRow(
            alert_id=r.id,
            group=r.grp,
            severity=r.severity,
            starts_at=r.starts_at,
            acknowledged_at=r.acknowledged_at,
            ends_at=r.ends_at,
            paged=bool(r.paged),
        )
        for r in await conn.execute(stmt)
    ]


def _earlier(at: datetime, by: timedelta) -> datetime:
    """``at - by``, or the earliest time there is when that is before year 1 (a window that
    starts at 0001-01-01 is a way to ask for everything)."""
    try:
        return at - by
    except OverflowError:
        return datetime.min.replace(tzinfo=at.tzinfo)


async def occurrence_rows(
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    lookback: timedelta,
    equal_labels: Sequence[str],
) -> list[OccurrenceRow]:
    """Occurrences that started before ``until`` and were still firing at ``since - lookback``
    or later: those of the window, and those around it that a flap or an inhibition of one
    of them needs. The caller keeps to the window what it counts."""
    previous_end = func.lag(alerts.c.ends_at, type_=UTCDateTime()).over(
        partition_by=alerts.c.fingerprint, order_by=(alerts.c.starts_at, alerts.c.id)
    )
    equal = [
        alerts.c.labels[name].as_string().label(f"eq{i}") for i, name in enumerate(equal_labels)
    ]
    stmt = select(
        alerts.c.id,
        alerts.c.alertname,
        alerts.c.severity,
        alerts.c.fingerprint,
        alerts.c.status,
        alerts.c.starts_at,
        alerts.c.ends_at,
        previous_end.label("previous_ends_at"),
        _acted(alerts.c.id).label("acted"),
        _paged(alerts.c.id).label("paged"),
        *equal,
    ).where(
        alerts.c.starts_at < until,
        or_(alerts.c.ends_at.is_(None), alerts.c.ends_at >= _earlier(since, lookback)),
    )
    return [
        OccurrenceRow(
            alert_id=r.id,
            alertname=r.alertname,
            severity=r.severity,
            fingerprint=r.fingerprint,
            status=AlertStatus(r.status),
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            previous_ends_at=r.previous_ends_at,
            acted=bool(r.acted),
            paged=bool(r.paged),
            equal=tuple(r._mapping[f"eq{i}"] for i in range(len(equal_labels))),
        )
        for r in await conn.execute(stmt)
    ]


async def run_rows(conn: AsyncConnection, since: datetime, until: datetime) -> list[RunRow]:
    """Executions created in ``[since, until)``, drills and dry runs left out."""
    stmt = (
        select(
            executions.c.id,
            executions.c.runbook,
            executions.c.state,
            executions.c.trigger,
            executions.c.created_at,
            executions.c.finished_at,
            executions.c.alert_id,
            alerts.c.alertname,
            alerts.c.starts_at,
            alerts.c.ends_at,
            _paged(executions.c.alert_id).label("paged"),
            # The execution itself is not a person acting on its alert.
            _acted(executions.c.alert_id, runs=False).label("acted"),
        )
        .select_from(executions.outerjoin(alerts, alerts.c.id == executions.c.alert_id))
        .where(
            executions.c.created_at >= since,
            executions.c.created_at < until,
            executions.c.trigger != "drill",
            executions.c.dry_run.is_(False),
        )
    )
    return [
        RunRow(
            execution_id=r.id,
            runbook=r.runbook,
            state=r.state,
            trigger=r.trigger,
            created_at=r.created_at,
            finished_at=r.finished_at,
            alert_id=r.alert_id,
            alertname=r.alertname,
            alert_starts_at=r.starts_at,
            alert_ends_at=r.ends_at,
            paged=bool(r.paged),
            acted=bool(r.acted),
        )
        for r in await conn.execute(stmt)
    ]


async def paged_resolutions(
    conn: AsyncConnection, since: datetime, until: datetime, alertnames: Sequence[str]
) -> list[ResolvedRow]:
    """Occurrences of these alerts that started in ``[since, until)``, paged someone and ended."""
    if not alertnames:
        return []
    stmt = select(alerts.c.alertname, alerts.c.starts_at, alerts.c.ends_at).where(
        alerts.c.starts_at >= since,
        alerts.c.starts_at < until,
        alerts.c.status == AlertStatus.RESOLVED,
        alerts.c.ends_at.is_not(None),
        alerts.c.alertname.in_(sorted(set(alertnames))),
        _paged(alerts.c.id),
    )
    return [ResolvedRow(r.alertname, r.starts_at, r.ends_at) for r in await conn.execute(stmt)]
