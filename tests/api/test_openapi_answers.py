"""The OpenAPI document against what the views answer: each documented JSON answer is checked
against its schema on real responses of the running application, so neither can change
without the other.

Held strictly: beyond the document's own types and required properties, an object the
document describes with ``properties`` may not carry a property it does not name (the served
document leaves objects open, as clients should ignore what they do not know; the test closes
them so a field a view adds without documentation fails here).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.api.openapi import openapi_document
from receiver.app import create_app
from receiver.config import load_config
from receiver.typedefs import STORE
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    config_text,
    eventually,
)
from tests.fakes.pagerduty import FakePagerDuty, Incident
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook

DOCUMENT = openapi_document()
JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
PAGERDUTY_SECRET = "pd-webhook-secret-0123456789"

# --- the document's schemas, closed ------------------------------------------------------------


def _closed(node: Any, *, open_top: bool = False) -> Any:
    """``node`` with ``unevaluatedProperties: false`` on every object schema that names its
    properties (or combines others with ``allOf``) and does not say what else it allows.

    The members of an ``allOf`` stay open (``open_top``), the combination is closed: a
    closed member would refuse the properties its siblings name. A member that is a ``$ref``
    points at the open copy of its schema (``#/components/open/...``) for the same reason.
    """
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    found: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":  # a map of names (which may be any word) to schemas
            found[key] = {name: _closed(schema) for name, schema in value.items()}
        elif key == "allOf":
            found[key] = [_open_member(member) for member in value]
        else:
            found[key] = _closed(value)
    names_properties = "properties" in node or "allOf" in node
    if names_properties and "additionalProperties" not in node and not open_top:
        found["unevaluatedProperties"] = False
    return found


def _open_member(member: dict[str, Any]) -> Any:
    if "$ref" in member:
        return {"$ref": member["$ref"].replace("/schemas/", "/open/")}
    return _closed(member, open_top=True)


_COMPONENTS = {
    "schemas": {name: _closed(s) for name, s in DOCUMENT["components"]["schemas"].items()},
    "open": {
        name: _closed(s, open_top=True) for name, s in DOCUMENT["components"]["schemas"].items()
    },
}


def documented_schema(method: str, path: str, status: int) -> Any:
    """The JSON schema the document gives for this answer (KeyError when it gives none)."""
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    return response["content"][JSON]["schema"]


def validator(schema: Any) -> Any:
    """A validator of ``schema``, closed, resolving ``#/components/...`` in the document."""
    return jsonschema_rs.Draft202012Validator(
        {**_closed(schema), "components": _COMPONENTS}, validate_formats=True
    )


def problems(schema: Any, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in validator(schema).iter_errors(body)
    ]


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


# --- the running application -------------------------------------------------------------------


class Answers:
    """The application under test, and each answer it gave checked against the document."""

    def __init__(self, client: TestClient[Any, Any], receiver: WebhookReceiver) -> None:
        self.client = client
        self.receiver = receiver
        self.checked: set[tuple[str, str, int]] = set()

    async def check(
        self,
        method: str,
        path: str,
        status: int,
        *,
        url: str | None = None,
        token: str | None = ADMIN_TOKEN,
        **kwargs: Any,
    ) -> Any:
        """Call ``url`` (``path`` with its parameters filled in), expect ``status`` and a body
        that keeps to the documented schema of ``path``; the body."""
        headers = {**(auth(token) if token else {}), **kwargs.pop("headers", {})}
        resp = await self.client.request(method.upper(), url or path, headers=headers, **kwargs)
        body = await resp.json()
        assert resp.status == status, body
        assert resp.content_type == JSON
        found = problems(documented_schema(method, path, status), body)
        assert found == [], (method, path, status, found, body)
        self.checked.add((method, path, status))
        return body

    async def post_alerts(self, *alerts: dict[str, Any], group_key: str = "g") -> None:
        resp = await self.client.post(
            "/webhook", json=webhook(*alerts, group_key=group_key), headers=auth(WEBHOOK_TOKEN)
        )
        assert resp.status == 200, await resp.text()

    async def alert_ids(self) -> dict[str, int]:
        resp = await self.client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
        return {a["labels"]["alertname"]: a["id"] for a in (await resp.json())["alerts"]}

    async def execution(self, execution_id: int) -> dict[str, Any]:
        resp = await self.client.get(
            f"/api/v1/executions/{execution_id}", headers=auth(VIEWER_TOKEN)
        )
        return await resp.json()  # type: ignore[no-any-return]

    async def in_state(self, execution_id: int, state: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            found = await self.execution(execution_id)
            return found if found["state"] == state else None

        found: dict[str, Any] = await eventually(reached, what=f"execution {execution_id} {state}")
        return found


def now_rfc3339(back: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) - back).isoformat().replace("+00:00", "Z")


# Manual only: runs from the API, stops at an approval; its params show every kind of field.
RESTART = """
id: restart
title: Restart the service
description: Restarts the service the alert names.
owner: team-web
match: ['alertname="HighErrorRate"']
automatic: false
params:
  service: {type: string, from: labels.service, settable: true, pattern: '[a-z-]+',
            description: the service to restart}
  mode: {type: enum, values: [soft, hard], default: soft, settable: true}
  attempts: {type: int, default: 2}
  token: {type: string, secret: true, default: hunter2-secret}
concurrency: {max: 5, per_alert: 5}
steps:
  - id: ask
    approval: {message: "restart {{ params.service }}?", timeout: 1h}
  - id: settle
    name: Let it settle
    wait: {duration: 100ms}
    rollback:
      wait: {duration: 100ms}
"""

# Starts by itself on DrillTarget alerts; what drills run.
PROBE = """
id: probe
title: Probe
match: ['alertname="DrillTarget"']
steps:
  - id: pause
    wait: {duration: 100ms}
"""


def application_config(db_url: str, tmp_path: Path, hook_url: str, api: str = "") -> Path:
    """The configuration file of the application under test; ``api``: more ``api:`` keys."""
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "restart.yml").write_text(RESTART)
    (tmp_path / "runbooks" / "probe.yml").write_text(PROBE)
    extra = f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{hook_url}", timeout: 1s}}}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [hook]}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{workers: 4, lease: 5s, max_attempts: 3, backoff_initial: 100ms, backoff_max: 200ms,
        poll_interval: 100ms}}
