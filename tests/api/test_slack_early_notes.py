"""A note for an alert's Slack thread (a runbook's progress) that comes before the alert's first
Slack message waits for that message, within a bound, instead of being dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.model import NewJob
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.slack import SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import CHANNEL, slack_section


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake() as fake:
        yield fake


@pytest.fixture
async def client(sqlite_url: str, make_config: Any, slack: SlackFake, on_clock: Any) -> Any:
    # The first notice is due 30 s after the alert starts.
    text = f"""{slack_section(slack)}
channels:
  chat: {{type: slack}}
escalation_policies:
  oncall:
    tiers: [{{after: 30s, notify: [chat]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
"""
    return await on_clock(make_config(sqlite_url, text))


async def _early_note(client: Any, manual_clock: ManualClock, key: str) -> int:
    """An alert, and a note about it enqueued before its first Slack message is due."""
    sent = await client.post(
        "/webhook",
        json=webhook(alert(key, starts_at=format_rfc3339(manual_clock()))),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert sent.status == 200
    listed = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    (alert_id,) = [a["id"] for a in listed["alerts"] if a["labels"]["alertname"] == key]
    store = client.app[STORE]
    note = NewJob(
        kind="slack_update",
        payload={"alert_ids": [alert_id], "action": "runbook", "note": f"{key} started"},
        due_at=manual_clock(),
        idempotency_key=f"test-note:{key}",
    )
    async with store.engine.begin() as conn:
        await store.jobs.enqueue(conn, [note], manual_clock())
    await manual_clock.settle(wake=True)
    return alert_id


async def test_a_note_before_the_message_is_posted_in_its_thread_once_it_exists(
    client: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    await _early_note(client, manual_clock, "Early")
    assert slack.top_messages(CHANNEL) == []  # no message yet: the note waits
    await manual_clock.advance(timedelta(seconds=30))
    (parent,) = slack.top_messages(CHANNEL)
    await manual_clock.advance(timedelta(seconds=2))  # it looks again every second
    assert ["Early started" in m.text for m in slack.thread(CHANNEL, parent.ts)] == [True]
    await manual_clock.advance(timedelta(seconds=5))
    assert len(slack.thread(CHANNEL, parent.ts)) == 1  # posted once
