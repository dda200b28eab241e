"""Tiers in order: for one alert, a later tier's notice never goes out before an earlier tier's
notice that is still on its way (retried, or waiting behind a breaker), also after an outage and
across a restart; behind one to another channel or target it waits ``tier_order_wait`` at most,
and an earlier notice that is dead-lettered stops holding the later one back. Observed at a real
webhook receiver, on the manual clock; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from receiver.store import tables
from receiver.typedefs import STORE
from tests.api.test_escalation import HOOK
from tests.clock import ManualClock
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook


def config(
    url: str, *, tier2_after: str, threshold: int, cooldown: str, backoff: str, wait: str = "5m"
) -> str:
    """Policy ``oncall``: tier 1 pages the receiver at once, tier 2 pages it again (another
    target on the same channel, so behind its own breaker) ``tier2_after`` later."""
    return f"""
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 5s}}
    breaker: {{failure_threshold: {threshold}, open_cooldown: {cooldown}, half_open_probe_count: 1}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: ""}}]}}
      - {{after: {tier2_after}, notify: [{{channel: hook, target: "{url}?tier=2"}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s, tier_order_wait: {wait}}}
jobs: {{workers: 4, lease: 30s, max_attempts: 6, backoff_initial: {backoff}, backoff_max: 1m,
        poll_interval: 200ms}}
"""


def two_channels(url: str, *, wait: str | None = None) -> str:
    """Policy ``oncall``: tier 1 posts to the chat channel at once, tier 2 pages through
    another channel 2 s later (both webhooks to the receiver, at /chat and /pager), with no
    rate limit to speak of; breakers and ``tier_order_wait`` as by default unless ``wait``."""
    base = url.rsplit("/", 1)[0]
    order = "" if wait is None else f", tier_order_wait: {wait}"
    limit = "{per_minute: 100000, burst: 1000}"  # each alert's notice a message of its own
    return f"""
channels:
  chat: {{type: webhook, webhook: {{url: "{base}/chat", timeout: 10s}}, rate_limit: {limit}}}
  pager: {{type: webhook, webhook: {{url: "{base}/pager", timeout: 10s}}, rate_limit: {limit}}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [chat]}}
      - {{after: 2s, notify: [pager]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s{order}}}
jobs: {{workers: 16, lease: 30s, max_attempts: 10, backoff_initial: 1s, backoff_max: 1m,
        poll_interval: 200ms}}
"""


@pytest.fixture
def start(make_config: Any, db_url: str, on_clock: Any) -> Callable[..., Awaitable[Any]]:
    """Start an application on the test's database and the manual clock, with ``config``."""

    async def run(text: str | None = None, owner: str = "a", **settings: Any) -> Any:
        text = text if text is not None else config(**settings)
        return await on_clock(make_config(db_url, text), owner=owner)

    return run


def tiers_by_alert(receiver: WebhookReceiver, since: int) -> dict[str, list[int]]:
    """The tiers each alert's firing notices reached the receiver with, in arrival order."""
    order: dict[str, list[int]] = {}
    for i in range(since, len(receiver.requests)):
        body = receiver.json(i)
        if body["kind"] == "firing":
            for a in body["alerts"]:
                order.setdefault(a["labels"]["alertname"], []).append(body["tier"])
    return order


async def test_after_an_outage_every_alert_hears_tier_1_before_tier_2(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # Down across tier 1's send and tier 2's due time: tier 1's breaker opens at once and its
    # probe half a minute later finds the channel still down, so it waits another cooldown;
    # tier 2's breaker, opened later, probes first once the channel is back.
    client = await start(
        url=receiver.url, tier2_after="10s", threshold=2, cooldown="30s", backoff="100ms"
    )
    receiver.down = 503
    names = [f"A{i}" for i in range(6)]
    for name in names:
        await client.post("/webhook", json=webhook(alert(name), group_key=name), headers=HOOK)
    await manual_clock.advance(timedelta(seconds=35))
    receiver.down = None
    back = len(receiver.requests)
    await manual_clock.advance(timedelta(minutes=5))
    assert tiers_by_alert(receiver, back) == {name: [0, 1] for name in names}
    assert tiers_by_alert(receiver, 0).keys() == set(names)


async def test_a_dead_lettered_tier_1_notice_lets_tier_2_go_out(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # Tier 1's send fails and is retried some seconds later; tier 2 falls due meanwhile and
    # waits behind it. The channel then rejects tier 1's notice for good: it is dead-lettered
    # (kept for a person to retry), and tier 2 is sent, once.
    client = await start(
        url=receiver.url, tier2_after="1s", threshold=100, cooldown="60s", backoff="10s"
    )
    receiver.down = 503
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(receiver.requests) == 1
    receiver.down = None
    receiver.script(Reply(400, body=b"bad payload"))
    await manual_clock.advance(timedelta(minutes=5))
    assert [receiver.json(i)["tier"] for i in range(len(receiver.requests))] == [0, 0, 1]
    async with client.app[STORE].connection() as conn:
        dead = (
            await conn.execute(
                select(tables.jobs.c.kind, tables.jobs.c.payload).where(
                    tables.jobs.c.state == "dead"
                )
            )
        ).all()
    assert [(kind, payload["tier"]) for kind, payload in dead] == [("notify", 0)]
    await manual_clock.advance(timedelta(minutes=5))
    assert len(receiver.requests) == 3  # tier 2 once; tier 1 waits for a person


def delivered(receiver: WebhookReceiver, down_until: int) -> dict[str, list[int]]:
    """The tiers each alert's firing notices were delivered with, in arrival order: every
    request from ``down_until`` on, and the ones before it that did not go to /chat (down).
    A send repeated under the same idempotency key (its answer came too late for a loaded
    sender, which tried again) is recognised as the first, as a receiver would."""
    order: dict[str, list[int]] = {}
    seen: set[str] = set()
    for i, request in enumerate(receiver.requests):
        key = request.headers["X-Firebreak-Idempotency-Key"]
        if (i < down_until and request.path == "/chat") or key in seen:
            continue
        seen.add(key)
        body = receiver.json(i)
        if body["kind"] == "firing":
            for a in body["alerts"]:
                order.setdefault(a["labels"]["alertname"], []).append(body["tier"])
    return order


async def chat_down(
    start: Any, receiver: WebhookReceiver, names: list[str], wait: str | None = None, **more: Any
) -> Any:
    """An application with ``two_channels`` that takes in ``names``'s alerts while the chat
    channel is down."""
    client = await start(two_channels(receiver.url, wait=wait), **more)
    receiver.down, receiver.down_on = 503, "/chat"
    await fire(client, names)
    return client


def paged(receiver: WebhookReceiver) -> list[int]:
    """The tiers of the notices that reached the pager channel, in order."""
    return [receiver.json(i)["tier"] for i, r in enumerate(receiver.requests) if r.path == "/pager"]


async def fire(client: Any, names: list[str]) -> None:
    for name in names:
        response = await client.post(
            "/webhook", json=webhook(alert(name), group_key=name), headers=HOOK
        )
        assert response.status == 200


ALERTS = [f"A{i:03}" for i in range(200)]
# Real seconds a step of the clock may take when it sends hundreds of notices on a busy machine.
SLOW = 120.0


async def test_after_a_5s_outage_of_tier_1s_channel_200_alerts_hear_tier_1_first(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # Tier 1's channel is down for 5 s: its notices fail, its breaker opens for a minute,
    # while tier 2's timers fall due 2 s in. Tier 2 pages through another channel, which is
    # up: each page waits behind its alert's tier 1 notice, and goes out once that is
    # delivered, when the breaker's probes find chat back (all of them then, not a cool-down
    # later for those that met the probes out).
    await chat_down(start, receiver, ALERTS)
    await manual_clock.advance(timedelta(seconds=5), within=SLOW)
    assert paged(receiver) == []
    receiver.down = None
    back = len(receiver.requests)
    await manual_clock.advance(timedelta(seconds=60), within=SLOW)
    assert delivered(receiver, back) == {name: [0, 1] for name in ALERTS}


async def test_a_restart_during_the_outage_keeps_tiers_in_order_and_pages_once(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    first = await chat_down(start, receiver, ALERTS, owner="first")
    await manual_clock.advance(timedelta(seconds=3), within=SLOW)  # tier 2 is due, and waiting
    manual_clock.forget(first.app)
    await first.close()
    second = await start(two_channels(receiver.url), owner="second")
    await manual_clock.advance(timedelta(seconds=2), within=SLOW)
    receiver.down = None
    back = len(receiver.requests)
    await manual_clock.advance(timedelta(minutes=5), within=SLOW)
    assert delivered(receiver, back) == {name: [0, 1] for name in ALERTS}
    pages = {r.headers["X-Firebreak-Idempotency-Key"] for r in receiver.requests[back:]}
    assert len(pages) == 2 * len(ALERTS)  # each tier's notice of each alert, none twice
    await second.close()


async def test_a_notice_whose_worker_died_holds_the_next_tier_until_it_is_sent_again(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # Tier 1's notice was claimed by a worker that died before it could record anything (its
    # lease, 30 s, still runs): tier 2 falls due meanwhile and waits behind it; once the lease
    # runs out the notice is claimed again and sent, and tier 2 goes out after it.
    client = await chat_down(start, receiver, ["A"])
    await manual_clock.settle()  # its first send failed: it waits for its retry
    async with client.app[STORE].transaction() as conn:
        crashed = await conn.execute(
            update(tables.jobs)
            .where(tables.jobs.c.kind == "notify", tables.jobs.c.state == "pending")
            .values(
                state="running",
                lease_owner="crashed",
                lease_expires_at=manual_clock() + timedelta(seconds=30),
            )
        )
        assert crashed.rowcount == 1
    receiver.down = None
    back = len(receiver.requests)
    await manual_clock.advance(timedelta(seconds=29))
    assert receiver.requests[back:] == []  # tier 2 fell due at 2 s, and waits
    await manual_clock.advance(timedelta(seconds=5))
    assert [
        (r.path, receiver.json(back + i)["tier"]) for i, r in enumerate(receiver.requests[back:])
    ] == [
        ("/chat", 0),
        ("/pager", 1),
    ]


async def test_a_dead_channel_holds_the_next_tier_back_for_tier_order_wait_at_most(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    await chat_down(start, receiver, ["A"], wait="1m")
    await manual_clock.advance(timedelta(seconds=2 + 59))
    assert paged(receiver) == []
    await manual_clock.advance(timedelta(seconds=1))  # tier 2's due time + tier_order_wait
    assert paged(receiver) == [1]


async def test_with_tier_order_wait_0s_the_next_tier_does_not_wait_for_another_channel(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    await chat_down(start, receiver, ["A"], wait="0s")
    await manual_clock.advance(timedelta(seconds=2))
    assert paged(receiver) == [1]
