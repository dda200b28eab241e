"""Approvals, rollback, cancel, retries and conditions, storm control and dry runs: what keeps
an automation bot from doing harm. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from receiver.typedefs import RUNNER
from tests.automation.conftest import Target, execution, executions, finished, in_state
from tests.clock import ManualClock
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    eventually,
)
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
DEAD_LETTER_RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "dead-letter-recovery.yml"
RESPONDER = auth(RESPONDER_TOKEN)


async def run(client: Any, runbook: str, body: dict[str, Any] | None = None) -> int:
    resp = await client.post(
        f"/api/v1/runbooks/{runbook}/execute", json=body or {}, headers=RESPONDER
    )
    assert resp.status == 202, await resp.text()
    return int((await resp.json())["id"])


def wait_between(url: str, runbook: str, duration: str) -> str:
    """A runbook: POST /first, wait, POST /second."""
    return f"""
id: {runbook}
title: Two calls and a wait
steps:
  - id: first
    http: {{method: POST, url: "{url}/first"}}
  - id: pause
    wait: {{duration: {duration}}}
  - id: second
    http: {{method: POST, url: "{url}/second"}}
"""


async def steps_in(client: Any, eid: int, states: list[str]) -> None:
    async def reached() -> bool:
        steps = (await execution(client, eid))["steps"]
        return [s["state"] for s in steps] == states

    await eventually(reached)


def approval_runbook(url: str, timeout: str = "30s", approvers: str = "[bob]") -> str:
    return f"""
id: guarded
title: Guarded restart
steps:
  - id: ask
    approval: {{message: "restart?", approvers: {approvers}, timeout: {timeout}}}
  - id: restart
    http: {{method: POST, url: "{url}/restart"}}
"""


async def test_an_approval_waits_refuses_a_viewer_and_proceeds_for_an_approver(
    start: Any, target: Target
) -> None:
    client = await start(approval_runbook(target.url))
    eid = await run(client, "guarded")
    waiting = await in_state(client, eid, "waiting_approval")
    assert waiting["steps"][0]["state"] == "waiting_approval"
    assert waiting["steps"][0]["output"]["message"] == "restart?"
    assert target.requests == []
    viewer = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(VIEWER_TOKEN))
    assert viewer.status == 403
    admin = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert admin.status == 403  # alice is an admin, but the step names bob
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_runbook_approvals_waiting 1.0" in metrics
    approved = await client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER)
    assert approved.status == 200, await approved.text()
    record = await finished(client, eid)
    assert record["state"] == "succeeded", record
    assert record["steps"][0]["decided_by"] == "api:bob"
    assert record["steps"][0]["output"] == {"approved_by": "api:bob", "message": "restart?"}
    assert target.paths() == ["/restart"]
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_runbook_approvals_waiting 0.0" in metrics
    assert "firebreak_runbook_approval_wait_seconds_count 1.0" in metrics
    assert (
        'firebreak_runbook_executions_total{outcome="succeeded",runbook="guarded"} 1.0' in metrics
    )
    assert 'firebreak_runbook_step_duration_seconds_count{type="http"} 1.0' in metrics
    again = await client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER)
    assert again.status == 409


async def test_an_approval_asks_its_message_rendered_with_secrets_redacted(
    start: Any, target: Target
) -> None:
    client = await start(
        f"""
id: rotate
title: Rotate a key
params:
  service: {{default: web}}
  token: {{secret: true, default: hunter2-secret}}
steps:
  - id: ask
    approval: {{message: "Rotate {{{{ params.service }}}} with {{{{ params.token }}}}?"}}
  - id: rotate
    http: {{method: POST, url: "{target.url}/rotate"}}
  - id: ask-again
    approval: {{message: "{{{{ steps.nothing.output.x }}}}"}}
