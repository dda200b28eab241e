"""An alert from the future pages all the same: a ``startsAt`` in year 9999 or hours ahead (a
wrong clock) escalates from the moment Firebreak first saw it, and is counted, logged and shown
in /health/detailed; what else reads ``startsAt`` (PagerDuty, digests, reports, the console)
copes with year 9999 and year 1."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.app import create_app
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.console.conftest import login
from tests.fakes.pagerduty import FakePagerDuty, channel_yaml
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
YEAR_9999 = "9999-12-31T23:59:59Z"
YEAR_1 = "0001-01-01T00:00:01Z"
TIER_AFTER = 1.0


def _config(fake: FakePagerDuty, ca_file: str, hook_url: str) -> str:
    return f"""
channels:{channel_yaml(fake, ca_file, KEY, "300ms")}
  hook:
    type: webhook
    webhook: {{url: "{hook_url}", timeout: 2s}}
    # One notice at once, then one a second: the rest go out as digests.
    rate_limit: {{per_minute: 60, burst: 1}}
escalation_policies:
  oncall:
    tiers:
      - {{after: {TIER_AFTER:g}s, notify: [hook, pd]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
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


def _notified(hook: WebhookReceiver) -> dict[str, tuple[str, float]]:
    """alertname -> (kind of the first notice naming it, when it arrived)."""
    seen: dict[str, tuple[str, float]] = {}
    for received in hook.requests:
        body = json.loads(received.body)
        for each in body["alerts"]:
            seen.setdefault(each["labels"]["alertname"], (body["kind"], received.received_at))
    return seen


async def test_alerts_from_the_future_and_the_distant_past_page_and_are_recorded(
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    fake: FakePagerDuty,
    hook: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca_file = fake.write_ca(tmp_path / "pagerduty-ca.pem")
    config = make_config(db_url, _config(fake, ca_file, hook.url))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    hours_ahead = format_rfc3339(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3))
    starts = {
        "FromYear9999": YEAR_9999,
        "HoursAhead": hours_ahead,
        "FromYear1": YEAR_1,
        "OnTime": format_rfc3339(datetime.now(UTC).replace(microsecond=0)),
    }
    sent = time.time()
    with caplog.at_level(logging.WARNING, logger="firebreak.escalation"):
        for name, starts_at in starts.items():
            body = webhook(alert(name, starts_at=starts_at), group_key=f'{{}}:{{a="{name}"}}')
            resp = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
            assert resp.status == 200, await resp.text()
        # Every one reaches the webhook channel (one at once, the rest in digests) and PagerDuty.
        notified = await eventually(
            lambda: (seen := _notified(hook)).keys() == starts.keys() and seen,
            within=20,
            what="every alert notified on the webhook channel",
        )
        await eventually(lambda: len(fake.incidents) == 4, within=20, what="four incidents")
    assert {kind for kind, _at in notified.values()} <= {"firing", "digest"}
    # Hours ahead: the tier's delay counted from when Firebreak first saw it, not from startsAt.
    assert notified["HoursAhead"][1] - sent >= TIER_AFTER - 0.1

    # PagerDuty dates an alert from the future when it was first seen, never ahead of now.
    events = {e["payload"]["custom_details"]["labels"]["alertname"]: e for e in fake.requests}
    for name in ("FromYear9999", "HoursAhead"):
        stamped = parse_rfc3339(events[name]["payload"]["timestamp"])
        assert stamped <= datetime.now(UTC), (name, stamped)
        assert events[name]["payload"]["custom_details"]["starts_at"] == starts[name]
    assert events["FromYear1"]["payload"]["timestamp"] == YEAR_1

    # Counted (the two from the future only), logged, and shown in /health/detailed.
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_alert_start_skew_seconds_count 2.0" in metrics
    assert 'firebreak_alert_start_skew_seconds_bucket{le="86400.0"} 1.0' in metrics
    logged = [r.getMessage() for r in caplog.records if "first saw it" in r.getMessage()]
    assert len(logged) == 2 and any(f"(FromYear9999) starts {YEAR_9999}" in m for m in logged)
    health = await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))
    clock = (await health.json())["checks"]["clock"]
    assert clock["status"] == "degraded"
    assert clock["alerts_from_the_future"] == 2
    assert clock["largest_skew_seconds"] > 250_000_000_000  # about 7,975 years
    assert clock["latest_alertname"] in ("FromYear9999", "HoursAhead")
    assert clock["latest_skew_seconds"] > 10_000

    # Reports, the API and the console read these alerts like any other.
    for report in ("response", "noise", "runbooks"):
        for window in ("since=30d", "since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z"):
            resp = await client.get(f"/api/v1/reports/{report}?{window}", headers=auth(ADMIN_TOKEN))
            assert resp.status == 200, (report, window, await resp.text())
    listing = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    assert {a["starts_at"] for a in listing["alerts"]} == set(starts.values())
    await login(client, VIEWER_TOKEN)
    page = await client.get("/")
    assert page.status == 200
    reports = await client.get("/console/reports?since=0001-01-01T00:00:00Z")
    assert reports.status == 200, await reports.text()
    health_page = await client.get("/console/health")
    assert "alerts_from_the_future: 2" in await health_page.text()
    for each in listing["alerts"]:
        detail = await client.get(f"/console/alerts/{each['id']}")
        assert detail.status == 200
        if each["labels"]["alertname"] == "FromYear1":
            assert "ago" in await detail.text()


async def test_a_future_start_escalates_to_the_second_from_when_it_was_first_seen(
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    hook: WebhookReceiver,
    manual_clock: ManualClock,
) -> None:
    """On a hand-moved clock: tier 1 at once and tier 2 exactly 60 s after Firebreak first saw
    the alerts, whatever their ``startsAt`` says (year 9999, three hours ahead)."""
    config = make_config(
        db_url,
        f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{hook.url}", timeout: 2s}}}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [hook]}}
      - {{after: 60s, notify: [{{channel: hook, target: "{hook.url}?tier=2"}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
""",
    )
    app = create_app(
        config, clock=manual_clock, monotonic=manual_clock.monotonic, registry=CollectorRegistry()
    )
    client = await aiohttp_client(app)
    manual_clock.watch(app)
    ahead = format_rfc3339(manual_clock() + timedelta(hours=3))
    for name, starts_at in (("FromYear9999", YEAR_9999), ("HoursAhead", ahead)):
        body = webhook(alert(name, starts_at=starts_at), group_key=f'{{}}:{{a="{name}"}}')
        resp = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200, await resp.text()
    await manual_clock.settle()

    def paged(path: str) -> list[str]:
        return sorted(
            a["labels"]["alertname"]
            for r in hook.requests
            if r.path == path
            for a in json.loads(r.body)["alerts"]
        )

    assert paged("/hook") == ["FromYear9999", "HoursAhead"]  # tier 1 (after 0s): at once
    await manual_clock.advance(timedelta(seconds=59))
    assert paged("/hook?tier=2") == []
    await manual_clock.advance(timedelta(seconds=1))
    assert paged("/hook?tier=2") == ["FromYear9999", "HoursAhead"]  # tier 2: at 60 s exactly
