"""A Slack message never ends showing an older state. Several jobs edit one alert message (a
tier's notice, a page's direct message, a snooze's update, an acknowledgement) and Slack
applies edits in the order they reach it: here the fake keeps one edit on its way until a later
one has landed, and the message must still end up showing what the store says now — on SQLite
and PostgreSQL, through the application's jobs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from receiver.alertmanager import format_rfc3339
from receiver.notify.slack import MessageState, Pacer, SlackChannel
from receiver.notify.slack.blocks import MessageAlert
from tests.api.test_channels import make_notice
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, Message, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import BOT_TOKEN, block_text, slack_config, slack_section

HOOK = auth(WEBHOOK_TOKEN)
ALICE = "U0PALICE"


def _paging_config(slack: SlackFake) -> str:
    """Tier 2 tells the alert's channel and pages Alice by direct message: two jobs that edit
    the channel's message at the same moment."""
    return f"""{slack_section(slack)}
channels:
  chat:
    type: slack
    rate_limit: {{per_minute: 600, burst: 100}}
paging: {{slack: chat}}
people:
  - {{id: alice, name: Alice Ng, slack_user_id: {ALICE}}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [chat]}}
      - {{after: 1m, notify: [chat, {{person: alice}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{workers: 4, lease: 30s, max_attempts: 6, backoff_initial: 1s, backoff_max: 10s,
        poll_interval: 200ms}}
"""


def _last_edit(slack: SlackFake, parent: Message) -> str:
    """What the last ``chat.update`` Slack applied to ``parent`` says."""
    edits = [c for c in slack.called("chat.update") if c.args.get("ts") == parent.ts]
    assert edits, "the message was never edited"
    return block_text(edits[-1].args["blocks"])


async def _posted(client: Any, slack: SlackFake, clock: ManualClock) -> tuple[Message, int]:
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await clock.settle()
    [parent] = slack.top_messages(CHANNEL)
    return parent, int(parent.blocks[-1]["elements"][0]["value"])


async def test_an_edit_that_lands_last_with_an_older_state_is_put_right(
    on_clock: Any, db_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(make_config(db_url, slack_config(slack, tier2_after="1h")))
    parent, alert_id = await _posted(client, slack, manual_clock)

    async def act(action: str, body: dict[str, Any]) -> None:
        resp = await client.post(
            f"/api/v1/alerts/{alert_id}/{action}", json=body, headers=auth(RESPONDER_TOKEN)
        )
        assert resp.status == 200, await resp.text()

    # The snooze's edit is overtaken on its way by the acknowledgement's (the acknowledged
    # notice the Slack channel follows).
    slack.overtake("chat.update", lambda args: args.get("ts") == parent.ts)
    await act("snooze", {"for": "1h"})
    await eventually(lambda: slack.waiting, what="the snooze's edit on its way")
    until = format_rfc3339(manual_clock() + timedelta(hours=1))
    stale = block_text(slack.waiting[0]["blocks"])
    assert f"Firing; snoozed until {until}" in stale and "Acknowledged" not in stale
    await act("acknowledge", {})
    await manual_clock.settle()

    for shown in (_last_edit(slack, parent), block_text(parent.blocks)):
        assert "Acknowledged by bob" in shown and "Firing" not in shown
    # Put right once: the overtaken edit, the one that overtook it, and one more.
    assert parent.edits == 3


async def test_a_pages_edit_rendered_before_the_tier_it_belongs_to_does_not_step_it_back(
    on_clock: Any, db_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    slack.users.add(ALICE)
    client = await on_clock(make_config(db_url, _paging_config(slack)))
    parent, _alert_id = await _posted(client, slack, manual_clock)
    assert "tier 1" in block_text(parent.blocks)

    # Tier 2: its reply in the thread is posted but answered late, so its page's direct
    # message renders the channel's message first (from the store, where tier 2 is not yet
    # recorded) and that edit reaches Slack only after tier 2's own.
    slack.hold("chat.postMessage", lambda args: args.get("thread_ts") == parent.ts)
    slack.overtake("chat.update", lambda args: args.get("ts") == parent.ts)
    escalating = asyncio.create_task(manual_clock.advance(timedelta(minutes=1)))
    await eventually(lambda: slack.waiting, what="the page's edit on its way")
    assert "tier 1" in block_text(slack.waiting[0]["blocks"])
    assert slack.direct_messages(ALICE) and slack.thread(CHANNEL, parent.ts)
    slack.released.set()
    await escalating

    [note] = slack.thread(CHANNEL, parent.ts)
    assert "Escalated: oncall tier 2" in note.text
    shown = _last_edit(slack, parent)
    assert "oncall tier 2" in shown and f"<@{ALICE}> (tier 2)" in shown
    assert "oncall tier 2" in block_text(parent.blocks)


async def test_a_message_found_posted_by_an_earlier_attempt_shows_the_state_now() -> None:
    """A tier 1 notice run again (its job taken over after it posted) finds its message,
    which tier 2 has edited since: the message is brought up to date from the alerts' state,
    not put back to what the tier 1 notice carried."""
    notice = make_notice(key="notify:taken-over")
    acked = [
        dataclasses.replace(MessageAlert.from_notice(a), acknowledged_by="alice")
        for a in notice.alerts
    ]

    async def state(_reference: str) -> MessageState:
        return MessageState(acked, tier=1, escalation_policy="checkout-oncall")

    async with SlackFake(token=BOT_TOKEN) as slack, aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, session=session)

        def chat() -> SlackChannel:  # a process of its own: nothing in memory
            return SlackChannel(
                "chat", client, default_channel=CHANNEL, pacer=Pacer(0.0), state=state
            )

        await chat().send(notice, "")
        await chat().send(dataclasses.replace(notice, attempt=1), "")
        [parent] = slack.top_messages(CHANNEL)
        shown = block_text(parent.blocks)
        assert parent.edits == 1
        assert "checkout-oncall tier 2" in shown and "Acknowledged by alice" in shown
