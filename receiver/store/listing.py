"""Listing alerts: the filters of ``GET /api/v1/alerts`` and the console, in one of four orders,
a page at a time, the same filters counted by severity and state, and what the console shows
beside each alert listed (its escalation's tier, a silence).

Label matchers narrow the scan in SQL where they can (``=`` and ``!=`` on a label named like an
identifier); the rest (regular expressions, quoted label names) are checked on each row read.
A page is read in keyset order, so the next page starts where the last one stopped however
many alerts arrive meanwhile.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.matchers import Matcher, MatchOp, matches_all
from receiver.model import (
    SEVERITY_ORDER,
    Alert,
    AlertCounts,
    AlertOrder,
    AlertPage,
    AlertQuery,
    AlertStatus,
    EventKind,
    SortKey,
    severity_rank,
)
from receiver.store.engine import in_list
from receiver.store.rows import ALERT_COLUMNS, alert_from_row, chunks
from receiver.store.tables import alert_events, alerts, notifications

# A filtered listing reads at most this many rows per request before handing back a cursor.
SCAN_BUDGET = 5000
# Counting with matchers SQL cannot check reads at most this many rows' labels.
COUNT_BUDGET = 10_000

# Worst first; a severity not in SEVERITY_ORDER ranks below all of them.
_RANK = case(
    {name: rank for rank, name in enumerate(SEVERITY_ORDER)},
    value=func.lower(alerts.c.severity),
    else_=len(SEVERITY_ORDER),
)

# Each order as (expression, descending) pairs; the last is the id, so the order is total.
_ORDERS: dict[AlertOrder, tuple[tuple[Any, bool], ...]] = {
    AlertOrder.RECEIVED: ((alerts.c.id, True),),
    AlertOrder.NEWEST: ((alerts.c.starts_at, True), (alerts.c.id, True)),
    AlertOrder.OLDEST: ((alerts.c.starts_at, False), (alerts.c.id, False)),
    AlertOrder.SEVERITY: ((_RANK, False), (alerts.c.starts_at, True), (alerts.c.id, True)),
}

_IDENTIFIER = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels with a column of their own, and how much of the value it keeps (see ingest).
_COLUMNS = {"alertname": (alerts.c.alertname, 256), "severity": (alerts.c.severity, 64)}


def _label(name: str, value: str) -> Any:
    """A label's value in SQL, "" when the alert lacks it (as matchers count it)."""
    if name in _COLUMNS:
        column, kept = _COLUMNS[name]
        if len(value) < kept:  # a longer value may have been cut: compare the whole label
            return column
    return func.coalesce(alerts.c.labels[name].as_string(), "")


def _matcher_condition(matcher: Matcher) -> Any | None:
    """``matcher`` in SQL when it can be said there exactly, else None."""
    if matcher.op not in (MatchOp.EQ, MatchOp.NE) or not _IDENTIFIER.fullmatch(matcher.name):
        return None
    label = _label(matcher.name, matcher.value)
    return label == matcher.value if matcher.op is MatchOp.EQ else label != matcher.value


def _narrowing(groups: Sequence[Sequence[Matcher]]) -> tuple[list[Any], bool]:
    """SQL conditions selecting every alert the matcher groups select (any group, all of its
    matchers), and whether they select exactly those."""
    if not groups:
        return [], True
    per_group = []
    exact = True
    for group in groups:
        if not group:
            return [], True  # an empty group selects every alert
        found = [_matcher_condition(matcher) for matcher in group]
        conditions = [condition for condition in found if condition is not None]
        exact = exact and len(conditions) == len(found)
        if not conditions:
            return [], False  # this group alone may select any alert: nothing to narrow by
        per_group.append(and_(*conditions))
    return [or_(*per_group) if len(per_group) > 1 else per_group[0]], exact


def _conditions(query: AlertQuery) -> tuple[list[Any], bool]:
    """The query's filters in SQL, and whether they are all of it (no matcher left to check
    on the rows read)."""
    conditions = []
    if query.status is not None:
        conditions.append(alerts.c.status == query.status)
    if query.acknowledged is True:
        conditions.append(alerts.c.acknowledged_at.is_not(None))
    elif query.acknowledged is False:
        conditions.append(alerts.c.acknowledged_at.is_(None))
    if query.since is not None:
        conditions.append(alerts.c.starts_at >= query.since)
    if query.snoozed is not None:
        snoozed = alerts.c.snoozed_until > query.now
        conditions.append(
            snoozed if query.snoozed else or_(alerts.c.snoozed_until.is_(None), ~snoozed)
        )
    narrowing, exact = _narrowing(query.matchers)
    return conditions + narrowing, exact


def _place(query: AlertQuery) -> tuple[Any, ...] | None:
    """The query's cursor as values of its order's expressions."""
    if query.order is AlertOrder.RECEIVED:
        return None if query.before_id is None else (query.before_id,)
    key = query.after
    if key is None:
        return None
    if query.order is AlertOrder.SEVERITY:
        return (key.rank, key.starts_at, key.id)
    return (key.starts_at, key.id)


def _beyond(order: AlertOrder, place: tuple[Any, ...]) -> Any:
    """Rows after ``place`` in ``order``: (a, b) beyond (x, y) is a beyond x, or a = x and b
    beyond y."""
    keys = _ORDERS[order]
    either = []
    for position, (expression, descending) in enumerate(keys):
        value = place[position]
        further = expression < value if descending else expression > value
        same = [keys[before][0] == place[before] for before in range(position)]
        either.append(and_(*same, further))
    return or_(*either)