automation: {{runbooks: ["{tmp_path}/runbooks/*.yml"], mode: live}}
pagerduty: {{webhook_secrets: ["{PAGERDUTY_SECRET}"]}}
watchdog: {{timeout: 1h, check_interval: 1h}}
"""
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, extra).replace("api:\n", "api:\n" + api, 1))
    return path


Start = Callable[..., Awaitable[Answers]]


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> Start:
    """Start the application on ``db_url``, configured as above."""

    async def run(db_url: str, api: str = "") -> Answers:
        path = application_config(db_url, tmp_path, receiver.url, api)
        app = create_app(load_config(path), registry=CollectorRegistry(), config_path=str(path))
        return Answers(await aiohttp_client(app), receiver)

    return run


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


async def _alerts(a: Answers) -> None:
    await a.post_alerts(
        alert("HighErrorRate", starts_at=now_rfc3339(timedelta(minutes=5))),
        alert("DiskFull", starts_at=now_rfc3339(timedelta(minutes=3))),
    )
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
    assert {"database", "webhooks", "replica", "jobs", "watchdog", "clock"} <= set(
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
}


@pytest.mark.parametrize("tag", TAGS)
async def test_every_json_answer_keeps_to_its_documented_schema(tag: str, answers: Answers) -> None:
    assert tag in SCENARIOS, f"the document's tag {tag!r} has no scenario here: add one"
    await SCENARIOS[tag](answers)
    assert answers.checked == json_answers(tag=tag)


# --- errors ------------------------------------------------------------------------------------


def documented_errors() -> set[int]:
    """Every status some operation answers with in the one error shape."""
    return {
        int(status)
        for operations in DOCUMENT["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if response.get("content", {}).get(JSON, {}).get("schema") == ERROR
    }


async def _slow_body(a: Answers) -> tuple[int, Any]:
    """A body that never arrives in full: the answer's status and body."""
    server = a.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"POST /api/v1/automation/pause HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer "
            + ADMIN_TOKEN.encode()
            + b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        body = await reader.readexactly(int(headers["Content-Length"]))
        return int(lines[0].split()[1]), json.loads(body)
    finally:
        writer.close()