"""
    )
    eid = await run(client, "rotate")
    waiting = await in_state(client, eid, "waiting_approval")
    assert waiting["steps"][0]["output"]["message"] == "Rotate web with <redacted>?"
    resp = await client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER)
    assert resp.status == 200
    # A message that cannot be rendered fails its step, as any template error does.
    record = await finished(client, eid)
    assert record["state"] == "failed", record
    assert "steps.ask-again.approval.message" in record["steps"][2]["error"]
    assert target.paths() == ["/rotate"]


async def test_a_rejected_approval_fails_the_execution(start: Any, target: Target) -> None:
    client = await start(approval_runbook(target.url, approvers="[]"))
    eid = await run(client, "guarded")
    await in_state(client, eid, "waiting_approval")
    resp = await client.post(f"/api/v1/executions/{eid}/reject", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200
    record = await finished(client, eid)
    assert record["state"] == "failed"
    assert record["error"] == "step ask failed: rejected by api:alice"
    assert target.requests == []


async def test_an_approval_nobody_answers_times_out(start: Any, target: Target) -> None:
    client = await start(approval_runbook(target.url, timeout="300ms"))
    eid = await run(client, "guarded")
    record = await finished(client, eid)
    assert record["state"] == "failed"
    assert record["steps"][0]["error"] == "approval timed out after 300ms"
    assert target.requests == []


async def test_automatic_runs_wait_for_approval_before_the_first_mutating_step(
    start: Any, target: Target
) -> None:
    client = await start(
        f"""
id: gated
title: Gated
match: 'alertname="HighErrorRate"'
approval: {{required: true, approvers: [role:admin]}}
steps:
  - id: look
    http: {{url: "{target.url}/status"}}
  - id: restart
    http: {{method: POST, url: "{target.url}/restart"}}
  - id: again
    http: {{method: POST, url: "{target.url}/restart-again"}}
"""
    )
    await client.post("/webhook", json=webhook(alert()), headers=HOOK)
    found = await eventually(lambda: executions(client))
    eid = found[0]["id"]
    waiting = await in_state(client, eid, "waiting_approval")
    assert target.paths() == ["/status"]  # the read-only step ran; the mutating one waits
    assert waiting["steps"][1]["output"]["message"] == "Approve step restart (http) of gated?"
    refused = await client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER)
    assert refused.status == 403  # a responder, but the runbook wants an admin
    ok = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert ok.status == 200
    record = await finished(client, eid)
    assert record["state"] == "succeeded", record
    assert record["approved_by"] == "api:alice"
    assert target.paths() == ["/status", "/restart", "/restart-again"]  # one approval


async def test_a_failing_step_rolls_back_completed_steps_in_reverse_order(
    start: Any, target: Target
) -> None:
    target.status["/deploy"] = 500
    client = await start(
        f"""
id: change
title: Change with rollback
steps:
  - id: drain
    http: {{method: POST, url: "{target.url}/drain"}}
    rollback: {{http: {{method: POST, url: "{target.url}/undrain"}}}}
  - id: note
    http: {{method: POST, url: "{target.url}/note"}}
  - id: scale
    http: {{method: POST, url: "{target.url}/scale"}}
    rollback: {{http: {{method: POST, url: "{target.url}/unscale"}}}}
  - id: deploy
    http: {{method: POST, url: "{target.url}/deploy"}}
    rollback: {{http: {{method: POST, url: "{target.url}/undeploy"}}}}
    retries: 1
    backoff: 50ms
    on_failure: rollback
  - id: never
    http: {{method: POST, url: "{target.url}/never"}}
