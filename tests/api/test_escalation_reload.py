"""A reload and an escalation in flight: the chain is frozen when escalation starts, so a page
already under way keeps its delays and targets when a reload edits or removes its policy; a
target whose channel is gone is skipped and counted; alerts that arrive after the reload
follow the new configuration. Time is a clock the test moves; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import load_config
from receiver.typedefs import RUNNER
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text, eventually
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

JOBS = """
jobs: {workers: 2, lease: 30s, max_attempts: 3, backoff_initial: 100ms, backoff_max: 200ms,
       poll_interval: 100ms}
"""


class ManualClock:
    """The application's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def chain(hook: str, backup: str, *, tier3_after: str = "60s", with_backup: bool = True) -> str:
    """Policy ``oncall``: tier 1 pages ``hook`` at once, tier 2 pages ``hook?tier=2`` (and the
    ``backup`` channel) a minute later, tier 3 pages ``hook?tier=3`` ``tier3_after`` after."""
    backup_channel = f'  backup: {{type: webhook, webhook: {{url: "{backup}"}}}}\n'
    targets = f'{{channel: hook, target: "{hook}?tier=2"}}'
    if with_backup:
        targets += ', {channel: backup, target: ""}'
    return f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{hook}"}}}}
{backup_channel if with_backup else ""}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: ""}}]}}
      - {{after: 60s, notify: [{targets}]}}
      - {{after: {tier3_after}, notify: [{{channel: hook, target: "{hook}?tier=3"}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
"""


def daytime(hook: str, backup: str) -> str:
    """Policy ``oncall`` gone: every alert goes to ``daytime``, which pages ``hook?daytime``."""
    return f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{hook}"}}}}
  backup: {{type: webhook, webhook: {{url: "{backup}"}}}}
escalation_policies:
  daytime:
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: "{hook}?daytime"}}]}}
routes:
  - {{name: all, escalation_policy: daytime}}
"""


@dataclass
class InFlight:
    """The application on ``chain``, its configuration file, its clock, and the receivers of
    the ``hook`` and ``backup`` channels."""

    client: Any
    path: Path
    db_url: str
    clock: ManualClock
    hook: WebhookReceiver
    backup: WebhookReceiver

    async def fire(self, name: str) -> None:
        body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        resp = await self.client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200

    async def reload(self, extra: str) -> None:
        """Rewrite the configuration file and ``POST /-/reload``."""
        self.path.write_text(config_text(self.db_url, JOBS + extra))
        resp = await self.client.post("/-/reload", headers=auth(ADMIN_TOKEN))
        assert resp.status == 200, await resp.text()

    async def later(self, seconds: float) -> None:
        """Time passes; the runner looks for what fell due."""
        self.clock.advance(seconds)
        self.client.app[RUNNER].wake()

    def pages(self) -> list[tuple[str, str]]:
        """(path, alert name) of every firing notice ``hook`` received, in order."""
        found = []
        for i, request in enumerate(self.hook.requests):
            body = self.hook.json(i)
            if body["kind"] == "firing":
                found += [(request.path, a["labels"]["alertname"]) for a in body["alerts"]]
        return found


@pytest.fixture
async def backup() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as found:
        yield found


@pytest.fixture
async def in_flight(
    aiohttp_client: Any,
    tmp_path: Path,
    db_url: str,
    receiver: WebhookReceiver,
    backup: WebhookReceiver,
) -> InFlight:
    """Alert A escalating on ``chain``: tier 1 paged, tier 2 a minute away."""
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, JOBS + chain(receiver.url, backup.url)))
    clock = ManualClock()
    app = create_app(
        load_config(str(path)), clock=clock, registry=CollectorRegistry(), config_path=str(path)
    )
    found = InFlight(await aiohttp_client(app), path, db_url, clock, receiver, backup)
    await found.fire("A")
    await eventually(lambda: found.pages() == [("/hook", "A")])
    return found


async def settled() -> None:
    """A moment for anything wrongly due to go out."""
    await asyncio.sleep(0.3)


async def test_an_edited_delay_leaves_the_escalation_in_flight_on_its_own(
    in_flight: InFlight,
) -> None:
    await in_flight.reload(chain(in_flight.hook.url, in_flight.backup.url, tier3_after="10m"))
    await in_flight.fire("B")  # escalates by the new configuration
    await eventually(lambda: len(in_flight.pages()) == 2)

    await in_flight.later(61)
    await eventually(lambda: len(in_flight.pages()) == 4, what="tier 2 of A and B")
    await in_flight.later(61)
    await eventually(lambda: ("/hook?tier=3", "A") in in_flight.pages(), what="A's tier 3")
    await settled()
    assert ("/hook?tier=3", "B") not in in_flight.pages()  # B waits its new ten minutes

    await in_flight.later(10 * 60)
    await eventually(lambda: ("/hook?tier=3", "B") in in_flight.pages(), what="B's tier 3")
    assert sorted(in_flight.pages()[2:4]) == [("/hook?tier=2", "A"), ("/hook?tier=2", "B")]
    assert in_flight.pages()[4:] == [("/hook?tier=3", "A"), ("/hook?tier=3", "B")]


async def test_a_removed_policy_still_ends_the_escalations_it_started(
    in_flight: InFlight,
) -> None:
    await in_flight.reload(daytime(in_flight.hook.url, in_flight.backup.url))
    await in_flight.fire("B")
    await eventually(lambda: ("/hook?daytime", "B") in in_flight.pages(), what="B by daytime")

    await in_flight.later(61)
    await eventually(lambda: ("/hook?tier=2", "A") in in_flight.pages(), what="A's tier 2")
    await eventually(lambda: len(in_flight.backup.requests) == 1, what="A's tier 2 on backup")
    assert (
        in_flight.backup.json()["escalation_policy"] == "oncall"
        and in_flight.backup.json()["tier"] == 1
    )
    await settled()
    assert in_flight.pages() == [("/hook", "A"), ("/hook?daytime", "B"), ("/hook?tier=2", "A")]


async def test_a_target_on_a_removed_channel_is_skipped_counted_and_noted(
    in_flight: InFlight,
) -> None:
    await in_flight.reload(chain(in_flight.hook.url, in_flight.backup.url, with_backup=False))
    await in_flight.later(61)
    await eventually(lambda: ("/hook?tier=2", "A") in in_flight.pages(), what="A's tier 2")
    await settled()
    assert in_flight.backup.requests == []

    metrics = await (await in_flight.client.get("/metrics", headers=auth(ADMIN_TOKEN))).text()
    assert (
        'firebreak_notifications_total{channel="backup",kind="firing",outcome="skipped"} 1.0'
        in metrics
    )
    alert_id = in_flight.hook.json(0)["alerts"][0]["id"]
    resp = await in_flight.client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    notes = [e["note"] for e in (await resp.json())["events"] if e["kind"] == "escalated"]
    assert notes == [
        "oncall tier 1",
        "oncall tier 2; skipped backup (channel no longer configured)",
    ]
