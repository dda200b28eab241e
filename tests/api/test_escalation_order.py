"""Tiers in order: for one alert and one channel, a later tier's notice never reaches the
channel before an earlier tier's notice that is still on its way (retried, or waiting behind a
breaker), also after an outage; an earlier notice that is dead-lettered stops holding the later
one back. Observed at a real webhook receiver, on the manual clock; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from receiver.app import create_app
from receiver.store import tables
from receiver.typedefs import STORE
from tests.api.test_escalation import HOOK
from tests.clock import ManualClock
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook


def config(url: str, *, tier2_after: str, threshold: int, cooldown: str, backoff: str) -> str:
    """Policy ``oncall``: tier 1 pages the receiver at once, tier 2 pages it again (another
    target on the same channel, so behind its own breaker) ``tier2_after`` later."""
    return f"""
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 1s}}
    breaker: {{failure_threshold: {threshold}, open_cooldown: {cooldown}, half_open_probe_count: 1}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: ""}}]}}
      - {{after: {tier2_after}, notify: [{{channel: hook, target: "{url}?tier=2"}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{workers: 4, lease: 30s, max_attempts: 6, backoff_initial: {backoff}, backoff_max: 1m,
        poll_interval: 200ms}}
"""


@pytest.fixture
def start(
    aiohttp_client: Any, make_config: Any, db_url: str, manual_clock: ManualClock
) -> Callable[..., Awaitable[Any]]:
    """Start an application on the test's database and the manual clock, with ``config``."""

    async def run(**settings: Any) -> Any:
        app = create_app(
            make_config(db_url, config(**settings)),
            clock=manual_clock,
            monotonic=manual_clock.monotonic,
            registry=CollectorRegistry(),
        )
        client = await aiohttp_client(app)
        manual_clock.watch(app)
        return client

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