"""
    )
    eid = await run(client, "change")
    record = await finished(client, eid)
    assert record["state"] == "rolled_back", record
    # deploy was tried twice (one retry); its own rollback does not run: it never completed.
    assert target.paths() == [
        "/drain",
        "/note",
        "/scale",
        "/deploy",
        "/deploy",
        "/unscale",
        "/undrain",
    ]
    rollbacks = [s for s in record["steps"] if s["phase"] == "rollback"]
    assert [(s["step_id"], s["state"]) for s in rollbacks] == [
        ("scale.rollback", "succeeded"),
        ("drain.rollback", "succeeded"),
    ]
    deploy = next(s for s in record["steps"] if s["step_id"] == "deploy")
    assert deploy["state"] == "failed" and deploy["attempt"] == 1
    assert "http status 500" in deploy["error"]


async def test_cancel_stops_an_execution_between_steps(start: Any, target: Target) -> None:
    client = await start(wait_between(target.url, "slow", "30s"))
    eid = await run(client, "slow")
    await steps_in(client, eid, ["succeeded", "waiting"])
    resp = await client.post(
        f"/api/v1/executions/{eid}/cancel", json={"reason": "fixed by hand"}, headers=RESPONDER
    )
    assert resp.status == 200, await resp.text()
    record = await finished(client, eid)
    assert record["state"] == "cancelled"
    assert record["cancel_reason"] == "fixed by hand"
    assert record["events"][-1]["actor"] == "api:bob"
    assert [s["state"] for s in record["steps"]] == ["succeeded", "cancelled"]
    again = await client.post(f"/api/v1/executions/{eid}/cancel", headers=RESPONDER)
    assert again.status == 409
    assert target.paths() == ["/first"]


async def test_when_conditions_template_errors_and_continue(start: Any, target: Target) -> None:
    client = await start(
        f"""
id: branches
title: Branches
steps:
  - id: probe
    http: {{url: "{target.url}/probe"}}
  - id: skipped
    when: "steps.probe.output.status != 200"
    http: {{method: POST, url: "{target.url}/skipped"}}
  - id: broken
    on_failure: continue
    http: {{method: POST, url: "{target.url}/{{{{ labels.nope.deeper }}}}"}}
  - id: escape
    on_failure: continue
    shell: {{argv: ["echo", "{{{{ ''.__class__.__mro__ }}}}"]}}
  - id: last
    when: "steps.probe.output.body.ok"
    http: {{method: POST, url: "{target.url}/last"}}
"""
    )
    eid = await run(client, "branches")
    record = await finished(client, eid)
    assert record["state"] == "succeeded", record
    states = {s["step_id"]: s for s in record["steps"]}
    assert states["skipped"]["state"] == "skipped"
    assert states["broken"]["state"] == "failed"
    assert "template error" in states["broken"]["error"]
    assert states["escape"]["state"] == "failed"
    assert "template not allowed" in states["escape"]["error"]
    assert target.paths() == ["/probe", "/last"]


async def test_a_dry_run_renders_every_step_and_does_nothing(
    start: Any, target: Target, tmp_path: Path
) -> None:
    marker = tmp_path / "touched"
    script = f"open({str(marker)!r}, 'w').write('x')"
    client = await start(
        f"""
id: dry
title: Dry
params:
  service: {{default: checkout}}
steps:
  - id: ask
    approval: {{approvers: [nobody]}}
  - id: restart
    http: {{method: POST, url: "{target.url}/svc/{{{{ params.service }}}}"}}
  - id: touch
    shell: {{argv: ["{sys.executable}", "-c", "{script}"]}}
  - id: hold
    wait: {{duration: 1h}}
  - id: only-if-down
    when: "steps.restart.output.status != 200"
    http: {{method: POST, url: "{target.url}/escalate"}}
"""
    )
    eid = await run(client, "dry", {"dry_run": True})
    record = await finished(client, eid)
    assert record["state"] == "succeeded" and record["dry_run"] is True
    outputs = {s["step_id"]: s["output"] for s in record["steps"]}
    assert outputs["restart"]["would"] == {
        "type": "http",
        "method": "POST",
        "url": f"{target.url}/svc/checkout",
    }
    assert outputs["touch"]["would"]["argv"][-1] == script
    assert outputs["hold"]["would"]["seconds"] == 3600
    assert outputs["only-if-down"]["when"].startswith("not known in a dry run")
    assert target.requests == []
    assert not marker.exists()


def failing_runbook(url: str) -> str:
    return f"""
