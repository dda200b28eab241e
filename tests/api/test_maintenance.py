"""Maintenance windows through the real HTTP edge: alerts a window matches are recorded and
shown as held, not escalated until it closes, and a restart in the middle changes nothing. On
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.config import load_config
from tests.api.test_escalation import escalation_config
from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    config_text,
)
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
RESPONDER = auth(RESPONDER_TOKEN)
VIEWER = auth(VIEWER_TOKEN)


@pytest.fixture
def start(db_url: str, make_config: Any, on_clock: Any) -> Callable[..., Any]:
    """The application on ``manual_clock``, paging the receiver through two tiers 60 s apart,
    with ``maintenance`` (YAML) as the file's maintenance section."""

    async def run(receiver: WebhookReceiver, maintenance: str = "", owner: str = "a") -> Any:
        text = escalation_config(receiver.url, tier2_after="60s", group_window="0s")
        return await on_clock(make_config(db_url, text + maintenance), owner=owner)

    return run


def _window_file(clock: ManualClock, minutes: int = 30) -> str:
    start, end = clock(), clock() + timedelta(minutes=minutes)
    return f"""
maintenance:
  - name: db-upgrade
    match: 'service="checkout"'
    reason: Postgres upgrade
    owner: alice
    start: "{format_rfc3339(start)}"
    end: "{format_rfc3339(end)}"
"""


async def _alert_json(client: Any, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=VIEWER)
    assert resp.status == 200
    found: dict[str, Any] = await resp.json()
    return found


async def _alert_ids(client: Any) -> dict[str, int]:
    listed = await (await client.get("/api/v1/alerts", headers=VIEWER)).json()
    return {a["labels"]["alertname"]: a["id"] for a in listed["alerts"]}


async def test_a_window_holds_matching_alerts_until_it_closes_then_they_escalate(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver, _window_file(manual_clock))
    payload = webhook(alert("Held"), alert("Free", labels={"service": "search"}))
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    await manual_clock.settle()
    # Only the alert no window matches is notified.
    assert [a["labels"]["alertname"] for a in receiver.json(0)["alerts"]] == ["Free"]
    assert len(receiver.requests) == 1
    ids = await _alert_ids(client)
    held = await _alert_json(client, ids["Held"])
    assert held["status"] == "firing"
    until = format_rfc3339(manual_clock() + timedelta(minutes=30))
    assert held["held_by"] == {
        "window": "db-upgrade",
        "reason": "Postgres upgrade",
        "owner": "alice",
        "until": until,
    }
    notes = [e["note"] for e in held["events"] if e["kind"] == "held"]
    assert notes == [f"held by maintenance window db-upgrade until {until}: Postgres upgrade"]
    assert (await _alert_json(client, ids["Free"]))["held_by"] is None

    await manual_clock.advance(timedelta(minutes=30) - timedelta(seconds=1))
    assert len(receiver.requests) == 2  # Free's tier 2; nothing about Held yet
    assert all(
        a["labels"]["alertname"] == "Free" for r in range(2) for a in receiver.json(r)["alerts"]
    )
    await manual_clock.advance(timedelta(seconds=1))
    # The window closed: Held escalates from now, tier 1 at once and tier 2 60 s later.
    assert [a["labels"]["alertname"] for a in receiver.json(2)["alerts"]] == ["Held"]
    assert receiver.json(2)["tier"] == 0
    assert (await _alert_json(client, ids["Held"]))["held_by"] is None
    await manual_clock.advance(timedelta(seconds=60))
    assert len(receiver.requests) == 4 and receiver.json(3)["tier"] == 1


