"""Runbooks from Slack: list, run, approve (step approvers and slack.runbook_approvers),
cancel and status, through the automation service the REST API and CLI use too."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.automation.conftest import runbooks
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import ADMIN, ALICE, VIEWER, block_text, command, slack_config

RESTART = """
id: restart-db
title: Restart the database
automatic: false
params:
  replicas: {type: int, default: 1, settable: true}
  cluster: {default: main}
steps:
  - id: ask
    approval: {message: "Restart {{ params.replicas }} replicas?", approvers: [slack:U0ADMIN]}
  - id: settle
    wait: {duration: 100ms}
"""
GUARDED = """
id: drain-node
title: Drain a node
automatic: false
steps:
  - id: ask
    approval: {message: "Drain?"}
  - id: settle
    wait: {duration: 100ms}
"""


@pytest.fixture
async def client(aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake) -> Any:
    extra = "  runbook_approvers: {drain-node: [U0ADMIN]}"
    config = make_config(sqlite_url, slack_config(slack, tier2_after="1h", extra=extra))
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks(RESTART, GUARDED))
    return await aiohttp_client(app)


async def _answer(client: Any, slack: SlackFake, text: str, user: tuple[str, str]) -> str:
    before = len(slack.responses)
    resp = await command(client, slack, text, user)
    assert resp.status == 200
    await eventually(lambda: len(slack.responses) > before, what=f"answer to {text!r}")
    return str(slack.responses[-1]["text"])


async def _state(client: Any, execution_id: int) -> str:
    resp = await client.get(f"/api/v1/executions/{execution_id}", headers=auth(VIEWER_TOKEN))
    return str((await resp.json())["state"])


async def test_run_approve_and_follow_a_runbook_from_slack(client: Any, slack: SlackFake) -> None:
    listing = await _answer(client, slack, "runbooks", VIEWER)
    assert "• `restart-db` — Restart the database (by hand)" in listing

    assert "needs the responder role" in await _answer(client, slack, "run restart-db", VIEWER)
    # A person sets only what the runbook lets them set, and only values of its type.
    text = await _answer(client, slack, "run restart-db cluster=other", ALICE)
    assert "params.cluster: not settable at a manual run" in text, text
    text = await _answer(client, slack, "run restart-db replicas=--all", ALICE)
    assert "params.replicas: expected an integer" in text, text
    text = await _answer(client, slack, "run restart-db replicas=3", ALICE)
    assert text.startswith(f"<@{ALICE[0]}> started runbook `restart-db`: execution ")
    execution_id = int(text.split("execution ")[1].split(" ")[0])
    await eventually(
        lambda: _is(client, execution_id, "waiting_approval"), what="waiting for approval"
    )

    # The step names its approvers: a responder who is not one is told so.
    text = await _answer(client, slack, f"approve {execution_id}", ALICE)
    assert text.startswith("Could not approve: slack:U0ALICE may not approve this step")
    text = await _answer(client, slack, f"approve {execution_id}", ADMIN)
    assert text.startswith(f"<@{ADMIN[0]}> approved execution {execution_id} of `restart-db`")
    await eventually(lambda: _is(client, execution_id, "succeeded"), what="runbook finished")

    status = await _answer(client, slack, f"status {execution_id}", VIEWER)
    assert status.splitlines()[0] == f"*Execution {execution_id} of `restart-db`: succeeded*"
    assert "Started manual by slack:U0ALICE" in status
    assert "• `ask` (approval, run): succeeded, approved by slack:U0ADMIN" in status


async def test_runbook_approvers_and_cancel(client: Any, slack: SlackFake) -> None:
    text = await _answer(client, slack, "run drain-node", ALICE)
    execution_id = int(text.split("execution ")[1].split(" ")[0])
    await eventually(lambda: _is(client, execution_id, "waiting_approval"), what="waiting")
    text = await _answer(client, slack, f"approve {execution_id}", ALICE)
    assert text == (
        "Could not approve: slack.runbook_approvers does not name you for runbook drain-node."
    )
    text = await _answer(client, slack, f"cancel {execution_id} not today", ALICE)
    assert text == f"<@{ALICE[0]}> cancelled execution {execution_id} of `drain-node`."
    assert await _state(client, execution_id) == "cancelled"
    text = await _answer(client, slack, "run no-such-runbook", ALICE)
    assert text == "Could not run: runbook no-such-runbook does not exist."
    text = await _answer(client, slack, "status 999999", VIEWER)
    assert text == "Could not status: execution 999999 does not exist."


async def _is(client: Any, execution_id: int, state: str) -> bool:
    return await _state(client, execution_id) == state


CACHE = """
id: clear-cache
title: Clear the cache
match: ['alertname="DiskFull"']
cooldown: 1s
steps:
  - id: settle
    wait: {duration: 500ms}
  - id: tell
    notify: {channel: chat, message: "Clearing the cache for {{ alert.labels.service }}"}
"""


async def test_a_runbook_step_speaks_in_the_alert_thread(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    live = "automation: {mode: live}\n"  # the alert's own run sends the notify step's message
    config = make_config(sqlite_url, slack_config(slack, tier2_after="1h") + live)
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks(CACHE))
    client = await aiohttp_client(app)
    body = webhook(alert("DiskFull", labels={"service": "db"}))
    await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="alert posted")

    def thread() -> list[str]:
        return [m.text for m in slack.thread(CHANNEL, parent.ts)]

    await eventually(lambda: any("succeeded (execution" in t for t in thread()), what="run ended")
    notes = thread()
    assert notes[0] == ":gear: Runbook `clear-cache` started by itself: execution 1."
    assert "• Step `settle` of `clear-cache` (execution 1): succeeded" in notes
    [said] = [t for t in notes if t.startswith(":gear: Clearing the cache for db (runbook ")]
    told = "• Step `tell` of `clear-cache` (execution 1): succeeded"
    assert notes.index(said) < notes.index(told)
    assert notes[-1] == ":white_check_mark: Runbook `clear-cache` succeeded (execution 1)."
    await eventually(
        lambda: "execution 1 succeeded" in block_text(parent.blocks), what="message refreshed"
    )
    assert len(slack.top_messages(CHANNEL)) == 1
