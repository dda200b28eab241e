"""Grafana annotations: an alert firing and resolving, and a runbook starting and finishing, are
each written once to Grafana's /api/annotations, through a spell of Grafana 500s."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.automation.conftest import PAUSE, finished
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook


async def test_alerts_and_runbooks_are_annotated_once_through_grafana_errors(
    start: Any,
) -> None:
    async with WebhookReceiver(path="/api/annotations") as grafana:
        grafana.script(500, 503)  # Grafana is down for the first two attempts
        extra = f"""
grafana: {{url: "{grafana.base_url}", token: "glsa_secret-token", tags: [firebreak, prod]}}
"""
        client = await start(PAUSE, extra=extra)
        body = webhook(alert("DiskFull", annotations={"summary": "disk 91% full"}))
        assert (await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))).status == 200

        async def executions() -> list[dict[str, Any]]:
            resp = await client.get("/api/v1/executions", headers=auth(RESPONDER_TOKEN))
            return list((await resp.json())["executions"])

        (execution,) = await eventually(executions)
        assert (await finished(client, execution["id"]))["state"] == "succeeded"
        alert_id = execution["alert_id"]
        resolved = await client.post(
            f"/api/v1/alerts/{alert_id}/resolve", headers=auth(RESPONDER_TOKEN)
        )
        assert resolved.status == 200

        def written() -> list[dict[str, Any]]:
            """What Grafana accepted: every request after the two it failed."""
            return [grafana.json(i) for i in range(2, len(grafana.requests))]

        await eventually(lambda: len(written()) >= 4, within=15)
        await asyncio.sleep(0.5)  # nothing more comes: each event is written once
        assert len(grafana.requests) == 6
        texts = sorted(a["text"] for a in written())
        assert texts == [
            "alert fired: DiskFull: disk 91% full",
            "alert resolved: DiskFull: disk 91% full",
            f"runbook pause started (execution {execution['id']}, auto)",
            f"runbook pause succeeded (execution {execution['id']}, auto)",
        ]
        for annotation in written():
            assert {"firebreak", "prod"} <= set(annotation["tags"])
            assert isinstance(annotation["time"], int) and annotation["time"] > 1_700_000_000_000
        fired = next(a for a in written() if a["text"].startswith("alert fired"))
        assert {"alert", "fired", "alertname:DiskFull"} <= set(fired["tags"])
        assert all(
            r.headers["Authorization"] == "Bearer glsa_secret-token" for r in grafana.requests
        )
