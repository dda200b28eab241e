"""A thread reply that a durable job posts (a runbook's progress, an escalation's note) goes out
once, even when the job runs again after its reply went out: the answer lost on its way back,
or the process cut off before the job was recorded done and the job run again after a restart.
The thread is looked in only when an earlier run of the job may have posted the reply. On
SQLite and PostgreSQL: the job's count of claims, which says so, is the store's."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.model import NewJob
from receiver.typedefs import RUNNER, STORE
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import CHANNEL, slack_section


@pytest.fixture
def config(db_url: str, make_config: Any, slack: SlackFake) -> Any:
    text = f"""{slack_section(slack)}
channels:
  chat: {{type: slack}}
escalation_policies:
  oncall:
    tiers: [{{after: 0s, notify: [chat]}}, {{after: 1m, notify: [chat]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{lease: 2s, backoff_initial: 1s, backoff_max: 1s}}
shutdown_grace: 1s
"""
    return make_config(db_url, text)


async def _alert_with_message(client: Any, clock: ManualClock, slack: SlackFake) -> tuple[int, str]:
    """An alert and its first Slack message; the alert's id and the message's ts."""
    sent = await client.post(
        "/webhook",
        json=webhook(alert("Once", starts_at=format_rfc3339(clock()))),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert sent.status == 200
    await clock.advance(timedelta(seconds=1))
    (parent,) = slack.top_messages(CHANNEL)
    listed = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    (alert_id,) = [a["id"] for a in listed["alerts"]]
    return alert_id, parent.ts


async def _note(client: Any, clock: ManualClock, alert_id: int, text: str) -> None:
    """A runbook's progress note about the alert, as the executor enqueues it."""
    store = client.app[STORE]
    note = NewJob(
        kind="slack_update",
        payload={"alert_ids": [alert_id], "action": "runbook", "note": text},
        due_at=clock(),
        idempotency_key=f"slack_update:test:{text}",
    )
    async with store.engine.begin() as conn:
        await store.jobs.enqueue(conn, [note], clock())
    client.app[RUNNER].wake()  # as the executor does, rather than wait for the runner's poll


async def _note_jobs(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/jobs?kind=slack_update", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return [j for j in (await resp.json())["jobs"] if j["payload"].get("note")]


async def test_a_note_whose_answer_was_lost_is_not_posted_twice(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(config)
    alert_id, ts = await _alert_with_message(client, manual_clock, slack)
    slack.lose_answer("chat.postMessage")  # posted, but the job hears HTTP 500
    await _note(client, manual_clock, alert_id, "step one done")
    await manual_clock.advance(timedelta(seconds=3))  # past the retry's backoff
    assert [m.text for m in slack.thread(CHANNEL, ts)] == ["step one done"]
    [job] = await _note_jobs(client)
    assert (job["state"], job["attempts"]) == ("done", 1)
    assert len(slack.called("conversations.replies")) == 1  # only the retry looked


async def test_a_restart_between_posting_and_recording_does_not_post_the_note_twice(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    first = await on_clock(config, owner="first")
    alert_id, ts = await _alert_with_message(first, manual_clock, slack)
    slack.hold("chat.postMessage")  # posted at Slack; the answer never comes back
    await _note(first, manual_clock, alert_id, "step one done")
    moving = asyncio.create_task(manual_clock.advance(timedelta(seconds=0.5)))
    await eventually(lambda: slack.thread(CHANNEL, ts), what="the note posted")
    manual_clock.forget(first.app)  # the clock stops waiting for a runner that is stuck
    await moving
    await first.close()  # the note job is cut off before it is recorded done
    slack.released.set()

    second = await on_clock(config, owner="second")
    await manual_clock.advance(timedelta(seconds=1))
    assert [m.text for m in slack.thread(CHANNEL, ts)] == ["step one done"]
    [job] = await _note_jobs(second)
    assert job["state"] == "done"
    assert len(slack.called("conversations.replies")) == 1  # the run after the restart looked


async def test_notes_posted_at_the_first_try_do_not_look_in_the_thread(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(config)
    alert_id, ts = await _alert_with_message(client, manual_clock, slack)
    for step in ("one", "two", "three"):
        await _note(client, manual_clock, alert_id, f"step {step} done")
        await manual_clock.advance(timedelta(seconds=1))
    assert len(slack.thread(CHANNEL, ts)) == 3
    assert slack.called("conversations.replies") == []  # Slack's rate limits: no lookups


async def test_an_escalation_note_whose_answer_was_lost_is_not_posted_twice(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(config)
    _, ts = await _alert_with_message(client, manual_clock, slack)
    # The next tier's note in the thread goes out, but the job hears HTTP 500.
    slack.lose_answer("chat.postMessage", lambda args: args.get("thread_ts") == ts)
    await manual_clock.advance(timedelta(minutes=1, seconds=3))
    escalated = ":rotating_light: Escalated: oncall tier 2."
    assert [m.text for m in slack.thread(CHANNEL, ts)] == [escalated]
    assert len(slack.called("conversations.replies")) == 1  # the retry looked
