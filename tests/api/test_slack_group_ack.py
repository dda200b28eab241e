"""The Acknowledge button of a group's Slack message acknowledges every alert it names at once:
one guarded UPDATE, one INSERT of their history, one job telling the channels (so the message
is updated once, not once per alert) and one INSERT of their audit rows; each alert still gets
its own event and audit entry, and one that could not be acknowledged is named to the presser.
On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from receiver.app import create_app
from receiver.notify.slack.blocks import ACTION_ACK
from receiver.store.tables import alert_events, alerts, jobs
from receiver.typedefs import STORE
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, Message, SlackFake, block_actions, signed_headers
from tests.payloads import alert, webhook
from tests.slack_helpers import ALICE, SIGNING_SECRET, slack_config
from tests.statements import writes

HOOK = auth(WEBHOOK_TOKEN)
GROUP = 6


async def _press(client: Any, slack: SlackFake, message: Message, request_id: str) -> None:
    body = block_actions(
        message, ACTION_ACK, user_id=ALICE[0], user_name=ALICE[1], response_url=slack.response_url()
    )
    headers = {**signed_headers(SIGNING_SECRET, body), "X-Request-ID": request_id}
    resp = await client.post("/slack/events", data=body, headers=headers)
    assert resp.status == 200, await resp.text()


async def _settled(client: Any) -> bool:
    """Whether every job due by now (or in a retry's few seconds) has run, the notices that
    update the message among them; tier 2 is an hour away, the hourly purge its own."""
    soon = datetime.now(UTC) + timedelta(seconds=5)
    async with client.app[STORE].engine.connect() as conn:
        waiting = await conn.execute(
            select(func.count()).where(
                jobs.c.state.in_(["pending", "running"]), jobs.c.due_at < soon
            )
        )
        return waiting.scalar_one() == 0


async def test_a_groups_acknowledge_button_is_one_statement_one_job_and_one_update(
    aiohttp_client: Any, db_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(db_url, slack_config(slack, tier2_after="1h"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    firing = [alert("DiskFull", labels={"instance": f"db-{n}"}) for n in range(GROUP)]
    resp = await client.post("/webhook", json=webhook(*firing), headers=HOOK)
    assert resp.status == 200
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="the group posted")
    ids = [int(i) for i in parent.blocks[-1]["elements"][0]["value"].split(",")]
    assert len(ids) == GROUP
    old_copy = copy.deepcopy(parent)  # what another screen still shows after the updates

    # Meanwhile one is acknowledged by someone else and one resolved, through the API.
    other, resolved = ids[0], ids[1]
    for path in (f"{other}/acknowledge", f"{resolved}/resolve"):
        resp = await client.post(f"/api/v1/alerts/{path}", json={}, headers=auth(ADMIN_TOKEN))
        assert resp.status == 200, await resp.text()
    await eventually(lambda: parent.edits > 0, what="the message updated for those")
    await eventually(lambda: _settled(client), what="their jobs done")
    edits = parent.edits

    async def audited() -> list[dict[str, Any]]:
        resp = await client.get("/api/v1/audit?action=ack&limit=100", headers=auth(ADMIN_TOKEN))
        return [e for e in (await resp.json())["entries"] if e["interface"] == "slack"]

    with writes(client, "group-ack") as written:
        await _press(client, slack, old_copy, "group-ack")
        [reply] = await eventually(lambda: slack.called("chat.postEphemeral"), what="the answer")
        # The audit rows are written in the background, after the answer.
        entries = await eventually(
            lambda: _all_there(audited, GROUP), what="an audit entry for each alert"
        )
    assert reply.args["user"] == ALICE[0]
    assert reply.args["text"] == (
        f"Could not ack: alert {resolved} is resolved; there is nothing to acknowledge."
    )
    acknowledged = ids[2:]

    # Every alert as it now is: acknowledged by alice, but the one someone else had first.
    async with client.app[STORE].engine.connect() as conn:
        rows = dict((await conn.execute(select(alerts.c.id, alerts.c.acknowledged_by))).all())
        events = (
            await conn.execute(
                select(alert_events.c.alert_id).where(
                    alert_events.c.kind == "acknowledged",
                    alert_events.c.actor == "slack:alice (U0ALICE)",
                )
            )
        ).all()
        ack_jobs = (
            await conn.execute(select(jobs.c.payload).where(jobs.c.kind == "acknowledge"))
        ).all()
    assert sorted(i for i, who in rows.items() if who == "alice (U0ALICE)") == acknowledged
    assert rows[other] != "alice (U0ALICE)" and rows[resolved] is None
    assert sorted(alert_id for (alert_id,) in events) == acknowledged
    # One job for the press (the API's acknowledgement had one of its own).
    assert [sorted(p["alert_ids"]) for (p,) in ack_jobs if p["alert_ids"] != [other]] == [
        acknowledged
    ]

    # An audit entry for each alert the button named; the rows written as one INSERT.
    outcomes = {int(e["target"]): e["outcome"] for e in entries}
    assert outcomes == {i: "failed" if i == resolved else "ok" for i in ids}
    assert {e["actor"] for e in entries} == {"alice (U0ALICE)"}
    assert sorted(written) == [
        "INSERT INTO ALERT_EVENTS",
        "INSERT INTO AUDIT_LOG",
        "INSERT INTO JOBS",
        "INSERT INTO SLACK_REQUESTS",  # the signed request, taken once (replays are refused)
        "UPDATE ALERTS SET",
    ]

    # The message is updated once for all of them, and shows it.
    await eventually(lambda: parent.edits > edits, what="message updated")
    await eventually(lambda: _settled(client), what="the press's jobs done")
    assert parent.edits == edits + 1
    assert "alice" in str(parent.blocks)


async def _all_there(entries: Any, count: int) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await entries()
    return found if len(found) == count else None


async def test_a_forged_button_value_acknowledges_each_real_alert_once_and_names_the_rest(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    """Signed by Slack but not ours to trust: the value repeats an alert and names one that
    does not exist, with hostile text around; each real alert is acknowledged once."""
    config = make_config(sqlite_url, slack_config(slack, tier2_after="1h"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    firing = [alert("DiskFull", labels={"instance": f"db-{n}"}) for n in range(2)]
    assert (await client.post("/webhook", json=webhook(*firing), headers=HOOK)).status == 200
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="the group posted")
    first, second = (int(i) for i in parent.blocks[-1]["elements"][0]["value"].split(","))
    missing = second + 1000
    forged = copy.deepcopy(parent)
    forged.blocks[-1]["elements"][0]["value"] = f"{first},{second},{first},{missing}"
    await _press(client, slack, forged, "forged-ack")
    [reply] = await eventually(lambda: slack.called("chat.postEphemeral"), what="the answer")
    assert reply.args["text"] == f"Could not ack: alert {missing} does not exist."
    events = await _alert_ids_with(client, "acknowledged")
    assert sorted(events) == [first, second]

    # Not a list of ids at all: refused as a button Firebreak does not know, nothing changes.
    for value in ("1;DROP TABLE alerts", "<!channel>", "9" * 400, ""):
        forged.blocks[-1]["elements"][0]["value"] = value
        before = len(slack.called("chat.postEphemeral"))
        await _press(client, slack, forged, f"forged-{len(value)}")
        answers = await eventually(
            lambda n=before: (
                len(slack.called("chat.postEphemeral")) > n and slack.called("chat.postEphemeral")
            ),
            what="the refusal",
        )
        assert "not one Firebreak knows" in answers[-1].args["text"]
    assert sorted(await _alert_ids_with(client, "acknowledged")) == [first, second]


async def _alert_ids_with(client: Any, kind: str) -> list[int]:
    async with client.app[STORE].engine.connect() as conn:
        rows = await conn.execute(
            select(alert_events.c.alert_id).where(alert_events.c.kind == kind)
        )
        return [alert_id for (alert_id,) in rows]