async def test_a_restart_in_the_middle_of_a_window_changes_nothing(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    window = _window_file(manual_clock, minutes=10)
    first = await start(receiver, window, owner="first")
    await first.post("/webhook", json=webhook(alert("Held")), headers=HOOK)
    await manual_clock.settle()
    await manual_clock.advance(timedelta(minutes=4))
    manual_clock.forget(first.app)
    await first.close()  # the process stops in the middle of the window
    second = await start(receiver, window, owner="second")
    await manual_clock.advance(timedelta(minutes=6) - timedelta(seconds=1))
    assert receiver.requests == []
    await manual_clock.advance(timedelta(seconds=1))
    assert len(receiver.requests) == 1  # released once, on time
    await manual_clock.advance(timedelta(minutes=5))
    assert len(receiver.requests) == 2  # and its tier 2, once
    keys = [r.headers["X-Firebreak-Idempotency-Key"] for r in receiver.requests]
    assert len(set(keys)) == 2
    await second.close()


async def test_a_window_made_at_run_time_holds_and_ending_it_early_releases_at_once(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    body = {
        "name": "deploy-42",
        "matchers": ['service="checkout"', 'severity=~"crit.*"'],
        "reason": "deploying <b>42</b>",
        "owner": "bob",
        "duration": "2h",
    }
    made = await client.post("/api/v1/maintenance", json=body, headers=RESPONDER)
    assert made.status == 201, await made.text()
    window = await made.json()
    assert window["open"] is True and window["source"] == "api"
    assert window["closes_at"] == format_rfc3339(manual_clock() + timedelta(hours=2))
    assert window["created_by"] == "api:bob"  # the responder token is named bob
    again = await client.post("/api/v1/maintenance", json=body, headers=RESPONDER)
    assert again.status == 409  # a replay makes no second window

    await client.post("/webhook", json=webhook(alert("Held")), headers=HOOK)
    await manual_clock.settle()
    assert receiver.requests == []
    listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
    assert [w["name"] for w in listed["windows"]] == ["deploy-42"]
    ids = await _alert_ids(client)
    assert (await _alert_json(client, ids["Held"]))["held_by"]["window"] == "deploy-42"

    await manual_clock.advance(timedelta(minutes=10))
    ended = await client.delete("/api/v1/maintenance/deploy-42", headers=RESPONDER)
    assert ended.status == 200
    assert (await ended.json())["ended_at"] == format_rfc3339(manual_clock())
    await manual_clock.settle()
    assert len(receiver.requests) == 1  # released now, not at the planned end
    assert receiver.json(0)["tier"] == 0
    await manual_clock.advance(timedelta(hours=3))
    assert len(receiver.requests) == 2  # tier 2 once; the old release time adds nothing
    gone = await client.delete("/api/v1/maintenance/deploy-42", headers=RESPONDER)
    assert gone.status == 404
    listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
    assert listed["windows"] == []
    audit = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
    actions = [e["action"] for e in audit["entries"]]
    assert "maintenance_create" in actions and "maintenance_end" in actions


async def test_a_window_opening_over_an_escalating_alert_holds_its_next_tier(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(receiver.requests) == 1
    body = {"name": "w", "matchers": ['alertname="A"'], "reason": "r", "owner": "o"}
    made = await client.post(
        "/api/v1/maintenance", json={**body, "duration": "5m"}, headers=RESPONDER
    )
    assert made.status == 201
    await manual_clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert len(receiver.requests) == 1  # tier 2 was due at 60 s: held
    await manual_clock.advance(timedelta(seconds=1))
    assert len(receiver.requests) == 2 and receiver.json(1)["tier"] == 1


async def test_a_window_in_the_file_cannot_be_ended_through_the_api(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver, _window_file(manual_clock))
    resp = await client.delete("/api/v1/maintenance/db-upgrade", headers=RESPONDER)
    assert resp.status == 409
    assert "configuration" in (await resp.json())["error"]
    listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
    assert [(w["name"], w["source"], w["open"]) for w in listed["windows"]] == [
        ("db-upgrade", "config", True)
    ]


GOOD = {"name": "w1", "matchers": ['a="b"'], "reason": "r", "owner": "o", "duration": "1h"}


BAD_WINDOWS = [
    ({"name": "../../etc/passwd"}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": 7}, "name"),
    ({"name": None}, "name"),
    ({"matchers": []}, "matchers"),
    ({"matchers": "a"}, "matchers[0]"),
    ({"matchers": [{"a": "b"}]}, "matchers[0]"),
    ({"matchers": ['a=~"("']}, "matchers[0]"),
    ({"matchers": ['a="b"'] * 21}, "matchers"),
    ({"reason": ""}, "reason"),
    ({"reason": "r" * 1001}, "reason"),
    ({"owner": ["o"]}, "owner"),
    ({"duration": "forever"}, "duration"),
    ({"duration": "32d"}, "duration"),
    ({"duration": "-1h"}, "duration"),
    ({"end": "2026-01-01T00:00:00Z"}, "end"),
    ({"start": "tomorrow"}, "start"),
    ({"start": "2026-12-24T02:00:00"}, "start"),
    ({"rrule": "FREQ=MINUTELY"}, "rrule"),
    ({"rrule": "FREQ=DAILY\nX-EVIL:1"}, "rrule"),
    ({"cron": "* * *"}, "cron"),
    ({"cron": "0 2 * * 0", "rrule": "FREQ=DAILY"}, "cron"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": "../../etc/localtime"}, "time_zone"),
    ({"silence": True}, "silence"),  # no alertmanager section to silence in
    ({"silence": "yes"}, "silence"),
    ({"silence": 1}, "silence"),
    ({"mode": "live"}, "mode"),
]


async def test_a_bad_window_is_refused_naming_the_field_and_changes_nothing(
    receiver: WebhookReceiver, start: Any
) -> None:
    client = await start(receiver)

    async def check(case: tuple[str, dict[str, Any]]) -> None:
        field, change = case
        body = {**GOOD, **change}
        resp = await client.post("/api/v1/maintenance", json=body, headers=RESPONDER)
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["field"] == field
        listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
        assert listed["windows"] == []

    await each_case(by_first((field, change) for change, field in BAD_WINDOWS), check)


async def test_making_a_window_needs_a_responder_and_a_sane_body(
    receiver: WebhookReceiver, start: Any
) -> None:
    client = await start(receiver)
    viewer = await client.post("/api/v1/maintenance", json=GOOD, headers=VIEWER)
    assert viewer.status == 403
    huge = await client.post(
        "/api/v1/maintenance", json={**GOOD, "reason": "r" * 20000}, headers=RESPONDER
    )
    assert huge.status == 413
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    nested = await client.post(
        "/api/v1/maintenance", json={**GOOD, "matchers": deep}, headers=RESPONDER
    )
    assert nested.status == 400
    listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
    assert listed["windows"] == []


async def test_a_window_added_to_the_file_holds_from_the_reload_on(
    on_clock: Any,
    tmp_path: Path,
    db_url: str,
    receiver: WebhookReceiver,
    manual_clock: ManualClock,
) -> None:
    path = tmp_path / "firebreak.yml"
    text = config_text(db_url, escalation_config(receiver.url, group_window="0s"))
    path.write_text(text)
    client = await on_clock(load_config(str(path)), config_path=str(path))
    path.write_text(text + _window_file(manual_clock, minutes=15))
    reloaded = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert reloaded.status == 200, await reloaded.text()
    await client.post("/webhook", json=webhook(alert("Held")), headers=HOOK)
    await manual_clock.settle()
    assert receiver.requests == []
    listed = await (await client.get("/api/v1/maintenance", headers=VIEWER)).json()
    assert [(w["name"], w["source"]) for w in listed["windows"]] == [("db-upgrade", "config")]
    await manual_clock.advance(timedelta(minutes=15))
    assert len(receiver.requests) == 1


async def test_a_page_raised_by_hand_is_never_held(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    """A window holds what Alertmanager sends; a person paging by hand during it means it."""
    client = await start(receiver, _window_file(manual_clock))
    page = {
        "key": "checkout-during-upgrade",
        "title": "Checkout is down for real",
        "severity": "critical",
        "labels": {"service": "checkout"},  # what the window matches
    }
    made = await client.post("/api/v1/alerts", json=page, headers=RESPONDER)
    assert made.status == 201
    alert_id = (await made.json())["id"]
    await manual_clock.settle()
    assert [a["labels"]["alertname"] for a in receiver.json(0)["alerts"]] == [
        (await _alert_json(client, alert_id))["labels"]["alertname"]
    ]
    shown = await _alert_json(client, alert_id)
    assert shown["held_by"] is None
    assert not [e for e in shown["events"] if e["kind"] == "held"]
    # Its next tier is not held either.
    await manual_clock.advance(timedelta(seconds=60))
    assert len(receiver.requests) == 2 and receiver.json(1)["tier"] == 1
