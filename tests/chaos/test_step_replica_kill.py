"""Two replicas on one PostgreSQL database; an alert starts a runbook whose first step is an
HTTP call the target holds open, and the replica making that call is SIGKILLed mid-step. The
other replica must take the step's job over once the dead one's lease runs out and finish the
execution, with every step recorded once and no job left leased by the dead replica.

What a retry may repeat: a step job is at-least-once. The step a replica died in has
been started and may have had its effect; its job, claimed again, runs it again only when
it is ``idempotent: true`` (or changes nothing), and then with the same
``X-Firebreak-Idempotency-Key`` (``step:<execution>:<phase>:<position>``) so the far side can
drop the repeat. A step that is not idempotent is never run again: it is recorded
``interrupted`` and the execution follows its ``on_failure``. So the target sees the step at
most twice, both times under one key, when it is idempotent, and exactly once when it is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import RecordingReceiver, Replica, Tally, duplicates, settle
from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import http, wait_until
from tests.payloads import alert, webhook

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.postgres]

LEASE = 6.0  # seconds: the survivor takes the step over this long after the dead one claimed it
STEP_TIMEOUT = 5.0  # seconds
HELD_TIMEOUT = 30.0  # for the first step's request to reach the held target
SETTLE_TIMEOUT = 60.0  # for the survivor to finish the execution
FINAL_STATES = {"succeeded", "failed", "rolled_back", "cancelled", "skipped"}


@pytest.fixture
def held_target() -> Iterator[RecordingReceiver]:
    """The steps' target; it holds the first request it gets (the step the kill lands in)."""
    target = RecordingReceiver(hold_first=True)
    try:
        yield target
    finally:
        target.close()


def runbook(url: str, idempotent: bool) -> str:
    def step(step_id: str, extra: str = "") -> str:
        return f"""
  - id: {step_id}
    timeout: {STEP_TIMEOUT:g}s{extra}
    http:
      method: POST
      url: "{url}"
      body: {{step: {step_id}, execution: "{{{{ execution.id }}}}"}}"""

    first = f"\n    idempotent: {str(idempotent).lower()}\n    on_failure: continue"
    return f"""
id: remediate
title: Restart, then tell the service it was restarted
match: 'alertname="StepKill"'
steps:{step("restart", first)}{step("verify")}
"""