def _key_of(order: AlertOrder, row: Any) -> tuple[Any, ...]:
    if order is AlertOrder.RECEIVED:
        return (row.id,)
    if order is AlertOrder.SEVERITY:
        return (row.severity_rank, row.starts_at, row.id)
    return (row.starts_at, row.id)


def _page(query: AlertQuery, found: Sequence[Alert], place: tuple[Any, ...] | None) -> AlertPage:
    """A page whose next one starts after ``place`` (None: there is no next one)."""
    if place is None:
        return AlertPage(tuple(found), None)
    if query.order is AlertOrder.RECEIVED:
        return AlertPage(tuple(found), place[0])
    rank = place[0] if query.order is AlertOrder.SEVERITY else 0
    return AlertPage(tuple(found), None, SortKey(rank, place[-2], place[-1]))


async def list_alerts(conn: AsyncConnection, query: AlertQuery) -> AlertPage:
    """A page of the alerts ``query`` selects, in its order. Matchers SQL cannot check are
    checked here, scanning at most ``SCAN_BUDGET`` rows before handing back a cursor."""
    conditions, exact = _conditions(query)
    check = query.matchers and not exact
    columns: tuple[Any, ...] = ALERT_COLUMNS
    if query.order is AlertOrder.SEVERITY:
        columns = (*ALERT_COLUMNS, _RANK.label("severity_rank"))
    keys = _ORDERS[query.order]
    ordering = [
        expression.desc() if descending else expression.asc() for expression, descending in keys
    ]
    found: list[tuple[Alert, tuple[Any, ...]]] = []
    place = _place(query)
    scanned = 0
    chunk = query.limit + 1 if not check else max(4 * query.limit, 200)
    while True:
        stmt = select(*columns).where(*conditions)
        if place is not None:
            stmt = stmt.where(_beyond(query.order, place))
        rows = (await conn.execute(stmt.order_by(*ordering).limit(chunk))).all()
        for row in rows:
            place = _key_of(query.order, row)
            scanned += 1
            if check and not any(matches_all(group, row.labels) for group in query.matchers):
                continue
            found.append((alert_from_row(row), place))
            if len(found) > query.limit:
                break
        if len(found) > query.limit:
            shown = found[: query.limit]
            return _page(query, [alert for alert, _ in shown], shown[-1][1])
        if len(rows) < chunk:
            return _page(query, [alert for alert, _ in found], None)
        if scanned >= SCAN_BUDGET:
            # Hand back a cursor where the scan stopped rather than scan the table.
            return _page(query, [alert for alert, _ in found], place)


async def count_alerts(
    conn: AsyncConnection, query: AlertQuery, now: datetime, *, budget: int = COUNT_BUDGET
) -> AlertCounts:
    """How many alerts ``query`` selects (its order, cursor and limit aside), by severity and
    by state at ``now``: one statement. Matchers SQL cannot check are checked on the labels of
    the newest ``budget`` alerts the rest of the filter selects."""
    conditions, exact = _conditions(query)
    acknowledged = case((alerts.c.acknowledged_at.is_not(None), 1), else_=0)
    snoozed = case((alerts.c.snoozed_until > now, 1), else_=0)
    flags = (
        alerts.c.severity,
        alerts.c.status,
        acknowledged.label("acknowledged"),
        snoozed.label("snoozed"),
    )
    tally: Counter[tuple[str, str, int, int]] = Counter()
    partial = False
    if exact:
        rows = select(*flags).where(*conditions).subquery()
        counted = select(
            rows.c.severity, rows.c.status, rows.c.acknowledged, rows.c.snoozed, func.count()
        ).group_by(rows.c.severity, rows.c.status, rows.c.acknowledged, rows.c.snoozed)
        for severity, status, acked, is_snoozed, count in await conn.execute(counted):
            tally[(severity, status, acked, is_snoozed)] += count
    else:
        newest = (
            select(*flags, alerts.c.labels)
            .where(*conditions)
            .order_by(alerts.c.id.desc())
            .limit(budget + 1)
        )
        read = (await conn.execute(newest)).all()
        partial = len(read) > budget
        for row in read[:budget]:
            if any(matches_all(group, row.labels) for group in query.matchers):
                tally[(row.severity, row.status, row.acknowledged, row.snoozed)] += 1
    return _counts(tally, partial)


def _counts(tally: Counter[tuple[str, str, int, int]], partial: bool) -> AlertCounts:
    severities: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for (severity, status, acknowledged, snoozed), count in tally.items():
        severities[severity] += count
        states[status] += count
        if status == AlertStatus.FIRING:
            states["acknowledged" if acknowledged else "unacknowledged"] += count
            if snoozed:
                states["snoozed"] += count
    return AlertCounts(
        severities=tuple(
            sorted(severities.items(), key=lambda item: (severity_rank(item[0]), item[0]))
        ),
        firing=states[AlertStatus.FIRING],
        acknowledged=states["acknowledged"],
        unacknowledged=states["unacknowledged"],
        snoozed=states["snoozed"],
        resolved=states[AlertStatus.RESOLVED],
        partial=partial,
    )


@dataclass(frozen=True, slots=True)
class AlertOverview:
    """What a listing shows beside an alert: the highest escalation tier notified (0 is the
    first) and whether a person silenced it in Alertmanager."""

    tier: int | None = None
    silenced: bool = False


async def escalation_overview(
    conn: AsyncConnection, alert_ids: Sequence[int]
) -> dict[int, AlertOverview]:
    """For a listing: the highest tier each alert's escalation notified, and whether a
    person silenced it in Alertmanager."""
    found = {alert_id: AlertOverview() for alert_id in alert_ids}
    for chunk in chunks(sorted(found)):
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
