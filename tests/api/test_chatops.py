"""The store behind the chat commands (``receiver.chatops``), on SQLite and PostgreSQL: which
firing alerts a listing finds, what a Silence button silences, and the notes an attempt that
changed nothing leaves in alert histories. Slack's own tests drive the same through signed
requests; these hold the service to its word without Slack in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from receiver.alertmanager import parse_webhook
from receiver.chatops import ChatOps, api_matcher
from receiver.config import Config
from receiver.errors import NotFound
from receiver.matchers import Matcher, MatchOp, parse_matchers
from receiver.model import Actor, Alert, AlertQuery, EventKind
from receiver.store import Store, create_engine_for, migrate
from receiver.store.ingest import ReceivedWebhook
from tests.payloads import alert, webhook

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VICTOR = Actor("victor (U0VIEWER)", "slack")
HOSTILE = '<!channel> `x` & "y" \\ <@U123|boss> ' + "é" * 50


@pytest.fixture
async def store(config: Config) -> AsyncIterator[Store]:
    engine = create_engine_for(config.database)
    await migrate(engine)
    store = Store(engine)
    yield store
    await store.close()


def _at(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _fire(store: Store, *alerts: dict[str, object]) -> list[Alert]:
    payload = webhook(*alerts)
    await store.ingest([ReceivedWebhook(parse_webhook(payload), f"r{id(payload)}", NOW)], NOW)
    return list((await store.list_alerts(AlertQuery(limit=1000))).alerts)


async def _notes(store: Store, alert_id: int) -> list[tuple[str, str, str | None]]:
    return [
        (e.kind.value, e.actor or "", e.note)
        for e in await store.alert_events(alert_id)
        if e.kind in (EventKind.REFUSED, EventKind.RUNBOOK, EventKind.SILENCED)
    ]


async def test_firing_lists_the_last_received_first_within_the_scan(store: Store) -> None:
    chat = ChatOps(store, lambda: NOW)
    await _fire(
        store,
        alert("DiskFull", labels={"instance": "db-1"}, starts_at=_at(30)),
        alert("DiskFull", labels={"instance": "db-2"}, starts_at=_at(10)),
        alert("HighLatency", starts_at=_at(20)),
        alert("Gone", status="resolved", starts_at=_at(40), ends_at=_at(5)),
    )

    alerts, more = await chat.firing((), 10)
    assert [(a.labels["alertname"], a.labels.get("instance")) for a in alerts] == [
        ("HighLatency", None),
        ("DiskFull", "db-2"),
        ("DiskFull", "db-1"),
    ]
    assert more is False

    alerts, more = await chat.firing((), 2)
    assert len(alerts) == 2 and more is True

    disk, more = await chat.firing(parse_matchers('alertname="DiskFull"'), 10)
    assert [a.labels["instance"] for a in disk] == ["db-2", "db-1"] and more is False
    none, more = await chat.firing((Matcher("alertname", MatchOp.EQ, HOSTILE),), 10)
    assert list(none) == [] and more is False


async def test_a_silence_button_matches_exactly_the_alerts_labels(store: Store) -> None:
    chat = ChatOps(store, lambda: NOW)
    [fired] = await _fire(store, alert("DiskFull", labels={"team": HOSTILE, "path": "/var/.*"}))

    matchers = await chat.matchers_of(fired.id)

    # Every label an equality matcher, a regex-looking value included: nothing wider.
    assert matchers == tuple(Matcher(k, MatchOp.EQ, v) for k, v in sorted(fired.labels.items()))
    assert {"name": "path", "value": "/var/.*", "isRegex": False, "isEqual": True} in [
        api_matcher(m) for m in matchers
    ]
    with pytest.raises(NotFound):
        await chat.matchers_of(fired.id + 1000)


async def test_without_alertmanager_no_silence_and_no_note(store: Store) -> None:
    chat = ChatOps(store, lambda: NOW)
    [fired] = await _fire(store, alert("DiskFull"))

    silenced = await chat.silence(
        parse_matchers('alertname="DiskFull"'), timedelta(hours=1), VICTOR, "victor", "why"
    )

    assert silenced is None
    assert await _notes(store, fired.id) == []


async def test_refusals_are_noted_on_each_alert_and_purged_ones_skipped(store: Store) -> None:
    chat = ChatOps(store, lambda: NOW)
    first, second = await _fire(store, alert("A"), alert("B"))

    await chat.refused([first.id, 999_999, second.id], VICTOR, "ack", "responder", "viewer")

    for fired in (first, second):
        assert await _notes(store, fired.id) == [
            ("refused", "slack:victor (U0VIEWER)", "ack refused: needs responder, has viewer")
        ]


async def test_a_press_that_started_nothing_is_noted(store: Store) -> None:
    chat = ChatOps(store, lambda: NOW)
    [fired] = await _fire(store, alert("DiskFull"))

    await chat.pressed_while_running(fired.id, VICTOR, HOSTILE, 7)

    assert await _notes(store, fired.id) == [
        (
            "runbook",
            "slack:victor (U0VIEWER)",
            f"run {HOSTILE} pressed: execution 7 has not ended; nothing started",
        )
    ]
    with pytest.raises(NotFound):
        await chat.pressed_while_running(fired.id + 1000, VICTOR, "restart", 7)
