"""The dead man's switch: when the always-firing Watchdog alert stops arriving, Firebreak raises
MonitoringPipelineBroken through its ordinary escalation, and resolves it when the watchdog
returns. Observed at a real webhook receiver, the alerts API and /health/detailed."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.api.test_escalation import HOOK, bodies, eventually, waiting_jobs
from tests.conftest import VIEWER_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

WATCHDOG_CONFIG = """
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 1s}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook]}}]
notifications: {{group_window: 0s}}
watchdog: {{timeout: 1500ms, check_interval: 200ms, labels: {{team: sre}}}}
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
) -> None:
    config = make_config(db_url, WATCHDOG_CONFIG.format(url=receiver.url))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    watchdog = webhook(alert("Watchdog", labels={"severity": "none"}), group_key="watchdog")
    assert (await client.post("/webhook", json=watchdog, headers=HOOK)).status == 200
    check = await _watchdog_check(client)
    assert check["status"] == "ok" and check["alertname"] == "Watchdog"
    assert check["last_seen_at"] is not None

    # Nothing more arrives: after the timeout Firebreak raises its own alert and pages.
    await eventually(
        lambda: (
            "MonitoringPipelineBroken"
            in {b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver, "firing")}
        ),
        within=10,
    )
    alerts = await _alerts(client)
    broken = alerts["MonitoringPipelineBroken"]
    assert broken["status"] == "firing"
    assert broken["labels"] == {
        "alertname": "MonitoringPipelineBroken",
        "severity": "critical",
        "team": "sre",
    }
    assert "no Watchdog alert" in broken["annotations"]["summary"]
    assert (await _watchdog_check(client))["status"] == "missing"
    # The watchdog itself is stored but never escalated.
    names = [b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver)]
    assert "Watchdog" not in names
    assert alerts["Watchdog"]["status"] == "firing"

    # The watchdog returns (Alertmanager re-sends it): the broken alert resolves, once.
    assert (await client.post("/webhook", json=watchdog, headers=HOOK)).status == 200
    await eventually(lambda: len(bodies(receiver, "resolved")) == 1, within=10)
    assert (await _alerts(client))["MonitoringPipelineBroken"]["status"] == "resolved"
    assert (await _watchdog_check(client))["status"] == "ok"
    assert [b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver)] == [
        "MonitoringPipelineBroken",
        "MonitoringPipelineBroken",
    ]
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_watchdog_missing 0.0" in metrics
    assert "firebreak_watchdog_last_seen_timestamp_seconds " in metrics
    # However many checks ran, one chain of them waits.
    assert await waiting_jobs(client, "watchdog") == 1