id: flaky
title: Flaky fix
match: 'alertname=~"Flaky.*"'
cooldown: 0s
concurrency: {{max: 5}}
breaker: {{failures: 2, window: 1h}}
steps:
  - id: fix
    http: {{method: POST, url: "{url}/fix"}}
"""


async def test_the_breaker_stops_automatic_runs_after_repeated_failures(
    start: Any, target: Target
) -> None:
    target.status["/fix"] = 500
    client = await start(failing_runbook(target.url))
    for n in range(2):
        await client.post("/webhook", json=webhook(alert(f"Flaky{n}")), headers=HOOK)
        found = await eventually(lambda n=n: _count(client, n + 1))
        assert (await finished(client, found[0]["id"]))["state"] == "failed"
    await client.post("/webhook", json=webhook(alert("Flaky2")), headers=HOOK)
    found = await eventually(lambda: _count(client, 3))
    held = await finished(client, found[0]["id"])
    assert held["state"] == "skipped"
    assert held["error"].startswith("breaker: 2 failed automatic runs within 1h")
    assert target.paths() == ["/fix", "/fix"]
    detail = await (
        await client.get(f"/api/v1/alerts/{held['alert_id']}", headers=auth(VIEWER_TOKEN))
    ).json()
    notes = [e["note"] for e in detail["events"] if e["kind"] == "runbook"]
    assert notes == [f"runbook flaky not started: {held['error']}"]
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_automation_storm_trips_total{reason="breaker",runbook="flaky"}' in metrics
    # An admin resets the breaker: the next alert runs again.
    reset = await client.post("/api/v1/runbooks/flaky/reset-breaker", headers=auth(ADMIN_TOKEN))
    assert reset.status == 200
    target.status["/fix"] = 200
    await client.post("/webhook", json=webhook(alert("Flaky3")), headers=HOOK)
    found = await eventually(lambda: _count(client, 4))
    assert (await finished(client, found[0]["id"]))["state"] == "succeeded"


async def _count(client: Any, n: int) -> list[dict[str, Any]] | None:
    found = await executions(client)
    return found if len(found) == n else None


async def test_the_kill_switch_holds_automatic_runs(start: Any, target: Target) -> None:
    client = await start(failing_runbook(target.url))
    viewer = await client.post("/api/v1/automation/pause", headers=RESPONDER)
    assert viewer.status == 403
    paused = await client.post(
        "/api/v1/automation/pause", json={"reason": "bad deploy"}, headers=auth(ADMIN_TOKEN)
    )
    assert (await paused.json())["paused"] is True
    await client.post("/webhook", json=webhook(alert("Flaky")), headers=HOOK)
    found = await eventually(lambda: executions(client))
    held = await finished(client, found[0]["id"])
    assert held["state"] == "skipped" and held["error"].startswith("paused:")
    await client.post("/api/v1/automation/resume", headers=auth(ADMIN_TOKEN))
    state = await (await client.get("/api/v1/automation", headers=auth(VIEWER_TOKEN))).json()
    assert state["paused"] is False and state["by"] == "api:alice"
    await client.post("/webhook", json=webhook(alert("Flaky2")), headers=HOOK)
    found = await eventually(lambda: _count(client, 2))
    assert (await finished(client, found[0]["id"]))["state"] == "succeeded"
    assert target.paths() == ["/fix"]


async def test_cooldown_and_concurrency_hold_back_runs(start: Any, target: Target) -> None:
    client = await start(
        """
id: once
title: Once per fingerprint
match: 'alertname=~"Busy.*"'
cooldown: 1h
concurrency: {max: 1}
steps:
  - id: hold
    wait: {duration: 30s}
