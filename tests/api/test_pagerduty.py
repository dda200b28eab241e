"""PagerDuty both ways, end to end: Alertmanager webhooks in, the HTTPS PagerDuty fake out, and
signed v3 webhooks back. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.api.test_escalation import eventually
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.pagerduty import FakePagerDuty, Incident, Reply, channel_yaml
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
SECRETS = ("pd-webhook-secret-old", "pd-webhook-secret-new")
ENDPOINT = "/integrations/pagerduty/webhook"


def pagerduty_config(fake: FakePagerDuty, ca_file: str, hook_url: str, tier2_after: str) -> str:
    return f"""
channels:{channel_yaml(fake, ca_file, KEY, "300ms")}
  hook:
    type: webhook
    webhook: {{url: "{hook_url}", timeout: 5s}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [pd]}}
      - {{after: {tier2_after}, notify: [hook]}}
routes:
  - {{name: quiet, match: 'alertname="Quiet"', escalation_policy: default}}
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
pagerduty: {{webhook_secrets: ["{SECRETS[0]}", "{SECRETS[1]}"]}}
jobs: {{workers: 4, lease: 5s, max_attempts: 10, backoff_initial: 100ms, backoff_max: 300ms,
        poll_interval: 200ms}}
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(routing_keys=(KEY,)) as server:
        yield server


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def start(
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    fake: FakePagerDuty,
    hook: WebhookReceiver,
    tmp_path: Path,
) -> Callable[..., Any]:
    async def run(tier2_after: str = "30s", clock: ManualClock | None = None) -> Any:
        ca_file = fake.write_ca(tmp_path / "pagerduty-ca.pem")
        config = make_config(db_url, pagerduty_config(fake, ca_file, hook.url, tier2_after))
        if clock is None:
            return await aiohttp_client(create_app(config, registry=CollectorRegistry()))
        client = await aiohttp_client(create_app(config, clock=clock, registry=CollectorRegistry()))
        clock.watch(client.app)
        return client

    return run


