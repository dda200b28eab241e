"""The dead man's switch: when the always-firing Watchdog alert stops arriving, Firebreak raises
MonitoringPipelineBroken through its ordinary escalation, and resolves it when the watchdog
returns. The ``watchdog`` section is the heartbeat ``watchdog``, fed by that alert. Observed at
a real webhook receiver, the alerts and heartbeats API and /health/detailed, on a clock the
test moves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from receiver.alertmanager import parse_webhook
from receiver.model import WATCHDOG_GROUP_KEY, NewJob
from receiver.typedefs import INGESTOR, STORE
from tests.api.test_escalation import HOOK, bodies, waiting_jobs
from tests.api.test_heartbeats import started
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

WATCHDOG_CONFIG = """
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 5s}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook]}}]
notifications: {{group_window: 0s}}
watchdog: {{timeout: 10m, check_interval: 30s, labels: {{team: sre}}}}
jobs: {{poll_interval: 200ms}}
"""


async def _alerts(client: Any) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    return {a["labels"]["alertname"]: a for a in (await resp.json())["alerts"]}


async def _watchdog_check(client: Any) -> dict[str, Any]:
    resp = await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))
    return dict((await resp.json())["checks"]["watchdog"])


async def test_missing_watchdog_raises_an_alert_that_resolves_when_it_returns(
    receiver: WebhookReceiver,
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    manual_clock: ManualClock,
) -> None:
    config = make_config(db_url, WATCHDOG_CONFIG.format(url=receiver.url))
    client = await started(aiohttp_client, config, manual_clock)
    watchdog = webhook(
        alert("Watchdog", labels={"severity": "none"}, starts_at=manual_clock().isoformat()),
        group_key="watchdog",
    )
    assert (await client.post("/webhook", json=watchdog, headers=HOOK)).status == 200
    await manual_clock.settle()
    check = await _watchdog_check(client)
    assert check["status"] == "ok" and check["alertname"] == "Watchdog"
    assert check["last_seen_at"] is not None

    # Nothing more arrives: after the timeout Firebreak raises its own alert and pages.
    await manual_clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert bodies(receiver) == []
    await manual_clock.advance(timedelta(seconds=1))
    assert len(bodies(receiver, "firing")) == 1
    alerts = await _alerts(client)
    broken = alerts["MonitoringPipelineBroken"]
    assert broken["status"] == "firing"
    assert broken["labels"] == {
        "alertname": "MonitoringPipelineBroken",
        "severity": "critical",
        "team": "sre",
        "heartbeat": "watchdog",
    }
    assert "no Watchdog alert" in broken["annotations"]["summary"]
    assert (await _watchdog_check(client))["status"] == "missing"
    # The watchdog itself is stored but never escalated.
    names = [b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver)]
    assert "Watchdog" not in names
    assert alerts["Watchdog"]["status"] == "firing"

    # The watchdog returns (Alertmanager re-sends it): the broken alert resolves, once, at
    # the next look (every check_interval while it is missing).
    await manual_clock.advance(timedelta(minutes=5))
    assert (await client.post("/webhook", json=watchdog, headers=HOOK)).status == 200
    await manual_clock.advance(timedelta(seconds=30))
    assert len(bodies(receiver, "resolved")) == 1
    assert (await _alerts(client))["MonitoringPipelineBroken"]["status"] == "resolved"
    assert (await _watchdog_check(client))["status"] == "ok"
    assert [b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver)] == [
        "MonitoringPipelineBroken",
        "MonitoringPipelineBroken",
    ]
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_watchdog_missing 0.0" in metrics
    assert "firebreak_watchdog_last_seen_timestamp_seconds " in metrics
    # However many checks ran, one waits: the next deadline.
    assert await waiting_jobs(client, "heartbeat") == 1
    # The watchdog is one heartbeat among others.
    resp = await client.get("/api/v1/heartbeats", headers=auth(VIEWER_TOKEN))
    (listed,) = (await resp.json())["heartbeats"]
    assert listed["name"] == "watchdog" and listed["alert"] == "Watchdog"
    assert listed["state"] == "ok" and listed["interval_seconds"] == 600


async def test_an_alert_fed_heartbeat_beats_on_each_arrival_and_never_escalates_it(
    receiver: WebhookReceiver,
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    manual_clock: ManualClock,
) -> None:
    text = WATCHDOG_CONFIG.format(url=receiver.url).replace(
        "watchdog: {timeout: 10m, check_interval: 30s, labels: {team: sre}}",
        "heartbeats: {etl: {alert: EtlFinished, interval: 1h, grace: 0s, check_interval: 1m}}",
    )
    client = await started(aiohttp_client, make_config(db_url, text), manual_clock)
    finished = webhook(alert("EtlFinished", starts_at=manual_clock().isoformat()), group_key="e")
    assert (await client.post("/webhook", json=finished, headers=HOOK)).status == 200
    await manual_clock.advance(timedelta(minutes=59))
    assert (await client.post("/webhook", json=finished, headers=HOOK)).status == 200
    await manual_clock.advance(timedelta(minutes=59))
    assert bodies(receiver) == []  # each arrival was a beat, and none was escalated
    # No token is configured: no request can beat it.
    refused = await client.post("/api/v1/heartbeats/etl", headers=auth(VIEWER_TOKEN))
    assert refused.status == 401
    await manual_clock.advance(timedelta(minutes=1))
    assert [b["alerts"][0]["labels"] for b in bodies(receiver, "firing")] == [
        {"alertname": "HeartbeatMissing", "severity": "warning", "heartbeat": "etl"}
    ]
    assert (await client.post("/webhook", json=finished, headers=HOOK)).status == 200
    await manual_clock.advance(timedelta(minutes=1))
    assert len(bodies(receiver, "resolved")) == 1


async def test_a_pipeline_alert_and_a_check_from_before_the_upgrade_are_taken_over(
    receiver: WebhookReceiver,
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    manual_clock: ManualClock,
) -> None:
    """A MonitoringPipelineBroken raised under the old group, and a pending ``watchdog`` job,
    as a release before the watchdog was a heartbeat left them."""
    config = make_config(db_url, WATCHDOG_CONFIG.format(url=receiver.url))
    client = await started(aiohttp_client, config, manual_clock)
    old = webhook(
        alert(
            "MonitoringPipelineBroken",
            labels={"team": "sre"},
            starts_at=manual_clock().isoformat(),
        ),
        group_key=WATCHDOG_GROUP_KEY,
    )
    # No webhook may put an alert in that group any longer (the watchdog heartbeat ends what
    # is there): the old release's alert is stored the way that release stored it.
    refused = await client.post("/webhook", json=old, headers=HOOK)
    assert refused.status == 400 and (await refused.json())["field"] == "groupKey"
    await client.app[INGESTOR].submit(parse_webhook(old), None)
    store = client.app[STORE]
    async with store.transaction() as conn:
        await store.jobs.enqueue(
            conn,
            [NewJob("watchdog", {}, manual_clock(), "watchdog:1")],
            manual_clock(),
        )
    await manual_clock.settle()
    assert len(bodies(receiver, "firing")) == 1
    async with store.connection() as conn:
        (legacy,) = await store.jobs.list_jobs(conn, "done", "watchdog", 5, None)
    assert legacy.outcome == "moved"

    # The watchdog arrives, and the upgraded release starts: the old alert ends at once.
    watchdog = webhook(
        alert("Watchdog", labels={"severity": "none"}, starts_at=manual_clock().isoformat()),
        group_key="watchdog",
    )
    assert (await client.post("/webhook", json=watchdog, headers=HOOK)).status == 200
    manual_clock.forget(client.app)
    await client.close()
    client = await started(aiohttp_client, config, manual_clock)
    assert (await _alerts(client))["MonitoringPipelineBroken"]["status"] == "resolved"
    assert len(bodies(receiver, "resolved")) == 1