"""
    )
    # The same fingerprint fires twice (two occurrences): the second is within the cooldown.
    first = alert("Busy", starts_at="2026-11-23T08:00:00Z")
    await client.post("/webhook", json=webhook(first), headers=HOOK)
    await eventually(lambda: _count(client, 1))
    again = alert("Busy", starts_at="2026-11-23T09:00:00Z")
    await client.post("/webhook", json=webhook(again), headers=HOOK)
    found = await eventually(lambda: _count(client, 2))
    assert found[0]["state"] == "skipped" and found[0]["error"].startswith("cooldown:")
    # Another alert: the one execution allowed is still running.
    await client.post("/webhook", json=webhook(alert("Busy2")), headers=HOOK)
    found = await eventually(lambda: _count(client, 3))
    assert found[0]["state"] == "skipped"
    assert found[0]["error"] == "concurrency: 1 running already"
    assert found[2]["state"] == "running"


async def test_python_steps_call_registered_functions(start: Any) -> None:
    calls: list[dict[str, Any]] = []

    async def purge(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"purged": len(kwargs["keys"])}

    client = await start(
        """
id: purge
title: Purge keys
steps:
  - id: purge
    python: {function: purge_keys, args: {keys: ["a", "{{ trigger_context.key }}"]}}
  - id: missing
    python: {function: not_registered}
""",
        actions={"purge_keys": purge},
    )
    eid = await run(client, "purge", {"trigger_context": {"key": "b"}})
    record = await finished(client, eid)
    assert calls == [{"keys": ["a", "b"]}]
    assert record["steps"][0]["output"] == {"purged": 2}
    assert record["state"] == "failed"
    assert "no function 'not_registered'" in record["steps"][1]["error"]


async def test_shell_output_is_capped_and_env_is_allow_listed(start: Any) -> None:
    code = "import os, sys; print('x' * 5000); print(sorted(os.environ), file=sys.stderr)"
    argv = json.dumps([sys.executable, "-c", code])
    client = await start(
        f"""
id: loud
title: Loud
steps:
  - id: loud
    shell: {{argv: {argv}, max_output_bytes: 100, env: {{TARGET: x}}, env_allow: []}}
"""
    )
    eid = await run(client, "loud")
    record = await finished(client, eid)
    output = record["steps"][0]["output"]
    assert record["state"] == "succeeded"
    assert len(output["stdout"]) == 100 and output["truncated"] is True
    names = set(eval(output["stderr"]))  # a printed list of names
    # PATH always; LC_CTYPE is Python's own doing (PEP 538 locale coercion in the child).
    assert names - {"LC_CTYPE"} == {"PATH", "TARGET"}


async def test_a_restart_mid_execution_resumes_it(start: Any, target: Target) -> None:
    text = wait_between(target.url, "resume", "1s")
    client = await start(text, owner="one")
    eid = await run(client, "resume")
    await steps_in(client, eid, ["succeeded", "waiting"])
    await client.close()  # the process stops in the middle of the wait
    assert target.paths() == ["/first"]
    again = await start(text, owner="two")
    record = await finished(again, eid)
    assert record["state"] == "succeeded", record
    assert target.paths() == ["/first", "/second"]  # nothing repeated, nothing lost
    waited = next(s for s in record["steps"] if s["step_id"] == "pause")
    assert waited["duration_seconds"] >= 1.0


async def test_dead_letter_recovery_retries_recent_jobs_and_leaves_the_rest_to_a_person(
    start: Any, target: Target, tmp_path: Path
) -> None:
    from receiver.automation.builtin import dead_letters_settled, retry_dead_letters
    from receiver.model import NewJob
    from receiver.typedefs import CLOCK, STORE

    archive = tmp_path / "dead.jsonl"
    target.status["/hook"] = 503  # a passing outage of the channel's far side
    client = await start(
        DEAD_LETTER_RUNBOOK.read_text(),
        actions={
            "retry_dead_letters": retry_dead_letters,
            "dead_letters_settled": dead_letters_settled,
        },
        extra=f"""
