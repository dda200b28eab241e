"""A note for an alert's Slack thread (a runbook's progress) that comes before the alert's first
Slack message waits for that message, within a bound, instead of being dropped; and stops
waiting as soon as no Slack message about the alert can come (routed elsewhere, acknowledged
before its Slack tier)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.model import NewJob
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.slack import SlackFake
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook
from tests.slack_helpers import CHANNEL, slack_section


@pytest.fixture
async def client(
    sqlite_url: str, make_config: Any, slack: SlackFake, on_clock: Any, receiver: WebhookReceiver
) -> Any:
    # The first notice is due 30 s after the alert starts; the payments team is paged by a
    # webhook only, and Slack never hears of its alerts.
    text = f"""{slack_section(slack)}
channels:
  chat: {{type: slack}}
  hook: {{type: webhook, webhook: {{url: "{receiver.url}", timeout: 5s}}}}
escalation_policies:
  oncall:
    tiers: [{{after: 30s, notify: [chat]}}]
  payments:
    tiers: [{{after: 0s, notify: [hook]}}]
routes:
  - {{name: payments, match: ['team="payments"'], escalation_policy: payments}}
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
"""
    return await on_clock(make_config(sqlite_url, text))


async def _early_note(client: Any, manual_clock: ManualClock, key: str, team: str = "") -> int:
    """An alert, and a note about it enqueued before its first Slack message is due."""
    labels = {"team": team} if team else None
    sent = await client.post(
        "/webhook",
        json=webhook(alert(key, starts_at=format_rfc3339(manual_clock()), labels=labels)),
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
    # Waiting for the message began no post: the note did not look in the thread first.
    assert slack.called("conversations.replies") == []


async def _note_job(client: Any) -> dict[str, Any]:
    resp = await client.get("/api/v1/jobs?kind=slack_update", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    (job,) = [j for j in (await resp.json())["jobs"] if j["idempotency_key"].startswith("test-")]
    return dict(job)


async def test_a_note_about_an_alert_slack_never_hears_of_ends_at_once(
    client: Any, slack: SlackFake, receiver: WebhookReceiver, manual_clock: ManualClock
) -> None:
    await _early_note(client, manual_clock, "Away", team="payments")
    assert len(receiver.requests) == 1  # paged through the webhook, at once
    job = await _note_job(client)
    assert (job["state"], job["outcome"]) == ("done", "no_messages")  # no two-minute wait
    await manual_clock.advance(timedelta(minutes=3))
    assert slack.called("chat.postMessage", "chat.update", "conversations.replies") == []


async def test_a_note_waits_no_longer_once_the_alert_is_acknowledged_before_its_slack_tier(
    client: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    alert_id = await _early_note(client, manual_clock, "Owned")
    await manual_clock.advance(timedelta(seconds=5))
    assert (await _note_job(client))["state"] == "pending"  # Slack's tier is still to come
    acked = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert acked.status == 200
    await manual_clock.advance(timedelta(seconds=2))
    job = await _note_job(client)
    assert (job["state"], job["outcome"]) == ("done", "no_messages")
    await manual_clock.advance(timedelta(minutes=1))
    assert slack.top_messages(CHANNEL) == []  # the escalation stopped before Slack's tier


async def test_a_note_made_while_an_earlier_one_waits_for_the_message_goes_out_after_it(
    client: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    """Notes of one alert share a coalesce key; one made once the message exists, while an
    earlier note still waits for that message, does not overtake it in the thread."""
    store = client.app[STORE]

    def note(alert_id: int, text: str) -> NewJob:
        return NewJob(
            kind="slack_update",
            payload={"alert_ids": [alert_id], "action": "runbook", "note": text},
            due_at=manual_clock(),
            idempotency_key=f"test-note:{text}",
            coalesce_key=f"slack_update:alert:{alert_id}",
        )

    sent = await client.post(
        "/webhook",
        json=webhook(alert("Ordered", starts_at=format_rfc3339(manual_clock()))),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert sent.status == 200
    listed = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    (alert_id,) = [a["id"] for a in listed["alerts"]]
    async with store.engine.begin() as conn:
        await store.jobs.enqueue(conn, [note(alert_id, "first")], manual_clock())
    # The message goes out at 30 s; the first note, rechecking every second, ran just before
    # it in that same moment and waits one second more.
    await manual_clock.advance(timedelta(seconds=30))
    (parent,) = slack.top_messages(CHANNEL)
    assert [m.text for m in slack.thread(CHANNEL, parent.ts)] == []
    async with store.engine.begin() as conn:
        await store.jobs.enqueue(conn, [note(alert_id, "second")], manual_clock())
    await manual_clock.settle(wake=True)
    await manual_clock.advance(timedelta(seconds=5))
    assert [m.text for m in slack.thread(CHANNEL, parent.ts)] == ["first", "second"]
