"""The OpenAPI document's schemas, closed, and the application whose answers the tests check
against them.

Held strictly: beyond the document's own types and required properties, an object the
document describes with ``properties`` may not carry a property it does not name. The served
document leaves objects open, as clients should ignore what they do not know; the tests close
them so that a field a view adds without documentation fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.api.openapi import openapi_document
from receiver.app import create_app
from receiver.config import load_config
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text, eventually
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.oncall.common import ics
from tests.payloads import webhook

DOCUMENT = openapi_document()
JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
PAGERDUTY_SECRET = "pd-webhook-secret-0123456789"
HEARTBEAT_TOKEN = "backup-heartbeat-token-0123456789"

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


# Ben on call every day from 2026 on, 08:00 to 20:00 UTC.
CALENDAR = ics(
    """
DTSTART:20260101T080000Z
DTEND:20260101T200000Z
RRULE:FREQ=DAILY
SUMMARY:ben
"""
)


def application_config(db_url: str, tmp_path: Path, hook_url: str, api: str = "") -> Path:
    """The configuration file of the application under test; ``api``: more ``api:`` keys."""
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "restart.yml").write_text(RESTART)
    (tmp_path / "runbooks" / "probe.yml").write_text(PROBE)
    (tmp_path / "oncall.ics").write_text(CALENDAR)
    extra = f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{hook_url}", timeout: 5s}}}}
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
heartbeats: {{backup: {{token: "{HEARTBEAT_TOKEN}", interval: 1d, labels: {{team: storage}}}}}}
people: [{{id: ana, name: Ana Alves}}, {{id: ben}}]
schedules:
  - id: primary
    time_zone: Europe/London
    layers: [{{members: [ana, ben], shift: daily, start: "2026-01-01"}}]
  - {{id: imported, ical: oncall.ics}}
"""
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, extra).replace("api:\n", "api:\n" + api, 1))
    return path


Start = Callable[..., Awaitable[Answers]]


def starter(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> Start:
    """What starts the application on a database URL, configured as above (``api``: more
    ``api:`` keys), its notifications going to ``receiver``."""

    async def run(db_url: str, api: str = "") -> Answers:
        path = application_config(db_url, tmp_path, receiver.url, api)
        app = create_app(load_config(path), registry=CollectorRegistry(), config_path=str(path))
        return Answers(await aiohttp_client(app), receiver)

    return run
