"""Snoozing many alerts at once from the alerts page brings each Slack message about them up to
date once, as acknowledging a group does: one job for the snooze, one ``chat.update`` per
message however many of its alerts were snoozed. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from receiver.app import create_app
from receiver.store.tables import jobs
from receiver.typedefs import STORE
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.console.conftest import login
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import slack_config

GROUPS = {"DiskFull": 6, "HighLatency": 2}


async def _settled(client: Any) -> bool:
    """Whether every job due by now (or in a retry's few seconds) has run; tier 2 is an hour
    away, the hourly purge its own."""
    soon = datetime.now(UTC) + timedelta(seconds=5)
    async with client.app[STORE].engine.connect() as conn:
        waiting = await conn.execute(
            select(func.count()).where(
                jobs.c.state.in_(["pending", "running"]), jobs.c.due_at < soon
            )
        )
        return waiting.scalar_one() == 0


async def test_a_bulk_snooze_updates_each_slack_message_once(
    aiohttp_client: Any, db_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(db_url, slack_config(slack, tier2_after="1h"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    for name, count in GROUPS.items():
        firing = [alert(name, labels={"instance": f"db-{n}"}) for n in range(count)]
        resp = await client.post("/webhook", json=webhook(*firing), headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200
    messages = await eventually(
        lambda: len(slack.top_messages(CHANNEL)) == len(GROUPS) and slack.top_messages(CHANNEL),
        what="a message per group",
    )
    ids = [
        int(i)
        for message in messages
        for i in message.blocks[-1]["elements"][0]["value"].split(",")
    ]
    assert len(ids) == sum(GROUPS.values())
    await eventually(lambda: _settled(client), what="the pages' jobs done")
    edits = [m.edits for m in messages]
    calls = len(slack.calls)

    csrf = await login(client, RESPONDER_TOKEN)
    form = {"ids": " ".join(map(str, ids)), "action": "snooze", "for": "2h", "csrf_token": csrf}
    resp = await client.post("/console/alerts/bulk", data=form)
    assert resp.status == 200, await resp.text()
    await eventually(
        lambda: all(m.edits > e for m, e in zip(messages, edits, strict=True)),
        what="every message updated",
    )
    await eventually(lambda: _settled(client), what="the snooze's jobs done")

    assert [m.edits for m in messages] == [e + 1 for e in edits]
    assert [c.method for c in slack.calls[calls:]] == ["chat.update"] * len(GROUPS)
    assert all("snoozed" in str(m.blocks).lower() for m in messages)
    async with client.app[STORE].engine.connect() as conn:
        updates = (
            await conn.execute(select(jobs.c.payload).where(jobs.c.kind == "slack_update"))
        ).all()
    assert [sorted(p["alert_ids"]) for (p,) in updates] == [sorted(ids)]
