"""The OpenAPI document against the errors the API answers: every status documented in the
one error shape, met for real with each of its optional fields, and the note and reason
lengths the document gives against the ones the API keeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.typedefs import STORE
from tests.api.documented import (
    DOCUMENT,
    ERROR,
    HEARTBEAT_TOKEN,
    JSON,
    Answers,
    Start,
    now_rfc3339,
    problems,
    starter,
)
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> Start:
    return starter(aiohttp_client, tmp_path, receiver)


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
    # It comes back (and the application stops as it would with its store there).
    (tmp_path / "store-gone").rename(tmp_path / "store")
    await a.check("get", "/health/detailed", 200, token=VIEWER_TOKEN)

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
        "/api/v1/heartbeats/{name}": "/api/v1/heartbeats/backup",
    }
    lengths = documented_lengths()
    assert {path for _m, path, _f in lengths} == set(urls)
    for (method, path, name), length in lengths.items():
        more = {"for": "30m"} if path.endswith("/snooze") else {}
        token = HEARTBEAT_TOKEN if path.startswith("/api/v1/heartbeats/") else ADMIN_TOKEN
        refused = await a.check(
            method, path, 400, url=urls[path], token=token, json={name: "x" * (length + 1), **more}
        )
        assert refused["field"] == name, refused
        await a.check(
            method, path, 200, url=urls[path], token=token, json={name: "x" * length, **more}
        )

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
    beats = await (await a.client.get("/api/v1/heartbeats", headers=auth(VIEWER_TOKEN))).json()
    assert (
        beats["heartbeats"][0]["last_message"]
        == "x" * lengths[("post", "/api/v1/heartbeats/{name}", "message")]
    )
