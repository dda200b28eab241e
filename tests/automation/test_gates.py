"""Every execution that changes things passes the gates, whoever started it: the kill switch,
the breaker and concurrency hold back runs by hand too (409, recorded), an admin may run past
an open breaker on purpose, a gated runbook run by hand waits for approval, and dry runs pass
untouched. On SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import main
from tests.automation.conftest import Target, execution, executions, finished, in_state
from tests.clock import ManualClock
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    config_text,
    eventually,
)
from tests.payloads import alert, webhook

ADMIN, RESPONDER, HOOK = auth(ADMIN_TOKEN), auth(RESPONDER_TOKEN), auth(WEBHOOK_TOKEN)


def change(url: str, extra: str = "") -> str:
    return f"""
id: change
title: Change something
match: 'alertname=~"Change.*"'
cooldown: 1h
breaker: {{failures: 1, window: 1h}}
{extra}
steps:
  - id: change
    http: {{method: POST, url: "{url}/change"}}
"""


async def execute(client: Any, body: dict[str, Any] | None = None, headers: Any = RESPONDER) -> Any:
    return await client.post("/api/v1/runbooks/change/execute", json=body or {}, headers=headers)


async def test_the_kill_switch_holds_runs_by_hand_and_says_so(start: Any, target: Target) -> None:
    client = await start(change(target.url))
    await client.post("/api/v1/automation/pause", json={"reason": "incident"}, headers=ADMIN)
    resp = await execute(client)
    assert resp.status == 409
    body = await resp.json()
    assert body["error"].startswith("runbook change not started: paused: automation is paused")
    held = await execution(client, body["execution_id"])
    assert (held["state"], held["trigger"], held["actor"]) == ("skipped", "manual", "api:bob")
    assert held["error"].startswith("paused:")
    # A dry run changes nothing: the kill switch does not hold it.
    dry = await execute(client, {"dry_run": True})
    assert dry.status == 202
    assert (await finished(client, (await dry.json())["id"]))["state"] == "succeeded"
    assert target.requests == []
    audit = await (await client.get("/api/v1/audit?action=runbook_execute", headers=ADMIN)).json()
    assert [(e["actor"], e["outcome"], e["status"]) for e in audit["entries"]][-1] == (
        "bob",
        "rejected",
        409,
    )


async def test_pausing_holds_the_next_step_of_a_run_by_hand(
    start: Any, target: Target, manual_clock: ManualClock
) -> None:
    client = await start(
        f"""
id: change
title: Two changes and a wait
steps:
  - id: first
    http: {{method: POST, url: "{target.url}/first"}}
  - id: pause
    wait: {{duration: 300ms}}
  - id: second
    http: {{method: POST, url: "{target.url}/second"}}
""",
        clock=manual_clock,
    )
    resp = await execute(client)
    eid = (await resp.json())["id"]
    await manual_clock.settle()
    assert target.paths() == ["/first"]
    await client.post("/api/v1/automation/pause", headers=ADMIN)
    await manual_clock.advance(timedelta(minutes=1))  # the wait is over; the pause holds
    assert target.paths() == ["/first"]
    assert (await execution(client, eid))["state"] == "running"
    await client.post("/api/v1/automation/resume", headers=ADMIN)
    await manual_clock.advance(timedelta(seconds=10))  # a held step is looked at again
    assert (await execution(client, eid))["state"] == "succeeded"
    assert target.paths() == ["/first", "/second"]


async def test_an_open_breaker_holds_runs_by_hand_unless_an_admin_overrides_it(
    start: Any, target: Target
) -> None:
    target.status["/change"] = 500
    client = await start(change(target.url))
    await client.post("/webhook", json=webhook(alert("Change1")), headers=HOOK)
    found = await eventually(lambda: executions(client))
    assert (await finished(client, found[0]["id"]))["state"] == "failed"  # the breaker opens
    target.status["/change"] = 200
    refused = await execute(client)
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert "breaker: 1 failed automatic runs within 1h" in error
    assert "run this with override_breaker" in error
    # A responder may not override; an admin may, and it is recorded.
    forbidden = await execute(client, {"override_breaker": True})
    assert forbidden.status == 403
    wrong = await execute(client, {"override_breaker": "yes"}, ADMIN)
    assert wrong.status == 400 and (await wrong.json())["field"] == "override_breaker"
    resp = await execute(client, {"override_breaker": True}, ADMIN)
    assert resp.status == 202, await resp.text()
    record = await finished(client, (await resp.json())["id"])
    assert record["state"] == "succeeded"
    assert "open breaker overridden (breaker: 1 failed" in record["events"][0]["note"]
    assert target.paths() == ["/change", "/change"]


async def test_concurrency_holds_runs_by_hand_but_the_cooldown_does_not(
    start: Any, target: Target
) -> None:
    client = await start(
        """
id: change
title: One at a time
match: 'alertname=~"Change.*"'
cooldown: 1h
steps:
  - id: hold
    wait: {duration: 30s}
"""
    )
    await client.post("/webhook", json=webhook(alert("Change1")), headers=HOOK)
    [automatic] = await eventually(lambda: executions(client))
    await in_state(client, automatic["id"], "running")
    alert_id = automatic["alert_id"]
    busy = await execute(client, {"alert_id": alert_id})
    assert busy.status == 409
    assert "concurrency: 1 running" in (await busy.json())["error"]
    await client.post(f"/api/v1/executions/{automatic['id']}/cancel", headers=RESPONDER)
    await finished(client, automatic["id"])
    # Within the automatic run's cooldown: a person's second try still runs.
    again = await execute(client, {"alert_id": alert_id})
    assert again.status == 202, await again.text()


async def test_a_gated_runbook_run_by_hand_waits_for_approval(start: Any, target: Target) -> None:
    client = await start(change(target.url, "approval: {required: true, approvers: [role:admin]}"))
    resp = await execute(client)
    eid = (await resp.json())["id"]
    waiting = await in_state(client, eid, "waiting_approval")
    assert waiting["steps"][0]["output"]["gate"] is True
    assert target.requests == []
    refused = await client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER)
    assert refused.status == 403
    ok = await client.post(f"/api/v1/executions/{eid}/approve", headers=ADMIN)
    assert ok.status == 200
    record = await finished(client, eid)
    assert record["state"] == "succeeded" and record["approved_by"] == "api:alice"
    assert target.paths() == ["/change"]
    # A dry run of it waits for nobody and sends nothing.
    dry = await execute(client, {"dry_run": True})
    assert (await finished(client, (await dry.json())["id"]))["state"] == "succeeded"
    assert target.paths() == ["/change"]


def test_the_cli_says_why_a_run_was_held_back(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    marker = tmp_path / "changed"
    (books / "change.yml").write_text(
        f"""
id: change
title: Change something
steps:
  - id: change
    shell: {{argv: ["{sys.executable}", "-c", "open({str(marker)!r}, 'w')"]}}
"""
    )
    path = tmp_path / "firebreak.yml"
    path.write_text(
        config_text(sqlite_url, 'automation: {runbooks: "runbooks/*.yml"}').replace(
            'listen: "127.0.0.1:9095"', 'listen: "127.0.0.1:9"'
        )
    )
    assert main(["automation", "pause", "--config", str(path), "--reason", "incident"]) == 0
    capsys.readouterr()
    assert main(["runbooks", "run", "change", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "firebreak runbooks: runbook change not started: paused: automation is paused"
    )
    assert main(["runbooks", "status", "1", "--config", str(path)]) == 0
    assert "execution 1 of change: skipped" in capsys.readouterr().out
    assert not marker.exists()
