"""The open windows are kept in memory between turns: a window made or ended through the API
counts from the next webhook on, and one made or ended by another process (the CLI) once the
table is read again, a second later at most. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.alertmanager import format_rfc3339
from receiver.cli import main
from receiver.maintenance import REREAD
from tests.api.test_escalation import escalation_config
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
RESPONDER = auth(RESPONDER_TOKEN)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
def extra(receiver: WebhookReceiver) -> str:
    return escalation_config(receiver.url, tier2_after="1h", group_window="0s")


@pytest.fixture
async def client(db_url: str, make_config: Any, on_clock: Any, extra: str) -> Any:
    return await on_clock(make_config(db_url, extra))


def _paged(receiver: WebhookReceiver) -> list[str]:
    return [
        a["labels"]["alertname"]
        for i in range(len(receiver.requests))
        for a in receiver.json(i)["alerts"]
    ]


async def _fire(client: Any, clock: ManualClock, name: str) -> None:
    resp = await client.post("/webhook", json=webhook(alert(name), group_key=name), headers=HOOK)
    assert resp.status == 200
    await clock.settle()


async def test_a_window_made_or_ended_through_the_api_counts_from_the_next_webhook(
    client: Any, receiver: WebhookReceiver, manual_clock: ManualClock
) -> None:
    # Routed with no window about: what is kept in memory is "none".
    await _fire(client, manual_clock, "Before")
    body = {"name": "w", "matchers": ['alertname=~"During.*"'], "reason": "r", "owner": "o"}
    made = await client.post(
        "/api/v1/maintenance", json={**body, "duration": "1h"}, headers=RESPONDER
    )
    assert made.status == 201
    await _fire(client, manual_clock, "During")  # no time has passed: only the change tells
    assert _paged(receiver) == ["Before"]
    assert (await client.delete("/api/v1/maintenance/w", headers=RESPONDER)).status == 200
    await manual_clock.settle()  # "During" is released at once
    await _fire(client, manual_clock, "DuringToo")
    assert _paged(receiver) == ["Before", "During", "DuringToo"]


async def test_a_window_made_and_ended_by_the_cli_counts_once_the_table_is_read_again(
    client: Any,
    receiver: WebhookReceiver,
    manual_clock: ManualClock,
    db_url: str,
    extra: str,
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "cli.yml"
    config_file.write_text(config_text(db_url, extra))
    await _fire(client, manual_clock, "Before")

    def cli(*args: str) -> int:
        return main([*args, "--config", str(config_file)])

    start = format_rfc3339(manual_clock())
    made = await asyncio.to_thread(
        cli, "maintenance", "create", "w", "--match", 'alertname=~"During.*"',
        "--reason", "r", "--start", start, "--for", "1h",
    )  # fmt: skip
    assert made == 0
    await manual_clock.advance(timedelta(seconds=REREAD))
    await _fire(client, manual_clock, "During")
    assert _paged(receiver) == ["Before"]

    assert await asyncio.to_thread(cli, "maintenance", "end", "w") == 0
    # Past the read again, and past the CLI's "now" (its clock is the wall's), for which its
    # end made the held alert's release due: a window ended elsewhere holds nothing back.
    await manual_clock.advance(timedelta(minutes=1))
    await _fire(client, manual_clock, "DuringToo")
    assert sorted(_paged(receiver)) == ["Before", "During", "DuringToo"]
