"""A captured Slack request sent again: refused within its timestamp window (409) by this
replica and after a restart too, changing nothing; refused by its timestamp after the window
(401); a changed body fails its signature (401). Only requests that verify are remembered, and
only for the window."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from receiver.app import create_app
from receiver.store.tables import slack_requests
from receiver.typedefs import STORE
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake, signed_headers, slash_command
from tests.payloads import alert, webhook
from tests.slack_helpers import ALICE, SIGNING_SECRET, slack_config


@pytest.fixture
def config(sqlite_url: str, make_config: Any, slack: SlackFake) -> Any:
    return make_config(sqlite_url, slack_config(slack, tier2_after="1h"))


async def _start(aiohttp_client: Any, config: Any) -> Any:
    return await aiohttp_client(create_app(config, registry=CollectorRegistry()))


async def _fire(client: Any) -> int:
    sent = await client.post(
        "/webhook", json=webhook(alert("DiskFull")), headers=auth(WEBHOOK_TOKEN)
    )
    assert sent.status == 200
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    return int((await resp.json())["alerts"][0]["id"])


def _ack(slack: SlackFake, alert_id: int, note: str) -> tuple[bytes, dict[str, str]]:
    """A signed ``ack`` with a note, as Slack sends it: the body and its headers."""
    body = slash_command(
        f"ack {alert_id} {note}",
        user_id=ALICE[0],
        user_name=ALICE[1],
        response_url=slack.response_url(),
    )
    return body, signed_headers(SIGNING_SECRET, body)


async def _notes(client: Any, alert_id: int) -> list[str]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    events = (await resp.json())["events"]
    return [e["note"] for e in events if e["kind"] in ("acknowledged", "note", "refused")]


async def _remembered(client: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(slack_requests))).scalar())


async def test_the_same_signed_request_sent_again_is_refused_and_changes_nothing(
    aiohttp_client: Any, config: Any, slack: SlackFake
) -> None:
    client = await _start(aiohttp_client, config)
    alert_id = await _fire(client)
    body, headers = _ack(slack, alert_id, "on it")
    first = await client.post("/slack/events", data=body, headers=headers)
    assert first.status == 200
    await eventually(lambda: slack.responses, what="the answer")
    notes = await _notes(client, alert_id)

    again = await client.post("/slack/events", data=body, headers=headers)
    assert again.status == 409
    error = (await again.json())["error"]
    assert "received before" in error
    assert await _notes(client, alert_id) == notes
    assert len(slack.responses) == 1
    assert await _remembered(client) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_http_requests_total{code="409",route="slack"} 1.0' in metrics


async def test_a_replay_with_another_body_fails_its_signature(
    aiohttp_client: Any, config: Any, slack: SlackFake
) -> None:
    client = await _start(aiohttp_client, config)
    alert_id = await _fire(client)
    body, headers = _ack(slack, alert_id, "on it")
    assert (await client.post("/slack/events", data=body, headers=headers)).status == 200
    changed = body.replace(b"on+it", b"<!here>+it")
    assert changed != body
    resp = await client.post("/slack/events", data=changed, headers=headers)
    assert resp.status == 401
    # Nor does a timestamp moved on to make it look like another request.
    moved = {**headers, "X-Slack-Request-Timestamp": str(int(time.time()) + 1)}
    assert (await client.post("/slack/events", data=body, headers=moved)).status == 401
    assert await _remembered(client) == 1


async def test_a_replay_after_a_restart_is_refused(
    aiohttp_client: Any, config: Any, slack: SlackFake
) -> None:
    first = await _start(aiohttp_client, config)
    alert_id = await _fire(first)
    body, headers = _ack(slack, alert_id, "on it")
    assert (await first.post("/slack/events", data=body, headers=headers)).status == 200
    await eventually(lambda: slack.responses, what="the answer")
    await first.close()

    second = await _start(aiohttp_client, config)
    notes = await _notes(second, alert_id)
    resp = await second.post("/slack/events", data=body, headers=headers)
    assert resp.status == 409
    assert await _notes(second, alert_id) == notes
    assert len(slack.responses) == 1


async def test_hostile_signatures_and_timestamps_are_refused_and_not_remembered(
    aiohttp_client: Any, config: Any, slack: SlackFake
) -> None:
    client = await _start(aiohttp_client, config)
    body, headers = _ack(slack, 1, "x")
    hostile = [
        {**headers, "X-Slack-Signature": "v0=" + "0" * 64},
        {**headers, "X-Slack-Signature": "v0=" + "a" * 4000},
        {**headers, "X-Slack-Request-Timestamp": "1e9"},
        {**headers, "X-Slack-Request-Timestamp": "9" * 400},
        {**headers, "X-Slack-Request-Timestamp": "-1"},
        {k: v for k, v in headers.items() if k != "X-Slack-Signature"},
    ]
    for forged in hostile:
        resp = await client.post("/slack/events", data=body, headers=forged)
        assert resp.status in (401, 429)  # 429 once the address has failed too often
    assert await _remembered(client) == 0


async def test_distinct_requests_are_each_taken_and_none_mistaken_for_a_replay(
    aiohttp_client: Any, config: Any, slack: SlackFake
) -> None:
    client = await _start(aiohttp_client, config)
    now = int(time.time())
    for n in range(20):
        body = slash_command(
            "help", user_id=ALICE[0], user_name=ALICE[1], response_url=slack.response_url()
        )
        # Same body at two timestamps: two requests, both Slack's.
        for ts in (now, now - 1):
            resp = await client.post(
                "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body, ts)
            )
            assert resp.status == 200, n
    assert await _remembered(client) == 40
