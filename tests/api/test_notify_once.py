"""A notice (the ``notify`` job) goes out once, even when the job runs again after its post
went out: the answer lost as the circuit breaker opened (the retry is a deferral, no attempt
counted), or the process cut off at shutdown with the post in flight. Slack is asked about an
earlier post only when the run before began the post and its outcome is unknown: a notice held
back before it was sent (Slack's 429, the pace, the rate limit) asks nothing. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.model import NewJob
from receiver.typedefs import RUNNER, STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import CHANNEL, slack_section


@pytest.fixture
def config(db_url: str, make_config: Any, slack: SlackFake) -> Any:
    text = f"""{slack_section(slack)}
channels:
  chat:
    type: slack
    breaker: {{failure_threshold: 1, open_cooldown: 5s, half_open_probe_count: 1}}
escalation_policies:
  oncall:
    tiers: [{{after: 0s, notify: [chat]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{lease: 60s, backoff_initial: 1s, backoff_max: 1s}}
shutdown_grace: 1s
"""
    return make_config(db_url, text)


async def _fire(client: Any, clock: ManualClock, name: str = "Once") -> None:
    sent = await client.post(
        "/webhook",
        json=webhook(
            alert(name, starts_at=format_rfc3339(clock())), group_key=f'{{}}:{{alertname="{name}"}}'
        ),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert sent.status == 200


async def _notify_jobs(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/jobs?kind=notify", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return (await resp.json())["jobs"]  # type: ignore[no-any-return]


async def test_a_notice_whose_answer_was_lost_as_the_breaker_opened_is_not_posted_twice(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(config)
    slack.drop_answer("chat.postMessage")  # posted at Slack; the connection drops
    await _fire(client, manual_clock)
    await manual_clock.advance(timedelta(seconds=1))
    [job] = await _notify_jobs(client)
    # The breaker opened: the job waits behind it, no attempt spent, its post in doubt.
    assert (job["state"], job["attempts"], job["outcome"]) == ("pending", 0, "in_doubt")
    await manual_clock.advance(timedelta(seconds=6))  # past the cool-down: the probe
    assert len(slack.top_messages(CHANNEL)) == 1
    [job] = await _notify_jobs(client)
    assert job["state"] == "done"
    assert len(slack.called("conversations.history")) == 1  # the retry looked, and found it
    assert len(slack.called("chat.update")) == 1


async def test_a_notice_cut_off_at_shutdown_is_not_posted_twice(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    first = await on_clock(config, owner="first")
    slack.hold("chat.postMessage")  # posted at Slack; the answer never comes back
    await _fire(first, manual_clock)
    moving = asyncio.create_task(manual_clock.advance(timedelta(seconds=0.5)))
    await eventually(lambda: slack.top_messages(CHANNEL), what="the notice posted")
    manual_clock.forget(first.app)  # the clock stops waiting for a runner that is stuck
    await moving
    await first.close()  # cut off after shutdown_grace, handed back unrecorded
    slack.released.set()

    second = await on_clock(config, owner="second")
    await manual_clock.advance(timedelta(seconds=1))
    assert len(slack.top_messages(CHANNEL)) == 1
    [job] = await _notify_jobs(second)
    assert job["state"] == "done"
    assert len(slack.called("conversations.history")) == 1  # the run after the restart looked


async def test_notices_held_back_before_they_were_sent_do_not_look(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(config)
    slack.rate_limit("chat.postMessage", retry_after=1)  # Slack refused it: nothing posted
    await _fire(client, manual_clock, "First")
    await _fire(client, manual_clock, "Second")  # another group: paced behind the first
    await manual_clock.advance(timedelta(seconds=0.5))
    assert slack.top_messages(CHANNEL) == []
    held = await _notify_jobs(client)
    assert [(j["state"], j["outcome"]) for j in held] == [("pending", None), ("pending", None)]
    # Slack's hold and the pace are counted on the application's clock: they wait no longer.
    await manual_clock.advance(timedelta(seconds=1))
    assert len(slack.top_messages(CHANNEL)) == 2
    jobs = await _notify_jobs(client)
    assert [j["state"] for j in jobs] == ["done", "done"]
    assert slack.called("conversations.history") == []  # Slack's read limits: no lookups


async def test_a_notice_first_claimed_long_after_it_fell_due_does_not_look(
    on_clock: Any, config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    """Claimed for the first time more than a lease after it was due (a backlog, a restart
    after downtime), a notice was never run before: nothing to look for."""
    client = await on_clock(config)
    await _fire(client, manual_clock, "Late")
    await manual_clock.advance(timedelta(seconds=1))
    [first] = await _notify_jobs(client)
    store = client.app[STORE]
    late = NewJob(
        kind="notify",
        payload={**first["payload"], "tier": 0, "repeat": 1},
        due_at=manual_clock() - timedelta(minutes=5),
        idempotency_key="notify:test:late",
    )
    async with store.engine.begin() as conn:
        await store.jobs.enqueue(conn, [late], manual_clock())
    client.app[RUNNER].wake()
    await manual_clock.advance(timedelta(seconds=1))
    assert [j["state"] for j in await _notify_jobs(client)] == ["done", "done"]
    assert len(slack.top_messages(CHANNEL)) == 1  # the repeat went into the first's thread
    assert slack.called("conversations.history", "conversations.replies") == []


async def test_a_dead_notice_retried_by_an_admin_is_not_posted_twice(
    on_clock: Any, db_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    """Out of attempts after a lost answer, the notice is dead; a retry gives it a fresh attempt
    budget, and the post its last attempt made is still looked for."""
    text = f"""{slack_section(slack)}
channels:
  chat: {{type: slack}}
escalation_policies:
  oncall:
    tiers: [{{after: 0s, notify: [chat]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{lease: 60s, max_attempts: 1}}
"""
    client = await on_clock(make_config(db_url, text))
    slack.drop_answer("chat.postMessage")  # posted at Slack; the connection drops
    await _fire(client, manual_clock)
    await manual_clock.advance(timedelta(seconds=1))
    [job] = await _notify_jobs(client)
    assert job["state"] == "dead"
    retried = await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(ADMIN_TOKEN))
    assert retried.status == 200
    assert (await retried.json())["outcome"] == "in_doubt"
    await manual_clock.advance(timedelta(seconds=1))
    [job] = await _notify_jobs(client)
    assert job["state"] == "done"
    assert len(slack.top_messages(CHANNEL)) == 1
    assert len(slack.called("conversations.history")) == 1


async def test_a_note_whose_message_update_was_throttled_is_not_posted_again_elsewhere(
    on_clock: Any, db_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    """The next tier's note goes into the thread, then Slack answers the message's update with
    a 429: the notice waits, and part of it is out. Run again by another process (a restart
    here, a replica on PostgreSQL), it looks for the note instead of posting it again."""
    text = f"""{slack_section(slack)}
channels:
  chat: {{type: slack}}
escalation_policies:
  oncall:
    tiers: [{{after: 0s, notify: [chat]}}, {{after: 1m, notify: [chat]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{lease: 60s}}
"""
    first = await on_clock(make_config(db_url, text), owner="first")
    await _fire(first, manual_clock)
    await manual_clock.advance(timedelta(seconds=1))
    [parent] = slack.top_messages(CHANNEL)
    slack.rate_limit("chat.update", retry_after=30)
    await manual_clock.advance(timedelta(minutes=1))
    escalated = ":rotating_light: Escalated: oncall tier 2."
    assert [m.text for m in slack.thread(CHANNEL, parent.ts)] == [escalated]
    tier2 = [j for j in await _notify_jobs(first) if j["payload"]["tier"] == 1]
    assert [(j["state"], j["outcome"]) for j in tier2] == [("pending", "in_doubt")]
    manual_clock.forget(first.app)
    await first.close()

    second = await on_clock(make_config(db_url, text), owner="second")
    await manual_clock.advance(timedelta(seconds=31))
    assert [m.text for m in slack.thread(CHANNEL, parent.ts)] == [escalated]
    assert all(j["state"] == "done" for j in await _notify_jobs(second))
    assert len(slack.called("conversations.replies")) == 1