async def alert_detail(client: Any, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def only_alert_id(client: Any) -> int:
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    alerts = (await resp.json())["alerts"]
    assert len(alerts) == 1
    return int(alerts[0]["id"])


async def test_a_critical_alert_pages_once_through_a_429_spell_and_a_5xx_spell(
    fake: FakePagerDuty, start: Any
) -> None:
    # Two 429s, then 5xx answers, one of them after PagerDuty took the event (the answer was
    # lost): every retry carries the same dedup_key, so there is still one incident.
    fake.script(429, 429, 503, Reply(500, accept=True), 502)
    client = await start()
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await eventually(lambda: fake.answers[-1:] == [202], within=20, client=client)
    assert fake.answers == [429, 429, 503, 500, 502, 202]
    assert len(fake.incidents) == 1
    incident = fake.incidents[0]
    assert incident.status == "triggered" and incident.triggers == 2
    assert {r["dedup_key"] for r in fake.requests} == {incident.incident_key}
    payload = fake.requests[-1]["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "DiskFull: DiskFull on checkout"
    alert_id = await only_alert_id(client)
    await eventually(lambda: _notified(client, alert_id), client=client)
    detail = await alert_detail(client, alert_id)
    assert [(n["channel"], n["kind"]) for n in detail["notifications"]] == [("pd", "firing")]
    assert detail["notifications"][0]["reference"] == incident.incident_key
    await asyncio.sleep(0.5)
    assert len(fake.requests) == 6  # nothing more was sent


async def _notified(client: Any, alert_id: int) -> bool:
    return bool((await alert_detail(client, alert_id))["notifications"])


async def paged(start: Any, fake: FakePagerDuty, **settings: Any) -> tuple[Any, Incident, int]:
    """An application that has paged one DiskFull alert: the client, incident and alert id."""
    client = await start(**settings)
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await eventually(lambda: len(fake.incidents) == 1, client=client)
    alert_id = await only_alert_id(client)
    await eventually(lambda: _notified(client, alert_id), client=client)
    return client, fake.incidents[0], alert_id


async def test_acknowledging_in_firebreak_acknowledges_the_incident_and_a_resolve_resolves_it(
    fake: FakePagerDuty, start: Any
) -> None:
    client, incident, alert_id = await paged(start, fake)
    resp = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    await eventually(lambda: incident.status == "acknowledged", client=client)
    ack = fake.requests[-1]
    assert ack["event_action"] == "acknowledge"
    assert ack["dedup_key"] == incident.incident_key and ack["routing_key"] == KEY
    # Acknowledging again changes nothing and sends nothing.
    await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    # Alertmanager says it is over: the incident is resolved with the same key.
    resolved = alert("DiskFull", status="resolved")
    await client.post("/webhook", json=webhook(resolved), headers=HOOK)
    await eventually(lambda: incident.status == "resolved", client=client)
    assert [r["event_action"] for r in fake.requests] == ["trigger", "acknowledge", "resolve"]
    assert incident.actions == ["trigger", "acknowledge", "resolve"]

    async def kinds() -> list[tuple[str, str]]:
        detail = await alert_detail(client, alert_id)
        return [(n["channel"], n["kind"]) for n in detail["notifications"]]

    # The incident changes in PagerDuty before Firebreak records the send.
    await eventually(lambda: _count(kinds(), 3), client=client)
    assert await kinds() == [("pd", "firing"), ("pd", "acknowledged"), ("pd", "resolved")]


async def _count(found: Any, at_least: int) -> bool:
    return len(await found) >= at_least


async def test_an_acknowledge_while_the_page_is_on_its_way_still_reaches_pagerduty(
    fake: FakePagerDuty, start: Any
) -> None:
    answer = asyncio.Event()
    fake.script(Reply(202, hold=answer))  # PagerDuty answers the trigger only later
    client = await start()
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await eventually(lambda: len(fake.requests) == 1, client=client)
    alert_id = await only_alert_id(client)
    resp = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    assert not (await alert_detail(client, alert_id))["notifications"]  # the page is in flight
    answer.set()
    await eventually(lambda: fake.incidents[:1] and fake.incidents[0].status == "acknowledged")
    await asyncio.sleep(0.3)
    assert [r["event_action"] for r in fake.requests] == ["trigger", "acknowledge"]


async def test_acknowledging_an_alert_that_was_never_paged_sends_nothing(
    fake: FakePagerDuty, start: Any
) -> None:
    client = await start()
    await client.post("/webhook", json=webhook(alert("Quiet")), headers=HOOK)
    alert_id = await only_alert_id(client)
    resp = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    await asyncio.sleep(0.5)
    assert fake.requests == []


async def test_acknowledging_in_pagerduty_stops_the_next_tier(
    fake: FakePagerDuty, hook: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client, incident, alert_id = await paged(start, fake, tier2_after="2s", clock=manual_clock)
    url = str(client.make_url(ENDPOINT))
    # Signed with the newer of two secrets, as during a rotation.
    status, body = await fake.send_webhook(url, "incident.acknowledged", incident, SECRETS[1:])
    assert (status, body) == (200, {"status": "success", "outcome": "acknowledged"})
    detail = await alert_detail(client, alert_id)
    assert detail["acknowledged_by"] == "Dana Ops"
    acked = [e for e in detail["events"] if e["kind"] == "acknowledged"]
    assert acked[0]["actor"] == "pagerduty:Dana Ops"
    assert f"#{incident.number}" in acked[0]["note"]
    await manual_clock.advance(timedelta(seconds=5))  # past tier 2, due 2 s after tier 1
    assert hook.requests == []
    # Resolved in PagerDuty: resolved in Firebreak.
    status, body = await fake.send_webhook(url, "incident.resolved", incident, SECRETS)
    assert (status, body["outcome"]) == (200, "resolved")
    detail = await alert_detail(client, alert_id)
    assert detail["status"] == "resolved" and detail["resolved_by"] == "Dana Ops"
    # The same webhook delivered again changes nothing.
    status, body = await fake.send_webhook(url, "incident.resolved", incident, SECRETS)
    assert (status, body["outcome"]) == (200, "resolved")
    events = (await alert_detail(client, alert_id))["events"]
    assert [e["kind"] for e in events].count("manually_resolved") == 1
    # A late acknowledge of what is resolved here already is nothing to do.
    status, body = await fake.send_webhook(url, "incident.acknowledged", incident, SECRETS)
    assert (status, body["outcome"]) == (200, "ignored")


async def test_a_forged_webhook_is_refused_and_changes_nothing(
    fake: FakePagerDuty, start: Any
) -> None:
    client, incident, alert_id = await paged(start, fake)
    url = str(client.make_url(ENDPOINT))
    forged = ("attacker-secret",)
    status, body = await fake.send_webhook(url, "incident.resolved", incident, forged)
    assert status == 401
    assert body["status"] == "error" and "X-PagerDuty-Signature" in body["error"]
    assert "request_id" in body
    status, _ = await fake.send_webhook(url, "incident.resolved", incident, SECRETS, signature="")
    assert status == 401  # no signature at all
    # A genuine signature over another body does not carry over.
    genuine = fake.sign(SECRETS[0], fake.webhook_body("incident.acknowledged", incident))
    status, _ = await fake.send_webhook(
        url, "incident.resolved", incident, SECRETS, signature=genuine
    )
    assert status == 401
    detail = await alert_detail(client, alert_id)
    assert detail["status"] == "firing" and detail["acknowledged_at"] is None
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_pagerduty_webhooks_total{outcome="refused"} 3.0' in metrics


async def test_unknown_incidents_and_other_events_are_ignored_with_200(
    fake: FakePagerDuty, start: Any
) -> None:
    client = await start()
    url = str(client.make_url(ENDPOINT))
    async with FakePagerDuty() as other:
        foreign = Incident("QX", 9, KEY, "d3640fbd41094207a1c11e58e46b1662", "Not ours")
        status, body = await other.send_webhook(url, "incident.acknowledged", foreign, SECRETS)
        assert (status, body["outcome"]) == (200, "unknown_incident")
        status, body = await other.send_webhook(url, "incident.reassigned", foreign, SECRETS)
        assert (status, body["outcome"]) == (200, "ignored")
    bad = b"{not json"
    sig = fake.sign(SECRETS[0], bad)
    resp = await client.post(
        ENDPOINT, data=bad, headers={"X-PagerDuty-Signature": sig, "Content-Type": "text/plain"}
    )
    assert resp.status == 400


async def test_a_bad_event_is_dead_lettered_with_pagerdutys_answer(
    fake: FakePagerDuty, start: Any
) -> None:
    fake.script(400)
    client = await start()
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)

    async def dead() -> list[dict[str, Any]]:
        resp = await client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
        return (await resp.json())["jobs"]  # type: ignore[no-any-return]

    await eventually(lambda: _has(dead()), client=client)
    job = (await dead())[0]
    assert job["kind"] == "notify"
    assert "Event object is invalid" in job["last_error"]
    assert len(fake.requests) == 1 and not fake.incidents


async def _has(found: Any) -> bool:
    return bool(await found)
