"""Alerts for the triage tests: a small storm in three Alertmanager groups, posted through the
webhook and acted on through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

Client = TestClient[Any, Any]


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def post(client: Client, *alerts: dict[str, Any], group: str) -> None:
    resp = await client.post(
        "/webhook",
        json=webhook(*alerts, group_key=f'{{}}:{{alertname="{group}"}}'),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert resp.status == 200, await resp.text()


async def alert_ids(client: Client) -> dict[str, int]:
    """Alert ids by ``alertname/instance`` (or ``alertname`` without an instance)."""
    resp = await client.get("/api/v1/alerts?limit=1000", headers=auth(VIEWER_TOKEN))
    found = {}
    for a in (await resp.json())["alerts"]:
        labels = a["labels"]
        name = "/".join(filter(None, (labels["alertname"], labels.get("instance"))))
        found[name] = a["id"]
    return found


async def storm(client: Client) -> dict[str, int]:
    """Seven alerts in three Alertmanager groups, some acknowledged, snoozed or resolved."""
    await post(
        client,
        *(
            alert(
                "DiskFilling",
                labels={"severity": "warning", "service": "postgres", "instance": f"db-{n}"},
                starts_at=ago(10 * n),
                annotations={"summary": f"db-{n} fills within 4h"},
            )
            for n in (1, 2, 3)
        ),
        group="DiskFilling",
    )
    await post(
        client,
        alert("HighErrorRate", starts_at=ago(25)),
        alert("HighErrorRate", labels={"instance": "web-2"}, starts_at=ago(45)),
        group="HighErrorRate",
    )
    await post(
        client,
        alert("LatencyHigh", labels={"severity": "info", "service": "search"}, starts_at=ago(5)),
        alert("Mystery", labels={"severity": "page-me"}, starts_at=ago(50)),
        group="Other",
    )
    ids = await alert_ids(client)
    responder = auth(RESPONDER_TOKEN)
    for path, body in (
        (f"/api/v1/alerts/{ids['DiskFilling/db-1']}/acknowledge", {}),
        (f"/api/v1/alerts/{ids['DiskFilling/db-2']}/snooze", {"for": "1h"}),
        (f"/api/v1/alerts/{ids['Mystery']}/resolve", {}),
    ):
        resp = await client.post(path, json=body, headers=responder)
        assert resp.status == 200, await resp.text()
    return ids
