"""Executions through durable jobs, observed where an operator would: the execution record
over REST, the requests a local service received, real subprocesses. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.automation.conftest import Target, executions, finished
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
ECHO_ARGV = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


async def test_a_firing_alert_runs_its_runbook_once(start: Any, target: Target) -> None:
    argv = json.dumps([*ECHO_ARGV, "{{ labels.service }}", "{{ steps.restart.output.status }}"])
    text = f"""
id: restart-checkout
title: Restart the service that fires
match: ['alertname="HighErrorRate"']
params:
  service: {{from: labels.service}}
  replicas: {{type: int, default: 3}}
steps:
  - id: restart
    http:
      method: POST
      url: "{target.url}/services/{{{{ params.service }}}}/restart"
      headers: {{Authorization: "Bearer s3cret"}}
      body: {{replicas: "{{{{ params.replicas }}}}", reason: "{{{{ annotations.summary }}}}"}}
  - id: settle
    wait: {{duration: 200ms}}
  - id: record
    shell:
      argv: {argv}
"""
    client = await start(text)
    payload = webhook(alert("HighErrorRate"))
    for _ in range(3):  # Alertmanager re-sends the group: still one execution
        assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"])
    assert record["state"] == "succeeded", record
    assert record["trigger"] == "auto"
    assert record["params"] == {"service": "checkout", "replicas": 3}
    steps = {s["step_id"]: s for s in record["steps"]}
    assert [s["state"] for s in record["steps"]] == ["succeeded"] * 3
    assert steps["restart"]["output"]["status"] == 200
    assert steps["restart"]["inputs"]["headers"]["Authorization"] == "<redacted>"
    assert json.loads(steps["record"]["output"]["stdout"]) == ["checkout", "200"]
    assert steps["settle"]["duration_seconds"] >= 0.2
    assert target.paths() == ["/services/checkout/restart"]
    sent = target.requests[0]
    assert json.loads(sent["body"]) == {"replicas": "3", "reason": "HighErrorRate on checkout"}
    assert sent["headers"]["X-Firebreak-Idempotency-Key"] == f"step:{record['id']}:run:0"
    assert [e["to"] for e in record["events"][:2]] == ["pending", "running"]
    assert record["events"][-1]["to"] == "succeeded"
    assert len(await executions(client)) == 1


async def test_shell_metacharacters_in_a_label_are_one_literal_argument(
    start: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    argv = json.dumps([*ECHO_ARGV, "{{ labels.service }}"])
    client = await start(
        f"""
id: echo
title: Echo the service
match: 'alertname="Evil"'
steps:
  - id: echo
    shell: {{argv: {argv}, cwd: "{tmp_path}"}}
"""
    )
    evil = f"x; touch {marker}; $(touch {marker}) `touch {marker}` | rm -rf / &&"
    payload = webhook(alert("Evil", labels={"service": evil}))
    await client.post("/webhook", json=payload, headers=HOOK)
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"])
    assert record["state"] == "succeeded", record
    assert json.loads(record["steps"][0]["output"]["stdout"]) == [evil]
    assert record["steps"][0]["inputs"]["argv"][-1] == evil
    assert not marker.exists()


async def test_manual_run_with_trigger_context(start: Any, target: Target) -> None:
    client = await start(
        f"""
id: cache
title: Clear a cache
params:
  cache: {{required: true, settable: true}}
steps:
  - id: clear
    http: {{method: DELETE, url: "{target.url}/caches/{{{{ params.cache | path_segment }}}}"}}
"""
    )
    resp = await client.post(
        "/api/v1/runbooks/cache/execute",
        json={"trigger_context": {"cache": "sessions"}},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    created = await resp.json()
    assert created["trigger"] == "manual" and created["actor"] == "api:bob"
    record = await finished(client, created["id"])
    assert record["state"] == "succeeded"
    assert target.requests[0]["method"] == "DELETE"
    assert target.paths() == ["/caches/sessions"]
    missing = await client.post(
        "/api/v1/runbooks/cache/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert missing.status == 400
    assert (await missing.json())["field"] == "params.cache"


async def test_secret_parameters_are_used_but_never_shown(start: Any, target: Target) -> None:
    """A ``secret: true`` parameter reaches the step that needs it, and no read of the
    runbook or its executions shows it: not its default, not a value given at the run (which
    is refused: a secret is never set by hand)."""
    client = await start(
        f"""
