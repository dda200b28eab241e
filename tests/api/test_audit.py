"""The audit trail: every action by a person or a token — allowed, refused or rejected — is one
row at GET /api/v1/audit (admin only), with who, what, the outcome and the request id."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook


async def _audit(client: Any, query: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/audit{query}", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["entries"])


async def test_actions_are_audited_allowed_or_refused(client: Any) -> None:
    assert (
        await client.post("/webhook", json=webhook(alert()), headers=auth(WEBHOOK_TOKEN))
    ).status == 200
    listing = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    alert_id = listing["alerts"][0]["id"]
    refused = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(VIEWER_TOKEN)
    )
    assert refused.status == 403
    done = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge",
        json={"note": "on it"},
        headers={**auth(RESPONDER_TOKEN), "X-Request-ID": "req-ack-1"},
    )
    assert done.status == 200
    gone = await client.post("/api/v1/alerts/999999/resolve", headers=auth(RESPONDER_TOKEN))
    assert gone.status == 404

    entries = await _audit(client)
    assert [(e["action"], e["actor"], e["outcome"], e["status"]) for e in entries] == [
        ("resolve", "bob", "rejected", 404),
        ("acknowledge", "bob", "ok", 200),
        ("acknowledge", "carol", "refused", 403),
    ]
    assert entries[1]["target"] == str(alert_id)
    assert entries[1]["request_id"] == "req-ack-1"
    assert entries[1]["interface"] == "api"
    # Reads are not actions, and the webhook is Alertmanager's: neither is in the trail.
    assert {e["action"] for e in entries} == {"acknowledge", "resolve"}
    # Filters and paging.
    assert [e["outcome"] for e in await _audit(client, "?actor=carol")] == ["refused"]
    first = await (await client.get("/api/v1/audit?limit=1", headers=auth(ADMIN_TOKEN))).json()
    assert len(first["entries"]) == 1 and first["next_cursor"]
    rest = await _audit(client, f"?cursor={first['next_cursor']}")
    assert len(rest) == 2


async def test_only_admins_read_the_audit_trail(client: Any) -> None:
    assert (await client.get("/api/v1/audit", headers=auth(RESPONDER_TOKEN))).status == 403
    assert (await client.get("/api/v1/audit")).status == 401
    bad = await client.get("/api/v1/audit?limit=0", headers=auth(ADMIN_TOKEN))
    assert bad.status == 400 and (await bad.json())["field"] == "limit"


async def test_limits_and_cursors_that_are_no_ascii_number_are_a_400(client: Any) -> None:
    # "¹".isdigit() is true, and int("¹") raises: each listing parses its limit in one place.
    for path in ("/api/v1/audit", "/api/v1/jobs", "/api/v1/executions", "/api/v1/alerts"):
        for bad in ("¹", "0", "1001", "-1", "x"):
            resp = await client.get(f"{path}?limit={bad}", headers=auth(ADMIN_TOKEN))
            assert resp.status == 400, (path, bad)
            assert (await resp.json())["field"] == "limit"
    resp = await client.get("/api/v1/reports/noise?limit=¹", headers=auth(ADMIN_TOKEN))
    assert (resp.status, (await resp.json())["field"]) == (400, "limit")
    resp = await client.get("/api/v1/audit?cursor=²", headers=auth(ADMIN_TOKEN))
    assert (resp.status, (await resp.json())["field"]) == (400, "cursor")