def leased_by(owner: str, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [j for j in jobs if j["state"] == "running" and j["lease_owner"] == owner]


def incoherent(events: list[dict[str, Any]], final: str) -> list[str]:
    """What is wrong with an execution's timeline: each transition starts where the one before
    ended, times never go back, and it ends once, in the execution's state."""
    problems = []
    previous: dict[str, Any] | None = None
    for event in events:
        if previous is not None:
            if event["from"] != previous["to"]:
                problems.append(f"{event['from']} -> {event['to']} after -> {previous['to']}")
            if event["at"] < previous["at"]:
                problems.append(f"{event['at']} before {previous['at']}")
        previous = event
    ends = [e for e in events if e["to"] in FINAL_STATES]
    if [e["to"] for e in ends] != [final] or events[-1] is not ends[-1]:
        problems.append(f"ends {[e['to'] for e in ends]}, expected once in {final}")
    return problems


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "not-idempotent"])
def test_sigkill_mid_step_the_other_replica_resumes_the_execution(
    idempotent: bool,
    tmp_path: Path,
    pg_url: str,
    held_target: RecordingReceiver,
    replicas: Callable[..., Replica],
    tally: Tally,
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "remediate.yml").write_text(runbook(held_target.url, idempotent))
    extra = f"""
automation: {{mode: live, runbooks: "{books}/*.yml", http_allow: ["127.0.0.1:{held_target.port}"]}}
jobs: {{lease: {LEASE:g}s, poll_interval: 200ms, backoff_initial: 100ms, backoff_max: 1s}}
"""
    pair = [replicas(pg_url, extra, name=f"replica-{x}") for x in "ab"]
    status, body = http(
        "POST",
        pair[0].url + "/webhook",
        token=WEBHOOK_TOKEN,
        body=webhook(alert("StepKill", labels={"instance": "web-1"})),
        timeout=30,
    )
    assert status == 200, body
    wait_until(
        lambda: held_target.deliveries, timeout=HELD_TIMEOUT, what="the first step's request"
    )
    # Whichever replica claimed the step job holds the request; its lease names its pid.
    running = pair[0].jobs("state=running")
    step_job = next(j for j in running if j["kind"] == "runbook_step")
    owner = step_job["lease_owner"]
    dead, survivor = sorted(pair, key=lambda r: f"-{r.proc.pid}-" not in owner)
    assert f"-{dead.proc.pid}-" in owner, f"{owner} is neither replica"
    dead.kill()
    killed_at = time.time()
    held_at_kill = len(leased_by(owner, running))
    tally.inject(
        f"SIGKILL {dead.name} (pid {dead.proc.pid}) while its step's request was held open; "
        f"it held {held_at_kill} job leases (lease {LEASE:g}s, step timeout {STEP_TIMEOUT:g}s)"
    )

    def ended() -> dict[str, Any] | None:
        found = survivor.executions()
        return found[0] if found and found[0]["state"] in FINAL_STATES else None

    summary = wait_until(ended, timeout=SETTLE_TIMEOUT, what="the execution to end")
    released = settle(lambda: not leased_by(owner, survivor.jobs("state=running")), LEASE * 3)
    execution = survivor.get_json(f"/api/v1/executions/{summary['id']}")
    history = survivor.get_json(f"/api/v1/alerts/{execution['alert_id']}")["events"]
    step_jobs = {j["idempotency_key"]: j for j in survivor.jobs("kind=runbook_step")}
    left_leased = leased_by(owner, survivor.jobs("state=running"))
    deliveries = list(held_target.deliveries)
    after_kill = [d for d in deliveries if d.at > killed_at] or deliveries
    sent = [(d.body["step"], d.key) for d in deliveries]
    recorded = [(s["phase"], s["position"], s["step_id"], s["state"]) for s in execution["steps"]]
    started = [e for e in history if e["kind"] == "runbook" and "started" in (e["note"] or "")]
    timeline = incoherent(execution["events"], execution["state"])
    tally.count(
        seconds_from_kill_to_takeover=round(min(d.at for d in after_kill) - killed_at),
        execution_succeeded=int(execution["state"] == "succeeded"),
        restart_requests=sum(1 for s, _ in sent if s == "restart"),
        restart_keys=len({k for s, k in sent if s == "restart"}),
        verify_requests=sum(1 for s, _ in sent if s == "verify"),
        steps_recorded=len(recorded),
        steps_doubled=duplicates([f"{p}:{n}" for p, n, _, _ in recorded]),
        starts_in_alert_history=len(started),
        timeline_problems=len(timeline),
        jobs_left_leased_by_the_dead_replica=len(left_leased),
    )

    eid = execution["id"]
    key = f"step:{eid}:run:0"
    restart_state = "succeeded" if idempotent else "interrupted"
    # The step the kill landed in: sent again under its key if idempotent, never if not.
    assert sent == [("restart", key)] * (2 if idempotent else 1) + [("verify", f"step:{eid}:run:1")]
    assert recorded == [("run", 0, "restart", restart_state), ("run", 1, "verify", "succeeded")]
    restart = execution["steps"][0]
    if not idempotent:
        assert restart["error"].startswith("interrupted: the process stopped while the step")
    assert execution["state"] == "succeeded"  # on_failure: continue carries an interruption on
    assert not timeline, timeline
    assert [e["note"] for e in started] == [f"runbook remediate started: execution {eid}"]
    first = step_jobs[f"runbook_step:{eid}:run:0"]
    assert (first["state"], first["outcome"], first["lease_owner"]) == (
        "done",
        restart_state,
        None,
    )
    assert released and not left_leased, left_leased