async def test_every_error_keeps_to_the_one_documented_shape(start: Start, tmp_path: Path) -> None:
    """Each status answered in the Error shape, with each of its optional fields; then the
    store goes away: 503, and /health/detailed's own shape for it."""
    (tmp_path / "store").mkdir()
    a = await start(
        f"sqlite+aiosqlite:///{tmp_path / 'store' / 'firebreak.db'}",
        api="  auth_failure_limit: 3\n  body_timeout: 500ms\n",
    )
    bad = await a.check("get", "/api/v1/alerts", 400, url="/api/v1/alerts?limit=0")
    assert bad["field"] == "limit"
    await a.check("get", "/api/v1/alerts/{id}", 404, url="/api/v1/alerts/999999")
    await a.check("post", "/api/v1/automation/pause", 403, token=VIEWER_TOKEN)
    await a.check(
        "post", "/api/v1/automation/pause", 415, data="x", headers={"Content-Type": "text/plain"}
    )
    await a.check("post", "/api/v1/automation/pause", 413, json={"reason": "x" * 70_000})
    status, body = await _slow_body(a)
    assert status == 408 and problems(ERROR, body) == [], body
    a.checked.add(("post", "/api/v1/automation/pause", 408))

    await a.check("post", "/api/v1/automation/pause", 200, json={"reason": "deploy"})
    held = await a.check(
        "post",
        "/api/v1/runbooks/{id}/execute",
        409,
        url="/api/v1/runbooks/restart/execute",
        token=RESPONDER_TOKEN,
        json={"trigger_context": {"service": "web"}},
    )
    assert isinstance(held["execution_id"], int), held

    config = tmp_path / "firebreak.yml"
    good = config.read_text()
    config.write_text(good + "nonsense: 1\n")
    refused = await a.check("post", "/-/reload", 400)
    assert refused["problems"], refused
    config.write_text(good)

    for _ in range(3):
        await a.check("get", "/api/v1/alerts", 401, token="a-guess-0123456789")
    await a.check("get", "/api/v1/alerts", 429, token="a-guess-0123456789")

    # The database's directory goes away and the open connections with it.
    (tmp_path / "store").rename(tmp_path / "store-gone")
    await a.client.app[STORE].close()
    await a.check("get", "/api/v1/alerts", 503, token=VIEWER_TOKEN)
    health = await a.check("get", "/health/detailed", 503, token=VIEWER_TOKEN)
    assert health["status"] == "fail" and health["checks"]["database"]["status"] == "fail"

    assert {status for _m, _p, status in a.checked} >= documented_errors()
    # Of the answers that are not successes, /health/detailed's 503 alone has another shape.
    others = {
        (method, path, int(status))
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if not status.startswith("2")
        and JSON in response.get("content", {})
        and response["content"][JSON]["schema"] != ERROR
    }
    assert others == {("get", "/health/detailed", 503)} and others <= a.checked


# --- the documented limits ---------------------------------------------------------------------


def documented_lengths() -> dict[tuple[str, str, str], int]:
    """(method, path, body field) to the maxLength the document gives it."""
    schemas = DOCUMENT["components"]["schemas"]
    found = {}
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema")
            if schema and "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            for name, field in (schema or {}).get("properties", {}).items():
                if "maxLength" in field:
                    found[(method, path, name)] = field["maxLength"]
    return found


async def test_the_documented_lengths_are_the_ones_kept(start: Start, db_url: str) -> None:
    """A note or a reason of the documented length is taken and stored whole (on either
    database); one character more is a 400 naming the field, and changes nothing."""
    a = await start(db_url)
    await a.post_alerts(
        alert("HighErrorRate", starts_at=now_rfc3339()), alert("DiskFull", starts_at=now_rfc3339())
    )
    ids = await a.alert_ids()
    resp = await a.client.post(
        "/api/v1/runbooks/restart/execute",
        json={"trigger_context": {"service": "web"}},
        headers=auth(RESPONDER_TOKEN),
    )
    execution = (await resp.json())["id"]
    await a.in_state(execution, "waiting_approval")
    urls = {
        "/api/v1/alerts/{id}/acknowledge": f"/api/v1/alerts/{ids['HighErrorRate']}/acknowledge",
        "/api/v1/alerts/{id}/resolve": f"/api/v1/alerts/{ids['HighErrorRate']}/resolve",
        "/api/v1/alerts/{id}/snooze": f"/api/v1/alerts/{ids['DiskFull']}/snooze",
        "/api/v1/executions/{id}/cancel": f"/api/v1/executions/{execution}/cancel",
        "/api/v1/automation/pause": "/api/v1/automation/pause",
    }
    lengths = documented_lengths()
    assert {path for _m, path, _f in lengths} == set(urls)
    for (method, path, name), length in lengths.items():
        more = {"for": "30m"} if path.endswith("/snooze") else {}
        refused = await a.check(
            method, path, 400, url=urls[path], json={name: "x" * (length + 1), **more}
        )
        assert refused["field"] == name, refused
        await a.check(method, path, 200, url=urls[path], json={name: "x" * length, **more})

    acts = {"acknowledged": "acknowledge", "manually_resolved": "resolve", "snoozed": "snooze"}
    notes = []
    for name in ("HighErrorRate", "DiskFull"):
        resp = await a.client.get(f"/api/v1/alerts/{ids[name]}", headers=auth(VIEWER_TOKEN))
        notes += [
            (e["kind"], e["note"]) for e in (await resp.json())["events"] if e["kind"] in acts
        ]
    assert sorted(notes) == sorted(
        (kind, "x" * lengths[("post", f"/api/v1/alerts/{{id}}/{action}", "note")])
        for kind, action in acts.items()
    )
    cancelled = await a.execution(execution)
    assert (
        cancelled["cancel_reason"]
        == "x" * lengths[("post", "/api/v1/executions/{id}/cancel", "reason")]
    )
    state = await (await a.client.get("/api/v1/automation", headers=auth(VIEWER_TOKEN))).json()
    assert state["reason"] == "x" * lengths[("post", "/api/v1/automation/pause", "reason")]
