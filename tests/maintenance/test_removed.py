"""A window taken out of the configuration file by a reload releases what it held at the
reload, not at its planned end: a held alert escalates at once, an escalating one's waiting
tier is sent at once, and one another window still covers stays held. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.config import load_config
from tests.api.test_escalation import escalation_config
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as fake:
        yield fake


def _window(name: str, match: str, clock: ManualClock, minutes: int) -> str:
    return f"""
  - name: {name}
    match: '{match}'
    reason: upgrade
    owner: alice
    start: "{format_rfc3339(clock())}"
    end: "{format_rfc3339(clock() + timedelta(minutes=minutes))}"
"""


def _sent(receiver: WebhookReceiver) -> list[str]:
    return [
        a["labels"]["alertname"]
        for i in range(len(receiver.requests))
        for a in receiver.json(i)["alerts"]
    ]


async def _held_by(client: Any) -> dict[str, str | None]:
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    return {
        a["labels"]["alertname"]: (a["held_by"] or {}).get("window")
        for a in (await resp.json())["alerts"]
    }


async def test_a_window_taken_out_of_the_file_releases_what_it_held_at_the_reload(
    on_clock: Any,
    tmp_path: Path,
    db_url: str,
    receiver: WebhookReceiver,
    manual_clock: ManualClock,
) -> None:
    path = tmp_path / "firebreak.yml"
    base = config_text(
        db_url, escalation_config(receiver.url, tier2_after="60s", group_window="0s")
    )
    path.write_text(base)
    client = await on_clock(load_config(str(path)), config_path=str(path))

    async def reload(text: str) -> None:
        path.write_text(base + text)
        resp = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
        assert resp.status == 200, await resp.text()
        await manual_clock.settle()

    hook = auth(WEBHOOK_TOKEN)
    await client.post("/webhook", json=webhook(alert("Early")), headers=hook)
    await manual_clock.settle()
    assert _sent(receiver) == ["Early"]  # tier 1, before any window
    upgrade = _window("db-upgrade", 'service="checkout"', manual_clock, 30)
    other = _window("other", 'alertname="Covered"', manual_clock, 20)
    await reload("maintenance:" + upgrade + other)
    await client.post("/webhook", json=webhook(alert("Held")), headers=hook)
    await client.post("/webhook", json=webhook(alert("Covered")), headers=hook)
    await manual_clock.advance(timedelta(minutes=2))  # Early's tier 2 waits for the window
    assert _sent(receiver) == ["Early"]
    assert await _held_by(client) == {
        "Early": "db-upgrade",
        "Held": "db-upgrade",
        "Covered": "db-upgrade",
    }

    await reload("maintenance:" + other)  # db-upgrade taken out, 28 minutes early
    assert sorted(_sent(receiver)) == ["Early", "Early", "Held"]
    assert await _held_by(client) == {"Early": None, "Held": None, "Covered": "other"}
    listed = await (await client.get("/api/v1/maintenance", headers=auth(VIEWER_TOKEN))).json()
    assert [w["name"] for w in listed["windows"]] == ["other"]

    # The other window releases what it holds at its own end; the removed one's planned end
    # brings nothing more (Early's and Held's next tiers are their own timers, a minute on).
    await manual_clock.advance(timedelta(minutes=19))
    assert sorted(set(_sent(receiver))) == ["Covered", "Early", "Held"]
    before = len(receiver.requests)
    await manual_clock.advance(timedelta(minutes=10))
    assert len(receiver.requests) == before


async def test_a_window_taken_out_while_stopped_releases_what_it_held_at_the_start(
    on_clock: Any,
    tmp_path: Path,
    db_url: str,
    receiver: WebhookReceiver,
    manual_clock: ManualClock,
) -> None:
    path = tmp_path / "firebreak.yml"
    base = config_text(db_url, escalation_config(receiver.url, group_window="0s"))
    path.write_text(
        base + "maintenance:" + _window("db-upgrade", 'service="checkout"', manual_clock, 30)
    )
    first = await on_clock(load_config(str(path)), config_path=str(path), owner="first")
    await first.post("/webhook", json=webhook(alert("Held")), headers=auth(WEBHOOK_TOKEN))
    await manual_clock.settle()
    assert _sent(receiver) == []
    manual_clock.forget(first.app)
    await first.close()
    path.write_text(base)  # taken out while stopped
    second = await on_clock(load_config(str(path)), config_path=str(path), owner="second")
    await manual_clock.settle()
    assert _sent(receiver) == ["Held"]
    assert await _held_by(second) == {"Held": None}