id: rotate
title: Rotate a key
params:
  key: {{secret: true, default: "default-secret-1f2e3d"}}
  cache: {{default: sessions}}
steps:
  - id: call
    http:
      method: POST
      url: "{target.url}/rotate/{{{{ params.cache }}}}"
      headers: {{X-Key: "{{{{ params.key }}}}"}}
"""
    )
    given = "given-secret-9a8b7c"
    refused = await client.post(
        "/api/v1/runbooks/rotate/execute",
        json={"trigger_context": {"key": given}},
        headers=auth(RESPONDER_TOKEN),
    )
    assert refused.status == 400
    assert (await refused.json())["field"] == "params.key"
    resp = await client.post(
        "/api/v1/runbooks/rotate/execute",
        json={"trigger_context": {"api_key": given}},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    shown = [await refused.text(), await resp.text()]
    created = json.loads(shown[1])
    record = await finished(client, created["id"])
    assert record["state"] == "succeeded"
    assert target.requests[0]["headers"]["X-Key"] == "default-secret-1f2e3d"
    assert record["params"] == {"key": "<redacted>", "cache": "sessions"}
    assert record["trigger_context"] == {"api_key": "<redacted>"}
    for path in (
        "/api/v1/runbooks",
        "/api/v1/runbooks/rotate",
        "/api/v1/executions",
        f"/api/v1/executions/{created['id']}",
    ):
        read = await client.get(path, headers=auth(RESPONDER_TOKEN))
        assert read.status == 200
        shown.append(await read.text())
    for text in shown:
        assert "default-secret-1f2e3d" not in text and given not in text
    listed = json.loads(shown[3])["params"]
    assert listed["key"] == {
        "type": "string",
        "default": "<redacted>",
        "from": None,
        "required": False,
        "secret": True,
        "settable": False,
        "max_length": 256,
        "description": "",
    }


async def test_a_step_running_longer_than_the_lease_runs_once(start: Any) -> None:
    # The step takes 2.5 leases. The runner renews the lease while it runs, so the step's job
    # is not claimed again; claimed again, a step that is not idempotent would be found running
    # and marked interrupted. Leases of 2 s, not 1: on a busy machine a renewal a second late
    # let a 1 s lease run out (and the job be claimed again, as it should be then).
    text = f"""
id: slow
title: A step slower than the job lease
match: ['alertname="Slow"']
steps:
  - id: drain
    timeout: 10s
    shell:
      argv: {json.dumps([sys.executable, "-c", "import time; time.sleep(5); print('drained')"])}
"""
    jobs = "jobs: {workers: 4, lease: 2s, max_attempts: 3, poll_interval: 200ms}\n"
    client = await start(text, jobs=jobs)
    assert (await client.post("/webhook", json=webhook(alert("Slow")), headers=HOOK)).status == 200
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"], within=20)
    assert record["state"] == "succeeded", record
    (step,) = record["steps"]
    assert (step["state"], step["output"]["stdout"].strip()) == ("succeeded", "drained")
    assert step["duration_seconds"] >= 5, json.dumps(step)


@pytest.mark.parametrize("mode", ["mode: dry_run, ", ""], ids=["dry_run", "default"])
async def test_in_dry_run_mode_an_alert_starts_a_dry_run_that_sends_nothing(
    start: Any, target: Target, mode: str
) -> None:
    text = f"""
id: restart-checkout
title: Restart the service that fires
match: ['alertname="HighErrorRate"']
steps:
  - id: restart
    http: {{method: POST, url: "{target.url}/restart"}}
"""
    guards = f'automation: {{{mode}http_allow: ["127.0.0.1"]}}\n'
    client = await start(text, extra=guards)
    payload = webhook(alert("HighErrorRate"))
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"])
    assert (record["trigger"], record["dry_run"], record["state"]) == ("auto", True, "succeeded")
    [step] = record["steps"]
    assert step["output"]["dry_run"] is True
    assert step["output"]["would"]["url"] == f"{target.url}/restart"
    assert target.requests == []
