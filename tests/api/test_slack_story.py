"""The whole Slack story read from the fake's record: an alert posted, escalated in its thread,
a refused button press from a viewer, an acknowledgement by a responder (message updated),
the resolve by webhook (updated once more) — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.notify.slack.blocks import ACTION_ACK, ACTION_RESOLVE
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import ALICE, VIEWER, block_text, buttons, press, slack_config

HOOK = auth(WEBHOOK_TOKEN)


async def _detail(client: Any, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


def _resolve_jobs_done(client: Any) -> Any:
    async def check() -> bool:
        resp = await client.get("/api/v1/jobs?kind=notify&limit=100", headers=auth(VIEWER_TOKEN))
        jobs = (await resp.json())["jobs"]
        resolved = [j for j in jobs if j["payload"]["notice"] == "resolved"]
        return len(resolved) == 2 and all(j["state"] == "done" for j in resolved)

    return check


async def test_alert_story_in_slack(
    aiohttp_client: Any, db_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(db_url, slack_config(slack, tier2_after="1s"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))

    notes = {"summary": "disk 91% full", "runbook_url": "https://runbooks.example.com/disk"}
    firing = alert("DiskFull", labels={"service": "db"}, annotations=notes)
    await client.post("/webhook", json=webhook(firing), headers=HOOK)

    # 1. Posted, with what a responder needs and the buttons.
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="alert posted")
    text = block_text(parent.blocks)
    assert "DiskFull" in text and "critical" in text and "disk 91% full" in text
    assert "`service=db`" in text and "Started " in text
    assert "<https://runbooks.example.com/disk|Runbook>" in text
    assert buttons(parent.blocks) == ["Acknowledge", "Resolve"]

    # 2. Tier 2 reaches the same channel: a reply in the thread, and the message updated.
    [note] = await eventually(lambda: slack.thread(CHANNEL, parent.ts), what="tier 2 in thread")
    assert "Escalated: oncall tier 2" in note.text
    # The message may be edited more than once on its way (the first edit can come before
    # tier 2's is recorded): what it comes to say is what counts.
    await eventually(
        lambda: "tier 2" in block_text(parent.blocks), what="message updated for tier 2"
    )
    assert parent.edits >= 1

    # 3. A viewer presses Acknowledge: refused, privately, and it is in the history.
    resp = await press(client, slack, parent, ACTION_ACK, VIEWER)
    assert resp.status == 200
    refusal = await eventually(lambda: slack.called("chat.postEphemeral"), what="refusal")
    assert refusal[0].args["user"] == VIEWER[0]
    assert "needs the responder role" in refusal[0].args["text"]
    alert_id = int(parent.blocks[-1]["elements"][0]["value"])
    events = (await _detail(client, alert_id))["events"]
    refused = [e for e in events if e["kind"] == "refused"]
    assert refused and refused[0]["actor"] == "slack:victor (U0VIEWER)"
    assert (await _detail(client, alert_id))["acknowledged_at"] is None

    # 4. A responder presses it: acknowledged, and the message says so.
    edits = parent.edits
    resp = await press(client, slack, parent, ACTION_ACK, ALICE)
    assert resp.status == 200
    await eventually(lambda: parent.edits > edits, what="message updated for the ack")
    assert "Acknowledged by alice (U0ALICE)" in block_text(parent.blocks)
    assert "oncall tier 2" in block_text(parent.blocks)
    assert buttons(parent.blocks) == ["Resolve"]
    detail = await _detail(client, alert_id)
    assert detail["acknowledged_by"] == "alice (U0ALICE)"
    acked = [e for e in detail["events"] if e["kind"] == "acknowledged"]
    assert acked[0]["actor"] == "slack:alice (U0ALICE)"

    # 5. Alertmanager resolves it: the message is updated once more, and the thread says so.
    edits = parent.edits
    resolved = alert("DiskFull", status="resolved", labels={"service": "db"}, annotations=notes)
    await client.post("/webhook", json=webhook(resolved), headers=HOOK)
    await eventually(lambda: "RESOLVED" in parent.text, what="message updated for the resolve")
    assert parent.edits > edits
    assert buttons(parent.blocks) == []
    await eventually(lambda: len(slack.thread(CHANNEL, parent.ts)) == 2, what="resolve note")
    # Both tiers told this Slack channel (once by default, once by id): still one note.
    await eventually(_resolve_jobs_done(client), what="resolved notices sent")
    assert len(slack.thread(CHANNEL, parent.ts)) == 2

    # The fake's record tells it in order, with no second top-level post.
    story = slack.story()
    posts = [line for line in story if line.startswith("chat.postMessage")]
    assert len(posts) == 3  # the alert, the tier 2 note, the resolved note
    assert story.index(next(s for s in story if "Escalated" in s)) < story.index(
        next(s for s in story if s.startswith("chat.postEphemeral"))
    )
    assert len(slack.top_messages(CHANNEL)) == 1


async def test_resolve_button_resolves_and_updates(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(sqlite_url, slack_config(slack, tier2_after="1h"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    await client.post("/webhook", json=webhook(alert("HighLatency")), headers=HOOK)
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="alert posted")

    resp = await press(client, slack, parent, ACTION_RESOLVE, ALICE)
    assert resp.status == 200
    await eventually(lambda: "RESOLVED" in parent.text, what="message shows the resolve")
    assert "Resolved by alice (U0ALICE)" in block_text(parent.blocks)
    alert_id = (
        int(parent.blocks[-1]["elements"][0]["value"])
        if parent.blocks[-1].get("elements")
        else None
    )
    resp = await client.get("/api/v1/alerts?status=resolved", headers=auth(VIEWER_TOKEN))
    [stored] = (await resp.json())["alerts"]
    assert stored["resolved_by"] == "alice (U0ALICE)"
    assert alert_id is None  # a resolved message has no buttons left
