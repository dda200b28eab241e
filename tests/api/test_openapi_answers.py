"""The OpenAPI document against what the views answer: for each tag of the document, its
operations' success answers are checked against their schemas on real responses of the running
application (SQLite and PostgreSQL), so neither can change without the other."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.documented import (
    DOCUMENT,
    HEARTBEAT_TOKEN,
    JSON,
    PAGERDUTY_SECRET,
    Answers,
    Start,
    now_rfc3339,
    starter,
)
from tests.api.test_grafana_webhook import grafana_alert, grafana_webhook
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    eventually,
)
from tests.fakes.pagerduty import FakePagerDuty, Incident
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook


def json_answers(*, tag: str) -> set[tuple[str, str, int]]:
    """Every (method, path, status) of the operations tagged ``tag`` whose success answer is
    JSON with a schema."""
    return {
        (method, path, int(status))
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        if tag in operation["tags"]
        for status, response in operation["responses"].items()
        if status.startswith("2") and "schema" in response.get("content", {}).get(JSON, {})
    }


TAGS = sorted(
    {tag for ops in DOCUMENT["paths"].values() for op in ops.values() for tag in op["tags"]}
)


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> Start:
    return starter(aiohttp_client, tmp_path, receiver)


@pytest.fixture
async def answers(start: Start, db_url: str) -> Answers:
    return await start(db_url)


# --- what each part of the API answers, by the document's tags ---------------------------------


async def _ingest(a: Answers) -> None:
    body = await a.check(
        "post",
        "/webhook",
        200,
        token=WEBHOOK_TOKEN,
        json=webhook(alert("HighErrorRate", starts_at=now_rfc3339())),
    )
    assert body == {"status": "success", "alerts": 1}
    grafana = grafana_webhook(grafana_alert(startsAt=now_rfc3339()))
    body = await a.check("post", "/webhook/grafana", 200, token=WEBHOOK_TOKEN, json=grafana)
    assert body == {"status": "success", "alerts": 1}


async def _alerts(a: Answers) -> None:
    await a.post_alerts(
        alert("HighErrorRate", starts_at=now_rfc3339(timedelta(minutes=5))),
        alert("DiskFull", starts_at=now_rfc3339(timedelta(minutes=3))),
    )
    # A Grafana-managed alert: its links and values keep to the alert's schema too.
    grafana = grafana_webhook(grafana_alert(startsAt=now_rfc3339(timedelta(minutes=4))))
    resp = await a.client.post("/webhook/grafana", json=grafana, headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200
    ids = await a.alert_ids()
    page = await a.check("get", "/api/v1/alerts", 200, token=VIEWER_TOKEN, params={"limit": "1"})
    assert len(page["alerts"]) == 1 and page["next_cursor"] is not None

    one = "/api/v1/alerts/{id}"
    url = f"/api/v1/alerts/{ids['HighErrorRate']}"
    note = {"note": "on it"}
    await a.check("post", one + "/snooze", 200, url=url + "/snooze", json={"for": "30m", **note})
    acked = await a.check("post", one + "/acknowledge", 200, url=url + "/acknowledge", json=note)
    assert acked["acknowledged_by"] is not None
    resolved = await a.check("post", one + "/resolve", 200, url=url + "/resolve")
    assert resolved["status"] == "resolved"

    async def notified() -> dict[str, Any] | None:
        resp = await a.client.get(url, headers=auth(VIEWER_TOKEN))
        found: dict[str, Any] = await resp.json()
        return found if found["notifications"] else None

    await eventually(notified, what="a notification recorded")
    detail = await a.check("get", one, 200, url=url, token=VIEWER_TOKEN)
    assert {e["kind"] for e in detail["events"]} >= {"fired", "acknowledged", "manually_resolved"}
    page = {"key": "answers-1", "title": "Paged by hand", "labels": {"team": "dba"}}
    raised = await a.check("post", "/api/v1/alerts", 201, token=RESPONDER_TOKEN, json=page)
    again = await a.check("post", "/api/v1/alerts", 200, token=RESPONDER_TOKEN, json=page)
    assert raised["id"] == again["id"]


async def _jobs(a: Answers) -> None:
    a.receiver.script(Reply(400, body=b"bad payload"))  # the first notification is refused
    await a.post_alerts(alert("DiskFull", starts_at=now_rfc3339()))

    async def dead() -> list[dict[str, Any]]:
        resp = await a.client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
        return list((await resp.json())["jobs"])

    [job] = await eventually(dead, what="a dead-lettered notification")
    listed = await a.check("get", "/api/v1/jobs", 200, token=VIEWER_TOKEN)
    assert job["id"] in {j["id"] for j in listed["jobs"]}
    retried = await a.check(
        "post", "/api/v1/jobs/{id}/retry", 200, url=f"/api/v1/jobs/{job['id']}/retry"
    )
    assert retried["state"] == "pending"


async def _audit(a: Answers) -> None:
    await a.post_alerts(alert("DiskFull", starts_at=now_rfc3339()))
    ids = await a.alert_ids()
    resp = await a.client.post(
        f"/api/v1/alerts/{ids['DiskFull']}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    paused = await a.client.post(
        "/api/v1/automation/pause", json={"reason": "maintenance"}, headers=auth(ADMIN_TOKEN)
    )
    assert paused.status == 200
    body = await a.check("get", "/api/v1/audit", 200)
    assert body["entries"], body


async def _reports(a: Answers) -> None:
    await a.post_alerts(
        alert("HighErrorRate", starts_at=now_rfc3339(timedelta(minutes=30))),
        alert("DiskFull", starts_at=now_rfc3339(timedelta(minutes=20))),
    )
    ids = await a.alert_ids()
    await eventually(lambda: len(a.receiver.requests) >= 1, what="the page")
    for action in ("acknowledge", "resolve"):
        resp = await a.client.post(
            f"/api/v1/alerts/{ids['DiskFull']}/{action}", headers=auth(RESPONDER_TOKEN)
        )
        assert resp.status == 200
    started = await a.client.post(
        "/api/v1/runbooks/restart/execute",
        json={"trigger_context": {"service": "web"}},
        headers=auth(RESPONDER_TOKEN),
    )
    execution = await started.json()
    await a.in_state(execution["id"], "waiting_approval")
    approved = await a.client.post(
        f"/api/v1/executions/{execution['id']}/approve", headers=auth(ADMIN_TOKEN)
    )
    assert approved.status == 200, await approved.text()
    await a.in_state(execution["id"], "succeeded")

    response = await a.check("get", "/api/v1/reports/response", 200, token=VIEWER_TOKEN)
    assert response["groups"], response
    noise = await a.check("get", "/api/v1/reports/noise", 200, token=VIEWER_TOKEN)
    assert noise["alerts"], noise
    runbooks = await a.check("get", "/api/v1/reports/runbooks", 200, token=VIEWER_TOKEN)
    assert runbooks["runbooks"], runbooks
    # Nobody is paged here (tests/oncall/test_paging_reports.py pages people).
    oncall = await a.check("get", "/api/v1/reports/oncall", 200, token=VIEWER_TOKEN)
    assert oncall["pages"] == 0, oncall


async def _operations(a: Answers) -> None:
    body = await a.check("post", "/-/reload", 200)
    assert body == {"status": "success", "restart_needed": []}


async def _runbooks(a: Answers) -> None:
    listed = await a.check("get", "/api/v1/runbooks", 200, token=VIEWER_TOKEN)
    assert {r["id"] for r in listed["runbooks"]} == {"restart", "probe"}
    one = await a.check(
        "get", "/api/v1/runbooks/{id}", 200, url="/api/v1/runbooks/restart", token=VIEWER_TOKEN
    )
    assert one["params"]["token"]["default"] != "hunter2-secret"
    await a.check(
        "post",
        "/api/v1/runbooks/{id}/execute",
        202,
        url="/api/v1/runbooks/restart/execute",
        json={"dry_run": True, "trigger_context": {"service": "web", "ticket": "OPS-1"}},
    )
    await a.check(
        "post",
        "/api/v1/runbooks/{id}/reset-breaker",
        200,
        url="/api/v1/runbooks/probe/reset-breaker",
    )
    report = await a.check(
        "post",
        "/api/v1/drills",
        200,
        token=RESPONDER_TOKEN,
        json={"runbook": "probe", "budget": {"finished": 30}},
    )
    assert report["ok"] is True, report


async def _executions(a: Answers) -> None:
    async def start() -> int:
        resp = await a.client.post(
            "/api/v1/runbooks/restart/execute",
            json={"trigger_context": {"service": "web"}},
            headers=auth(RESPONDER_TOKEN),
        )
        assert resp.status == 202, await resp.text()
        execution_id = int((await resp.json())["id"])
        await a.in_state(execution_id, "waiting_approval")
        return execution_id

    approved, rejected, cancelled = await start(), await start(), await start()
    one = "/api/v1/executions/{id}"
    await a.check("post", one + "/approve", 200, url=f"/api/v1/executions/{approved}/approve")
    await a.in_state(approved, "succeeded")
    await a.check("post", one + "/reject", 200, url=f"/api/v1/executions/{rejected}/reject")
    await a.check(
        "post",
        one + "/cancel",
        200,
        url=f"/api/v1/executions/{cancelled}/cancel",
        json={"reason": "not needed"},
    )
    record = await a.check(
        "get", one, 200, url=f"/api/v1/executions/{approved}", token=VIEWER_TOKEN
    )
    assert len(record["steps"]) == 2 and record["events"], record
    listed = await a.check("get", "/api/v1/executions", 200, token=VIEWER_TOKEN)
    assert len(listed["executions"]) == 3


async def _automation(a: Answers) -> None:
    before = await a.check("get", "/api/v1/automation", 200, token=VIEWER_TOKEN)
    assert before == {"paused": False}
    paused = await a.check("post", "/api/v1/automation/pause", 200, json={"reason": "deploy"})
    assert paused["paused"] is True
    assert (await a.check("get", "/api/v1/automation", 200, token=VIEWER_TOKEN)) == paused
    resumed = await a.check("post", "/api/v1/automation/resume", 200)
    assert resumed["paused"] is False


async def _ops(a: Answers) -> None:
    await a.post_alerts(alert("DiskFull", starts_at=now_rfc3339()))
    await eventually(lambda: len(a.receiver.requests) >= 1, what="the page")  # a breaker
    health = await a.check("get", "/health", 200, token=None)
    assert health["status"] == "ok"
    detailed = await a.check("get", "/health/detailed", 200, token=VIEWER_TOKEN)
    assert {"database", "webhooks", "replica", "jobs", "watchdog", "calendars", "clock"} <= set(
        detailed["checks"]
    )
    breakers = await a.check("get", "/debug/circuit-breakers", 200, token=VIEWER_TOKEN)
    assert breakers["breakers"], breakers
    document = await a.check("get", "/api/v1/openapi.json", 200, token=None)
    assert document == json.loads(json.dumps(DOCUMENT))


async def _integrations(a: Answers) -> None:
    incident = Incident(
        id="PINC0001", number=1, routing_key="R0UT1NG", incident_key="unknown", title="Unknown"
    )
    body = FakePagerDuty.webhook_body("incident.acknowledged", incident)
    answer = await a.check(
        "post",
        "/integrations/pagerduty/webhook",
        200,
        token=None,
        data=body,
        headers={
            "Content-Type": JSON,
            "X-PagerDuty-Signature": FakePagerDuty.sign(PAGERDUTY_SECRET, body),
        },
    )
    assert answer["status"] == "success"


async def _schedules(a: Answers) -> None:
    listed = await a.check("get", "/api/v1/schedules", 200, token=VIEWER_TOKEN)
    assert [s["id"] for s in listed["schedules"]] == ["primary", "imported"]
    path = "/api/v1/schedules/{id}/oncall"
    at = "2026-01-02T12:00:00Z"
    now = await a.check("get", path, 200, url=f"/api/v1/schedules/primary/oncall?at={at}")
    assert [p["id"] for p in now["on_call"]] == ["ben"]
    assert now["next"]["people"] == [{"id": "ana", "name": "Ana Alves"}]
    gap = await a.check(
        "get", path, 200, url="/api/v1/schedules/primary/oncall?at=2025-01-01T00:00:00Z"
    )
    assert gap["on_call"] == [] and gap["shift"] is None
    shifts = await a.check(
        "get",
        "/api/v1/schedules/{id}/shifts",
        200,
        url="/api/v1/schedules/imported/shifts?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
    )
    assert [(s["start"], s["end"]) for s in shifts["shifts"]] == [
        ("2026-03-01T08:00:00Z", "2026-03-01T20:00:00Z")
    ]
    made = await a.check(
        "post",
        "/api/v1/schedules/{id}/overrides",
        201,
        url="/api/v1/schedules/primary/overrides",
        token=RESPONDER_TOKEN,
        json={"person": "ana", "duration": "2h"},
    )
    assert made["created_by"] == "api:bob"
    await a.check(
        "delete",
        "/api/v1/schedules/{id}/overrides/{override}",
        200,
        url=f"/api/v1/schedules/primary/overrides/{made['id']}",
        token=RESPONDER_TOKEN,
    )


async def _maintenance(a: Answers) -> None:
    body = {"name": "db", "matchers": ['service="db"'], "reason": "upgrade", "owner": "ana"}
    made = await a.check(
        "post",
        "/api/v1/maintenance",
        201,
        token=RESPONDER_TOKEN,
        json={**body, "duration": "2h"},
    )
    assert made["open"] is True
    listed = await a.check("get", "/api/v1/maintenance", 200, token=VIEWER_TOKEN)
    assert [w["name"] for w in listed["windows"]] == ["db"]
    ended = await a.check(
        "delete",
        "/api/v1/maintenance/{name}",
        200,
        url="/api/v1/maintenance/db",
        token=RESPONDER_TOKEN,
    )
    assert ended["ended_at"] is not None


async def _heartbeats(a: Answers) -> None:
    listed = await a.check("get", "/api/v1/heartbeats", 200, token=VIEWER_TOKEN)
    assert [(h["name"], h["alert"]) for h in listed["heartbeats"]] == [
        ("backup", None),
        ("watchdog", "Watchdog"),  # the watchdog section's
    ]
    beat = await a.check(
        "post",
        "/api/v1/heartbeats/{name}",
        200,
        url="/api/v1/heartbeats/backup",
        token=HEARTBEAT_TOKEN,
        json={"message": "backed up"},
    )
    assert beat["state"] == "ok" and beat["labels"]["team"] == "storage"
    await a.check(
        "post",
        "/api/v1/heartbeats/{name}",
        200,
        url="/api/v1/heartbeats/backup",
        token=HEARTBEAT_TOKEN,
    )


SCENARIOS: dict[str, Callable[[Answers], Awaitable[None]]] = {
    "ingest": _ingest,
    "alerts": _alerts,
    "jobs": _jobs,
    "audit": _audit,
    "reports": _reports,
    "operations": _operations,
    "runbooks": _runbooks,
    "executions": _executions,
    "automation": _automation,
    "ops": _ops,
    "integrations": _integrations,
    "schedules": _schedules,
    "maintenance": _maintenance,
    "heartbeats": _heartbeats,
}


@pytest.mark.parametrize("tag", TAGS)
async def test_every_json_answer_keeps_to_its_documented_schema(tag: str, answers: Answers) -> None:
    assert tag in SCENARIOS, f"the document's tag {tag!r} has no scenario here: add one"
    await SCENARIOS[tag](answers)
    assert answers.checked == json_answers(tag=tag)
