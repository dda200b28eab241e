"""Operations endpoints and the headers every response carries."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook


async def test_health(client: Any) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_seconds"] >= 0


async def test_health_detailed(client: Any) -> None:
    assert (await client.get("/health/detailed")).status == 401
    body = await (await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))).json()
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["webhooks"]["last_received_at"] is None
    replica = body["checks"]["replica"]
    assert replica["id"].count("-") >= 2  # host-pid-suffix
    # The jobs every start makes (windows gone from the file) may still be running: once they
    # are done, this replica holds no lease.
    for _ in range(100):
        if replica["leases"] == 0:
            break
        await asyncio.sleep(0.05)
        body = await (await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))).json()
        replica = body["checks"]["replica"]
    assert replica["leases"] == 0
    await client.post("/webhook", json=webhook(alert()), headers=auth(WEBHOOK_TOKEN))
    body = await (await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))).json()
    assert body["checks"]["webhooks"]["age_seconds"] >= 0


async def test_every_response_carries_the_headers(client: Any) -> None:
    for path in ("/health", "/metrics", "/nope", "/api/v1/alerts"):
        resp = await client.get(path)
        assert len(resp.headers["X-Request-ID"]) >= 16
        assert float(resp.headers["X-Process-Time"]) >= 0
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"


async def test_request_id_is_taken_from_the_request_when_safe(client: Any) -> None:
    resp = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await client.get("/health", headers={"X-Request-ID": "evil\tvalue with spaces"})
    assert resp.headers["X-Request-ID"] != "evil\tvalue with spaces"


async def test_errors_are_json_without_stack_traces(client: Any) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body["status"] == "error" and body["request_id"] == resp.headers["X-Request-ID"]
    resp = await client.put("/webhook")
    assert resp.status == 405
    assert "Traceback" not in await resp.text()


async def test_metrics(client: Any) -> None:
    await client.post("/webhook", json=webhook(alert("A"), alert("B")), headers=auth(WEBHOOK_TOKEN))
    await client.post("/webhook", json={"version": "4"}, headers=auth(WEBHOOK_TOKEN))
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'firebreak_webhook_requests_total{code="200"} 1.0' in text
    assert 'firebreak_webhook_requests_total{code="400"} 1.0' in text
    assert 'firebreak_alerts_received_total{status="firing"} 2.0' in text
    assert "firebreak_webhook_duration_seconds_count 2.0" in text
    assert 'firebreak_active_alerts{severity="critical"} 2.0' in text
    assert "firebreak_build_info" in text


async def test_metrics_answer_in_openmetrics_when_the_scraper_asks(client: Any) -> None:
    await client.post("/webhook", json=webhook(alert("A")), headers=auth(WEBHOOK_TOKEN))
    resp = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await resp.text()
    assert 'firebreak_active_alerts{severity="critical"} 1.0' in text
    assert text.endswith("# EOF\n")
