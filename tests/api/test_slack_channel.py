"""The Slack channel against the wire-level fake through slack_sdk's real AsyncWebClient: posting,
threading and updating, idempotent retries, Slack's error codes, 429s and pacing — directly and
through the application's durable jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from receiver.app import create_app
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    NoticeKind,
)
from receiver.notify.slack import Pacer, SlackChannel
from receiver.typedefs import METRICS
from tests.api.test_channels import make_notice
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, OTHER_CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import BOT_TOKEN, block_text, slack_config

HOOK = auth(WEBHOOK_TOKEN)


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def channel(
    slack: SlackFake, session: aiohttp.ClientSession, token: str = BOT_TOKEN
) -> SlackChannel:
    client = AsyncWebClient(token=token, base_url=slack.api_url, session=session, retry_handlers=[])
    return SlackChannel("chat", client, default_channel=CHANNEL, pacer=Pacer(0.0))


async def test_posts_then_threads_and_updates_the_same_message(
    slack: SlackFake, session: aiohttp.ClientSession
) -> None:
    chat = channel(slack, session)
    first = await chat.send(make_notice(key="notify:1"), "")
    assert first.reference is not None
    [parent] = slack.top_messages(CHANNEL)
    assert first.reference == f"{CHANNEL}:{parent.ts}"
    assert parent.metadata == {
        "event_type": "firebreak_notice",
        "event_payload": {"idempotency_key": "notify:1"},
    }
    tier2 = dataclasses.replace(make_notice(key="notify:2"), tier=1, references=(first.reference,))
    second = await chat.send(tier2, CHANNEL)
    assert second.reference == first.reference  # the message stays the one to update
    [note] = slack.thread(CHANNEL, parent.ts)
    assert "checkout-oncall tier 2, repeat 1" in note.text
    assert parent.edits == 1 and "tier 2" in block_text(parent.blocks)

    # Another Slack channel has no message about these alerts: it gets its own.
    other = await chat.send(tier2, OTHER_CHANNEL)
    assert other.reference is not None and other.reference.startswith(OTHER_CHANNEL)


async def test_a_retry_after_a_crash_updates_the_message_instead_of_posting_again(
    slack: SlackFake, session: aiohttp.ClientSession
) -> None:
    notice = make_notice(key="notify:crash")
    first = await channel(slack, session).send(notice, "")
    # A new process (nothing in memory) retries the job that may have posted.
    again = await channel(slack, session).send(dataclasses.replace(notice, attempt=1), "")
    assert again.reference == first.reference
    assert len(slack.top_messages(CHANNEL)) == 1
    assert [c.method for c in slack.called("conversations.history", "chat.update")] == [
        "conversations.history",
        "chat.update",
    ]


async def test_a_failed_update_retried_does_not_repeat_the_thread_reply(
    slack: SlackFake, session: aiohttp.ClientSession
) -> None:
    chat = channel(slack, session)
    first = await chat.send(make_notice(key="notify:1"), "")
    assert first.reference is not None
    resolved = dataclasses.replace(
        make_notice(NoticeKind.RESOLVED, key="resolved:1"), references=(first.reference,)
    )
    slack.fail("chat.update", "internal_error")
    with pytest.raises(ChannelError):
        await chat.send(resolved, "")
    await chat.send(dataclasses.replace(resolved, attempt=1), "")
    [parent] = slack.top_messages(CHANNEL)
    assert len(slack.thread(CHANNEL, parent.ts)) == 1
    assert "RESOLVED" in parent.text


@pytest.mark.parametrize(
    ("error", "status", "raised"),
    [
        ("channel_not_found", 200, ChannelRejected),
        ("not_in_channel", 200, ChannelRejected),
        ("invalid_blocks", 200, ChannelRejected),
        ("internal_error", 200, ChannelError),
        ("service_unavailable", 503, ChannelError),
    ],
)
async def test_slack_errors_map_to_channel_errors(
    slack: SlackFake, session: aiohttp.ClientSession, error: str, status: int, raised: type
) -> None:
    slack.fail("chat.postMessage", error, status=status)
    with pytest.raises(raised) as info:
        await channel(slack, session).send(make_notice(), "")
    assert error in str(info.value) or str(status) in str(info.value)
    assert type(info.value) is raised


async def test_wrong_token_and_unknown_channel_are_rejected(
    slack: SlackFake, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(ChannelRejected, match="invalid_auth"):
        await channel(slack, session, token="xoxb-wrong").send(make_notice(), "")
    with pytest.raises(ChannelRejected, match="channel_not_found"):
        await channel(slack, session).send(make_notice(), "C0NOWHERE")


async def test_429_is_throttled_with_retry_after_and_holds_the_channel(
    slack: SlackFake, session: aiohttp.ClientSession
) -> None:
    now = [100.0]
    pacer = Pacer(0.0, clock=lambda: now[0])
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, session=session)
    chat = SlackChannel("chat", client, default_channel=CHANNEL, pacer=pacer)
    slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(ChannelThrottled) as info:
        await chat.send(make_notice(), "")
    assert info.value.retry_after == 7.0
    assert pacer.held(CHANNEL) == 7.0
    now[0] += 6.5
    with pytest.raises(ChannelThrottled) as info:  # held: not even asked
        await chat.send(make_notice(key="other"), "")
    assert info.value.retry_after == pytest.approx(0.5)
    assert len(slack.calls) == 1
    now[0] += 0.5
    await chat.send(make_notice(key="other"), "")
    assert len(slack.top_messages(CHANNEL)) == 1


def test_pacer_allows_one_post_per_interval_per_channel() -> None:
    now = [100.0]
    pacer = Pacer(1.0, clock=lambda: now[0])
    assert pacer.take_post("C1") == 0.0
    assert pacer.take_post("C1") == pytest.approx(1.0)
    assert pacer.take_post("C2") == 0.0
    now[0] += 0.4
    assert pacer.take_post("C1") == pytest.approx(0.6)
    now[0] += 0.6
    assert pacer.take_post("C1") == 0.0


# -- through the application ------------------------------------------------------------------


async def _all_done(states: Any) -> bool:
    return {state for state, _ in await states} == {"done"}


async def test_a_429_spell_delays_but_loses_nothing(
    on_clock: Any, sqlite_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    client = await on_clock(make_config(sqlite_url, slack_config(slack, tier2_after="1h")))
    slack.rate_limit("chat.postMessage", retry_after=1, times=3)
    for name in ("A", "B", "C"):
        payload = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        await client.post("/webhook", json=payload, headers=HOOK)
    await manual_clock.settle()
    throttled = [c for c in slack.calls if c.answered == 429]
    assert slack.top_messages(CHANNEL) == [] and len(throttled) == 1  # the channel is held

    await manual_clock.advance(timedelta(milliseconds=999))
    assert slack.top_messages(CHANNEL) == []  # Retry-After is waited out on the clock
    await manual_clock.advance(timedelta(seconds=10))
    texts = sorted(m.text for m in slack.top_messages(CHANNEL))
    assert texts == ["[FIRING] A (critical)", "[FIRING] B (critical)", "[FIRING] C (critical)"]
    assert len([c for c in slack.calls if c.answered == 429]) == 3

    async def notify_jobs() -> set[tuple[str, int]]:
        resp = await client.get("/api/v1/jobs?kind=notify", headers=auth(VIEWER_TOKEN))
        return {(j["state"], j["attempts"]) for j in (await resp.json())["jobs"]}

    assert await notify_jobs() == {("done", 0)}  # waiting out a 429 spends no attempt
    breakers = await (
        await client.get("/debug/circuit-breakers", headers=auth(VIEWER_TOKEN))
    ).json()
    assert all(b["state"] == "closed" and b["failures"] == 0 for b in breakers["breakers"])
    throttled_count = client.app[METRICS].registry.get_sample_value(
        "firebreak_notifications_total",
        {"channel": "chat", "kind": "firing", "outcome": "throttled"},
    )
    assert throttled_count is not None and throttled_count >= 3


async def test_posts_to_one_channel_are_paced_one_a_second(
    on_clock: Any, sqlite_url: str, make_config: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    text = slack_config(slack, tier2_after="1h").replace("message_interval: 50ms", "")
    client = await on_clock(make_config(sqlite_url, text))
    for name in ("A", "B", "C"):
        payload = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        await client.post("/webhook", json=payload, headers=HOOK)
    await manual_clock.settle()
    posted = [len(slack.top_messages(CHANNEL))]
    for step in (0.99, 0.01, 0.99, 0.01):
        await manual_clock.advance(timedelta(seconds=step))
        posted.append(len(slack.top_messages(CHANNEL)))
    # One a second on the application's clock: unpaced, the three would go out at once.
    assert posted == [1, 1, 2, 2, 3]


async def test_a_tier_in_another_channel_is_noted_in_the_first_message(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    text = slack_config(slack, tier2_after="500ms", tier2_target=OTHER_CHANNEL)
    client = await aiohttp_client(
        create_app(make_config(sqlite_url, text), registry=CollectorRegistry())
    )
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    [first] = await eventually(lambda: slack.top_messages(CHANNEL), what="tier 1 posted")
    [second] = await eventually(lambda: slack.top_messages(OTHER_CHANNEL), what="tier 2 posted")
    assert "tier 2" in block_text(second.blocks)
    [note] = await eventually(lambda: slack.thread(CHANNEL, first.ts), what="noted in tier 1's")
    assert "Escalated: oncall tier 2" in note.text
    await eventually(lambda: first.edits == 1, what="first message updated")
    assert "tier 2" in block_text(first.blocks)

    # Acknowledging updates both messages.
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    alert_id = (await resp.json())["alerts"][0]["id"]
    await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    await eventually(
        lambda: all("Acknowledged by bob" in block_text(m.blocks) for m in (first, second)),
        within=20,
        what="both updated",
    )
    assert second.edits >= 1 and first.edits >= 2
    for message in (first, second):
        shown = block_text(message.blocks)
        assert "Acknowledged by bob" in shown and "oncall tier 2" in shown


async def test_an_acknowledgement_while_the_post_is_in_flight_still_reaches_the_message(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    client = await aiohttp_client(
        create_app(
            make_config(sqlite_url, slack_config(slack, tier2_after="1h")),
            registry=CollectorRegistry(),
        )
    )
    slack.hold("chat.postMessage")
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    [message] = await eventually(lambda: slack.top_messages(CHANNEL), what="posted, not answered")
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    alert_id = (await resp.json())["alerts"][0]["id"]
    await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    slack.released.set()
    await eventually(lambda: message.edits >= 1, what="the message caught up")
    assert "Acknowledged by bob" in block_text(message.blocks)
