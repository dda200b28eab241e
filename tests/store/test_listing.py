"""Listing alerts in an order, a page at a time, and counting them by severity and state — on
SQLite and PostgreSQL, checked against the same filters applied by hand to every alert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from receiver.alertmanager import parse_webhook
from receiver.matchers import matches_all, parse_matchers
from receiver.model import Actor, Alert, AlertOrder, AlertQuery, AlertStatus, SortKey, severity_rank
from receiver.store import Store
from receiver.store.ingest import ReceivedWebhook
from receiver.store.listing import count_alerts
from tests.cases import each_case, named
from tests.payloads import alert, webhook

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BOB = Actor("bob", "console")


def _at(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# name, labels beyond alertname, minutes ago it started, Alertmanager group
ALERTS: list[tuple[str, dict[str, str], int, str]] = [
    ("DiskFull", {"severity": "warning", "instance": "db-1"}, 50, "disk"),
    ("DiskFull", {"severity": "warning", "instance": "db-2"}, 10, "disk"),
    ("DiskFull", {"severity": "critical", "instance": "db-3"}, 30, "disk"),
    ("HighLatency", {"severity": "info", "service": "search"}, 5, "latency"),
    ("HighLatency", {"severity": "CRITICAL", "service": "cart"}, 70, "latency"),
    ("Odd", {"severity": "page-me", "team": 'say "hi"'}, 20, "odd"),
    ("Odd", {"severity": "", "team": "ünïcode ✓"}, 40, "odd"),
    ("NoSeverity", {"team": "x"}, 60, "odd"),
    ("Long", {"severity": "s" * 70, "instance": "db-1"}, 15, "long"),
    ("Long", {"severity": "s" * 64, "instance": "db-9"}, 25, "long"),
    ("Same", {"severity": "error"}, 35, "same"),
    ("Same", {"severity": "error", "instance": "b"}, 35, "same"),
]


async def _fill(store: Store) -> list[Alert]:
    for number, (name, labels, minutes, group) in enumerate(ALERTS):
        one = alert(name, labels={"service": "checkout", **labels}, starts_at=_at(minutes))
        if "severity" not in labels:
            del one["labels"]["severity"]
        payload = webhook(one, group_key=f"{{}}:{{group={group!r}}}")
        await store.ingest([ReceivedWebhook(parse_webhook(payload), f"r{number}", NOW)], NOW)
    page = await store.list_alerts(AlertQuery(limit=1000))
    return list(page.alerts)


async def _walk(store: Store, query: AlertQuery) -> list[Alert]:
    """Every page of ``query``, following its cursor."""
    seen: list[Alert] = []
    while True:
        page = await store.list_alerts(query)
        seen.extend(page.alerts)
        if page.next_key is None and page.next_cursor is None:
            return seen
        query = AlertQuery(
            **{**_fields(query), "after": page.next_key, "before_id": page.next_cursor}
        )


def _fields(query: AlertQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in AlertQuery.__dataclass_fields__}


def _sorted(alerts: list[Alert], order: AlertOrder) -> list[int]:
    if order is AlertOrder.RECEIVED:
        return sorted((a.id for a in alerts), reverse=True)
    if order is AlertOrder.OLDEST:
        return [a.id for a in sorted(alerts, key=lambda a: (a.starts_at, a.id))]
    newest = sorted(alerts, key=lambda a: (a.starts_at, a.id), reverse=True)
    if order is AlertOrder.NEWEST:
        return [a.id for a in newest]
    return [a.id for a in sorted(newest, key=lambda a: severity_rank(a.labels.get("severity", "")))]


async def test_every_order_pages_through_every_alert_once(store: Store) -> None:
    everything = await _fill(store)

    async def check(case: tuple[AlertOrder, int]) -> None:
        order, limit = case
        walked = await _walk(store, AlertQuery(order=order, limit=limit))
        assert [a.id for a in walked] == _sorted(everything, order)

    cases = [(f"{o.value}-{limit}", (o, limit)) for o in AlertOrder for limit in (1, 3, 100)]
    await each_case(cases, check)


async def test_severity_order_is_worst_first_whatever_the_case(store: Store) -> None:
    await _fill(store)
    page = await store.list_alerts(AlertQuery(order=AlertOrder.SEVERITY))
    shown = [a.labels.get("severity", "") for a in page.alerts]
    assert shown[:2] == ["critical", "CRITICAL"]  # the newer of the two first
    assert shown[2:6] == ["error", "error", "warning", "warning"]
    assert shown[6] == "info"
    assert set(shown[7:]) == {"page-me", "", "s" * 70, "s" * 64}


async def test_alerts_arriving_between_pages_do_not_move_the_next_page(store: Store) -> None:
    everything = await _fill(store)
    first = await store.list_alerts(AlertQuery(order=AlertOrder.SEVERITY, limit=4))
    # A new critical alert: worse than all, so it belongs before the place the page stopped.
    payload = webhook(alert("Newcomer", starts_at=_at(1)))
    await store.ingest([ReceivedWebhook(parse_webhook(payload), "late", NOW)], NOW)
    rest = await _walk(store, AlertQuery(order=AlertOrder.SEVERITY, limit=4, after=first.next_key))
    assert [a.id for a in [*first.alerts, *rest]] == _sorted(everything, AlertOrder.SEVERITY)


MATCHERS = [
    '{severity="warning"}',
    '{severity!="warning"}',
    '{severity=""}',
    '{severity!=""}',
    '{instance="db-1"}',
    '{instance!="db-1"}',
    '{instance=""}',
    '{team="say \\"hi\\""}',
    '{team="ünïcode ✓"}',
    '{team!="x", alertname="Odd"}',
    f'{{severity="{"s" * 64}"}}',
    f'{{severity="{"s" * 70}"}}',
    '{alertname=~"Disk.*", instance!="db-2"}',
    '{"instance"="db-1"}',
    '{nothere="x"}',
    '{nothere!="x"}',
]


async def test_matchers_select_what_they_select_by_hand(store: Store) -> None:
    everything = await _fill(store)

    async def check(text: str) -> None:
        groups = (parse_matchers(text),)
        expected = [a.id for a in everything if matches_all(groups[0], a.labels)]
        page = await store.list_alerts(AlertQuery(matchers=groups, limit=1000))
        assert [a.id for a in page.alerts] == expected
        counts = await store.count_alerts(AlertQuery(matchers=groups), NOW)
        assert sum(count for _, count in counts.severities) == len(expected) == counts.total

    await each_case(named(MATCHERS), check)


async def test_any_of_several_matcher_groups_may_match(store: Store) -> None:
    everything = await _fill(store)
    groups = (parse_matchers('{instance="db-1"}'), parse_matchers('{service="search"}'))
    page = await store.list_alerts(AlertQuery(matchers=groups, limit=1000))
    assert [a.id for a in page.alerts] == [
        a.id for a in everything if any(matches_all(g, a.labels) for g in groups)
    ]
    mixed = (parse_matchers('{instance="db-1"}'), parse_matchers('{service=~"sea.*"}'))
    page = await store.list_alerts(AlertQuery(matchers=mixed, limit=1000))
    assert len(page.alerts) == 3


async def _acted_on(store: Store, everything: list[Alert]) -> dict[str, int]:
    """Acknowledge, snooze and resolve some alerts; their ids by what was done."""
    by_name = {(a.labels["alertname"], a.labels.get("instance")): a.id for a in everything}
    acked, snoozed, resolved = (
        by_name["DiskFull", "db-1"],
        by_name["DiskFull", "db-2"],
        by_name["DiskFull", "db-3"],
    )
    await store.acknowledge(acked, BOB, None, None, NOW)
    await store.snooze(snoozed, NOW + timedelta(hours=1), BOB, None, None, NOW)
    await store.snooze(acked, NOW - timedelta(minutes=1), BOB, None, None, NOW)  # over already
    await store.resolve(resolved, BOB, None, None, NOW)
    return {"acknowledged": acked, "snoozed": snoozed, "resolved": resolved}


def _by_hand(alerts: list[Alert], now: datetime) -> dict[str, Any]:
    firing = [a for a in alerts if a.status is AlertStatus.FIRING]
    severities = Counter(a.labels.get("severity", "")[:64] for a in alerts)
    return {
        "severities": sorted(severities.items(), key=lambda i: (severity_rank(i[0]), i[0])),
        "firing": len(firing),
        "acknowledged": sum(1 for a in firing if a.acknowledged_at),
        "unacknowledged": sum(1 for a in firing if not a.acknowledged_at),
        "snoozed": sum(1 for a in firing if a.snoozed_until and a.snoozed_until > now),
        "resolved": len(alerts) - len(firing),
    }


@pytest.mark.parametrize("text", ["", '{service="checkout"}', '{instance=~"db-.*"}'])
async def test_counts_by_severity_and_state_are_the_alerts_counted_by_hand(
    store: Store, text: str
) -> None:
    everything = await _fill(store)
    await _acted_on(store, everything)
    groups = (parse_matchers(text),) if text else ()
    query = AlertQuery(matchers=groups, limit=1000)
    selected = list((await store.list_alerts(query)).alerts)
    counts = await store.count_alerts(query, NOW)
    figures = _by_hand(selected, NOW)
    assert list(counts.severities) == figures.pop("severities")
    assert {name: getattr(counts, name) for name in figures} == figures
    assert counts.partial is False
    assert (counts.acknowledged, counts.snoozed, counts.resolved) == (1, 1, 1)


async def test_the_state_filters_select_what_the_counts_count(store: Store) -> None:
    everything = await _fill(store)
    ids = await _acted_on(store, everything)
    firing = AlertStatus.FIRING

    async def listed(**filters: Any) -> set[int]:
        page = await store.list_alerts(AlertQuery(limit=1000, now=NOW, **filters))
        return {a.id for a in page.alerts}

    assert await listed(status=firing, snoozed=True) == {ids["snoozed"]}
    assert ids["snoozed"] not in await listed(status=firing, snoozed=False)
    assert ids["acknowledged"] in await listed(status=firing, snoozed=False)  # snooze is over
    assert await listed(status=firing, acknowledged=True) == {ids["acknowledged"]}
    assert await listed(status=AlertStatus.RESOLVED) == {ids["resolved"]}
    counts = await store.count_alerts(AlertQuery(status=firing, snoozed=True, now=NOW), NOW)
    assert (counts.firing, counts.snoozed, counts.resolved) == (1, 1, 0)
    with pytest.raises(ValueError, match="now"):
        AlertQuery(snoozed=True)


async def test_counting_labels_sql_cannot_check_looks_at_a_bounded_number(store: Store) -> None:
    everything = await _fill(store)
    query = AlertQuery(matchers=(parse_matchers('{instance=~"db-.*"}'),))
    async with store.connection() as conn:
        bounded = await count_alerts(conn, query, NOW, budget=5)
        whole = await count_alerts(conn, query, NOW, budget=len(everything))
    # The five newest stored: both Same, both Long and NoSeverity; the two Long ones match.
    assert (bounded.total, bounded.partial) == (2, True)
    assert (whole.total, whole.partial) == (5, False)


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)


@pytest.mark.parametrize("order", list(AlertOrder))
async def test_a_page_and_its_counts_are_one_statement_each(
    store: Store, order: AlertOrder
) -> None:
    await _fill(store)
    query = AlertQuery(order=order, matchers=(parse_matchers('{service="checkout"}'),))
    with _statements(store) as seen:
        await store.list_alerts(query)
    assert len(seen) == 1
    with _statements(store) as seen:
        await store.count_alerts(query, NOW)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "a.b.c",
        "1.2.3.4",
        "9.0.1",
        "0.1.99999999999999999999",
        "0.999999999999999999.1",
        "0.-1.-1",
        "٣.1.1",
        " 0.1.1",
        "0.1.1 ",
    ],
)
def test_a_sort_key_is_three_numbers_and_nothing_else(text: str) -> None:
    assert SortKey.decode(text) is None


def test_a_sort_key_reads_back_what_it_wrote() -> None:
    for key in (
        SortKey(0, NOW, 1),
        SortKey(8, datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=UTC), 2**63 - 1),
    ):
        assert SortKey.decode(key.encode()) == key