automation: {{dead_letter_archive: "{archive}"}}
channels:
  hook: {{type: webhook, webhook: {{url: "{target.url}/hook", timeout: 5s}}}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [hook]}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
""",
    )

    async def dead() -> list[dict[str, Any]]:
        resp = await client.get("/api/v1/jobs?state=dead", headers=auth(ADMIN_TOKEN))
        return (await resp.json())["jobs"]  # type: ignore[no-any-return]

    await client.post("/webhook", json=webhook(alert()), headers=HOOK)
    [page] = await eventually(dead, within=15)  # out of attempts: dead-lettered
    assert page["kind"] == "notify"
    target.status["/hook"] = 200  # the outage is over
    eid = await run(client, "dead-letter-recovery")
    record = await finished(client, eid, within=20)
    assert record["state"] == "succeeded", record
    recover, check = record["steps"]
    assert recover["output"] == {"dead": 1, "retried": [page["id"]], "left": [], "archived": []}
    assert check["inputs"]["args"]["retried"] == str(page["id"])
    assert check["output"] == {"done": [page["id"]], "dead_within_max_age": 0}
    assert await dead() == []
    assert any(r["path"] == "/hook" and r["method"] == "POST" for r in target.requests)

    # A job that cannot succeed: the check fails and says so, instead of passing.
    store, now = client.app[STORE], client.app[CLOCK]()
    async with store.transaction() as conn:  # a job no handler knows: dead-lettered at once
        await store.jobs.enqueue(conn, [NewJob("bogus", {}, now, "bogus:1")], now)
    client.app[RUNNER].wake()
    [bogus] = await eventually(dead)
    eid = await run(client, "dead-letter-recovery")
    record = await finished(client, eid, within=20)
    assert record["state"] == "failed"
    assert record["steps"][0]["output"]["retried"] == [bogus["id"]]
    assert f"dead-lettered again: job {bogus['id']} (bogus)" in record["steps"][1]["error"]

    # Older than max_age: left to a person, archived once, and no longer a failed check.
    for _ in range(2):
        eid = await run(client, "dead-letter-recovery", {"trigger_context": {"max_age": "0s"}})
        record = await finished(client, eid, within=20)
        assert record["state"] == "succeeded", record
    assert record["steps"][0]["output"] == {
        "dead": 1,
        "retried": [],
        "left": [bogus["id"]],
        "archived": [],  # the first of the two runs archived it
    }
    lines = archive.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [bogus["id"]]
    assert json.loads(lines[0])["kind"] == "bogus"


async def test_a_notify_step_sends_its_message_with_the_alert(start: Any, target: Target) -> None:
    client = await start(
        """
id: tell
title: Tell the owners
match: 'alertname="HighErrorRate"'
steps:
  - id: tell
    notify:
      channel: owners
      message: "Restarting {{ labels.service }} (execution {{ execution.id }})"
""",
        extra=f"""
channels:
  owners: {{type: webhook, webhook: {{url: "{target.url}/owners", timeout: 5s}}}}
""",
    )
    await client.post("/webhook", json=webhook(alert()), headers=HOOK)
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"])
    assert record["state"] == "succeeded", record
    sent = [json.loads(r["body"]) for r in target.requests if r["path"] == "/owners"]
    assert len(sent) == 1
    assert sent[0]["message"] == f"Restarting checkout (execution {record['id']})"
    assert sent[0]["alerts"][0]["labels"]["alertname"] == "HighErrorRate"
    assert sent[0]["idempotency_key"] == f"step:{record['id']}:run:0"


async def test_pausing_holds_the_next_step_of_a_running_automatic_execution(
    start: Any, target: Target, manual_clock: ManualClock
) -> None:
    text = wait_between(target.url, "held", "300ms").replace(
        "title: Two calls and a wait", "title: Held\nmatch: 'alertname=\"HighErrorRate\"'"
    )
    client = await start(text, clock=manual_clock)
    await client.post("/webhook", json=webhook(alert()), headers=HOOK)
    await manual_clock.settle()
    found = await executions(client)
    eid = found[0]["id"]
    await steps_in(client, eid, ["succeeded", "waiting"])
    await client.post("/api/v1/automation/pause", headers=auth(ADMIN_TOKEN))
    await manual_clock.advance(timedelta(minutes=1))  # the wait is over, the pause holds
    assert target.paths() == ["/first"]
    assert (await execution(client, eid))["state"] == "running"
    await client.post("/api/v1/automation/resume", headers=auth(ADMIN_TOKEN))
    await manual_clock.advance(timedelta(seconds=10))  # a held step is looked at again
    record = await execution(client, eid)
    assert record["state"] == "succeeded"
    assert target.paths() == ["/first", "/second"]


async def test_a_runbook_on_resolved_runs_when_the_alert_ends(start: Any, target: Target) -> None:
    client = await start(
        f"""
