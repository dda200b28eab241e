"""A page raised by hand for someone (POST /api/v1/alerts with ``target``) pages whoever the
target resolves to now (the schedule's on-call, the person, the team's members) by Slack DM and
email, then escalates through the route's policy like any other alert. Sent twice at once it
raises one alert and one page; a page recorded before a crash is raised once when sent again;
and nothing from Alertmanager can pass for a page's target. Against the Slack fake and a real
SMTP server on the manual clock; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from receiver.model import ManualPage, PageTarget
from receiver.store.tables import alerts, manual_pages, pages
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.slack import CHANNEL
from tests.oncall.paging_setup import ALICE, BOB, Outside, detail, mail_to
from tests.payloads import alert, webhook

TIERS = "      - {after: 5m, notify: [chat]}"
ONCALL = """
teams:
  - {id: dba, name: Databases, members: [alice, bob]}
schedules:
  - id: primary
    name: Primary
    layers: [{members: [alice], shift: weekly, handoff: "09:00", start: "2026-01-05"}]
"""


def page(target: str, key: str = "db-down") -> dict[str, Any]:
    return {"key": key, "title": "Database down", "details": "Call the DBA.", "target": target}


async def raise_page(client: Any, body: dict[str, Any]) -> Any:
    return await client.post("/api/v1/alerts", json=body, headers=auth(RESPONDER_TOKEN))


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_page_for_a_schedule_pages_who_is_on_call_then_escalates(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    client = await outside.run(TIERS, ONCALL)
    resp = await raise_page(client, page("schedule:primary"))
    assert resp.status == 201
    raised = await resp.json()
    assert raised["annotations"]["target"] == "schedule:primary"
    await manual_clock.settle()
    [to_alice] = slack.direct_messages(ALICE)
    assert "Database down" in to_alice.text
    assert len(mail_to(smtp, "alice@example.com")) == 1
    assert slack.direct_messages(BOB) == [] and slack.top_messages(CHANNEL) == []
    shown = await detail(client, raised["id"])
    assert shown["manual_page"] == {
        "key": "db-down",
        "raised_by": "api:bob",
        "raised_at": raised["starts_at"],
        "target": "schedule:primary",
    }
    assert [(p["person"], p["via"], p["tier"]) for p in shown["pages"]] == [
        ("alice", "schedule:primary", 0)
    ]
    # Nobody acknowledges: the route's policy goes on as for any alert.
    await manual_clock.advance(timedelta(minutes=4, seconds=59))
    assert slack.top_messages(CHANNEL) == []
    await manual_clock.advance(timedelta(seconds=1))
    [posted] = slack.top_messages(CHANNEL)
    assert "Database down" in posted.text
    assert len(slack.direct_messages(ALICE)) == 1

    # Resolved by hand through the API: nothing escalates any more, and it is audited.
    done = await client.post(
        f"/api/v1/alerts/{raised['id']}/resolve",
        json={"note": "replica promoted"},
        headers=auth(RESPONDER_TOKEN),
    )
    assert done.status == 200 and (await done.json())["status"] == "resolved"
    await manual_clock.advance(timedelta(hours=1))
    assert len(slack.direct_messages(ALICE)) == 1 and len(slack.top_messages(CHANNEL)) == 1
    trail = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
    rows = [(e["action"], e["actor"], e["target"], e["outcome"]) for e in trail["entries"]]
    assert ("resolve", "bob", str(raised["id"]), "ok") in rows
    assert ("raise_alert", "bob", None, "ok") in rows


async def test_a_page_for_a_person_or_a_team_pages_them(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await outside.run(TIERS, ONCALL)
    assert (await raise_page(client, page("person:bob", "one"))).status == 201
    await manual_clock.settle()
    assert len(slack.direct_messages(BOB)) == 1 and slack.direct_messages(ALICE) == []
    # A bare id names the one target that has it.
    resp = await raise_page(client, page("dba", "two"))
    assert resp.status == 201
    assert (await resp.json())["annotations"]["target"] == "team:dba"
    # Bob's second message may wait out Slack's pacing (message_interval) for his DM channel.
    await manual_clock.advance(1)
    assert len(slack.direct_messages(ALICE)) == 1 and len(slack.direct_messages(BOB)) == 2


async def test_the_same_page_twice_at_once_raises_one_alert_and_one_page(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await outside.run(TIERS, ONCALL)
    body = page("schedule:primary")
    first, second = await asyncio.gather(raise_page(client, body), raise_page(client, body))
    assert sorted([first.status, second.status]) == [200, 201]
    assert (await first.json())["id"] == (await second.json())["id"]
    await manual_clock.settle()
    assert await count(client, alerts) == 1 and await count(client, manual_pages) == 1
    assert await count(client, pages) == 1
    assert len(slack.direct_messages(ALICE)) == 1


async def test_a_page_recorded_before_a_crash_is_raised_once_when_sent_again(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await outside.run(TIERS, ONCALL)
    # The page was recorded, then the process died before its alert was ingested.
    bob = PageTarget("person", "bob")
    recorded = ManualPage("db-down", "Database down", "", "critical", {}, bob)
    await client.app[STORE].claim_manual_page(recorded, "api:bob", manual_clock())
    assert await count(client, alerts) == 0
    resp = await raise_page(client, {**page("schedule:primary"), "title": "changed"})
    assert resp.status == 200  # recorded before: what was recorded then is raised
    shown = await resp.json()
    assert shown["labels"]["alertname"] == "Database down"
    assert shown["annotations"]["target"] == "person:bob"
    await manual_clock.settle()
    again = await raise_page(client, page("schedule:primary"))
    assert again.status == 200 and (await again.json())["id"] == shown["id"]
    await manual_clock.settle()
    assert len(slack.direct_messages(BOB)) == 1 and slack.direct_messages(ALICE) == []
    assert await count(client, alerts) == 1


async def test_nothing_from_alertmanager_passes_for_a_page_target(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await outside.run(TIERS, ONCALL)
    # A page recorded for bob. An Alertmanager alert claiming its fingerprint is refused whole;
    # one claiming the manual source and a target is escalated by its route alone.
    recorded = ManualPage("k", "Database down", "", "critical", {}, PageTarget("person", "bob"))
    await client.app[STORE].claim_manual_page(recorded, "api:bob", manual_clock())
    forged = alert(
        "Forged",
        labels={"firebreak_source": "manual"},
        annotations={"target": "person:bob", "raised_by": "api:bob"},
        fingerprint=recorded.fingerprint,
    )
    resp = await client.post("/webhook", json=webhook(forged), headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 400
    assert (await resp.json())["field"] == "alerts[0].fingerprint"
    assert await count(client, alerts) == 0
    forged["fingerprint"] = "0123456789abcdef"
    resp = await client.post("/webhook", json=webhook(forged), headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200
    await manual_clock.settle()
    assert slack.direct_messages(BOB) == [] and slack.direct_messages(ALICE) == []
    assert len(slack.top_messages(CHANNEL)) == 1
    assert await count(client, pages) == 0
    [row] = (await (await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))).json())["alerts"]
    assert (await detail(client, row["id"]))["manual_page"] is None