id: after
title: Clean up after an incident
match: 'alertname="HighErrorRate"'
on: resolved
steps:
  - id: tidy
    http: {{method: POST, url: "{target.url}/tidy/{{{{ alert.status }}}}"}}
"""
    )
    await client.post("/webhook", json=webhook(alert()), headers=HOOK)
    await asyncio.sleep(0.3)
    assert await executions(client) == []
    await client.post("/webhook", json=webhook(alert(status="resolved")), headers=HOOK)
    found = await eventually(lambda: executions(client))
    record = await finished(client, found[0]["id"])
    assert record["state"] == "succeeded"
    assert target.paths() == ["/tidy/resolved"]


async def test_a_step_that_overruns_its_timeout_is_killed_and_fails(
    start: Any, tmp_path: Path
) -> None:
    marker, pid_file = tmp_path / "finished", tmp_path / "pid"
    code = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        f"time.sleep(10); open({str(marker)!r}, 'w')"
    )
    client = await start(
        f"""
id: slow-command
title: A command that hangs
steps:
  - id: hang
    timeout: 300ms
    shell: {{argv: {json.dumps([sys.executable, "-c", code])}}}
"""
    )
    eid = await run(client, "slow-command")
    record = await finished(client, eid)
    assert record["state"] == "failed"
    assert record["steps"][0]["error"] == "timed out after 300ms"
    assert record["steps"][0]["duration_seconds"] < 1.5
    # Killed, not left running (nor started at all, on a machine too busy to start it in time).
    if pid_file.exists() and (written := pid_file.read_text()):
        pid = int(written)
        await eventually(lambda: not _running(pid), within=1, what=f"process {pid} still runs")
    assert not marker.exists()


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_an_alert_storm_starts_no_more_runs_than_the_concurrency_allows(
    start: Any, target: Target
) -> None:
    client = await start(
        f"""
id: storm
title: One fix at a time
match: 'alertname=~"Storm.*"'
concurrency: {{max: 2}}
steps:
  - id: fix
    http: {{method: POST, url: "{target.url}/fix/{{{{ labels.alertname }}}}"}}
  - id: hold
    wait: {{duration: 30s}}
"""
    )
    payloads = [webhook(alert(f"Storm{n}"), group_key=f"storm-{n}") for n in range(20)]
    answers = await asyncio.gather(
        *(client.post("/webhook", json=p, headers=HOOK) for p in payloads)
    )
    assert all(a.status == 200 for a in answers)
    # Twenty alerts routed and decided, on PostgreSQL: on a machine the suite's workers keep
    # busy that took more than the usual ten seconds.
    found = await eventually(lambda: _count(client, 20), within=30)
    states = Counter(e["state"] for e in found)
    assert states["skipped"] == 18, states
    assert all(
        e["error"] == "concurrency: 2 running already" for e in found if e["state"] == "skipped"
    )
    await eventually(lambda: len(target.requests) == 2)
    await asyncio.sleep(0.3)
    assert len(target.requests) == 2
