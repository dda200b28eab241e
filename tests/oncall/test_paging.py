"""Escalation reaches people: a tier's ``person:`` entry pages the person by a Slack direct
message (the Slack fake) and an email (a real SMTP server on loopback), records who was paged,
when and by which tier (the alert's history, its JSON, the ``pages`` table), and does so once
through retries and a restart; a tier that pages nobody falls through at once. On the manual
clock; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from receiver.store import tables
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.console.conftest import login
from tests.fakes.pagerduty import FakePagerDuty, channel_yaml
from tests.fakes.slack import CHANNEL
from tests.oncall.paging_setup import (
    ALICE,
    BOB,
    Outside,
    detail,
    mail_to,
    only_alert,
)
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)

TWO_PEOPLE = """\
      - {after: 0s, notify: [chat, {person: alice}]}
      - {after: 5m, notify: [{person: bob}]}"""


async def _fire(client: Any, manual_clock: ManualClock, **labels: str) -> int:
    resp = await client.post(
        "/webhook", json=webhook(alert("DiskFull", labels=labels)), headers=HOOK
    )
    assert resp.status == 200
    await manual_clock.settle()
    return await only_alert(client)


async def test_person_paged_by_slack_dm_and_email_then_the_next_tier(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    client = await outside.run(TWO_PEOPLE)
    alert_id = await _fire(client, manual_clock)

    # Tier 1: the channel message, and Alice by a direct message and an email.
    assert len(slack.top_messages(CHANNEL)) == 1
    [dm] = slack.direct_messages(ALICE)
    assert "DiskFull" in dm.text
    [opened] = slack.called("conversations.open")
    assert opened.args["users"] == ALICE
    [mail] = mail_to(smtp, "alice@example.com")
    assert "DiskFull" in str(mail.message["Subject"])
    assert slack.direct_messages(BOB) == [] and mail_to(smtp, "bob@example.com") == []

    found = await detail(client, alert_id)
    [page] = found["pages"]
    assert page["person"] == "alice" and page["name"] == "Alice Ng"
    assert (page["tier"], page["via"], page["contacts"]) == (0, "person:alice", ["slack", "email"])
    paged = [e for e in found["events"] if e["kind"] == "paged"]
    assert [e["note"] for e in paged] == [
        "paged Alice Ng (alice) by oncall tier 1, through person:alice: Slack DM, email"
    ]
    targets = {(n["channel"], n["target"]) for n in found["notifications"]}
    assert {("chat", ALICE), ("mail", "alice@example.com")} <= targets

    # Nobody acknowledges: five minutes later, Bob, and not a second page to Alice.
    await manual_clock.advance(timedelta(minutes=4, seconds=59))
    assert slack.direct_messages(BOB) == []
    await manual_clock.advance(timedelta(seconds=1))
    assert len(slack.direct_messages(BOB)) == 1
    assert len(mail_to(smtp, "bob@example.com")) == 1
    assert len(slack.direct_messages(ALICE)) == 1 and len(mail_to(smtp, "alice@example.com")) == 1
    pages = (await detail(client, alert_id))["pages"]
    assert [(p["person"], p["tier"]) for p in pages] == [("alice", 0), ("bob", 1)]

    # The console's alert page says who was paged, by which tier, how.
    await login(client, VIEWER_TOKEN)
    page = await (await client.get(f"/console/alerts/{alert_id}")).text()
    people = page[page.index("People paged") :]
    assert "<td>Alice Ng</td><td>1</td><td>person:alice</td><td>slack, email</td>" in people
    assert "<td>Bob Ruiz</td><td>2</td><td>person:bob</td><td>slack, email</td>" in people


async def test_acknowledged_alert_pages_no_one_further(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    client = await outside.run(TWO_PEOPLE)
    alert_id = await _fire(client, manual_clock)
    resp = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    await manual_clock.advance(timedelta(minutes=10))
    assert slack.direct_messages(BOB) == [] and mail_to(smtp, "bob@example.com") == []
    assert [p["person"] for p in (await detail(client, alert_id))["pages"]] == ["alice"]
    # The direct message Alice got now says who acknowledged it.
    [dm] = slack.direct_messages(ALICE)
    assert dm.edits >= 1


async def test_a_failed_send_is_retried_and_pages_once(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    slack.fail("chat.postMessage", "internal_error", times=1, status=500)
    smtp.fail_data("451 4.3.0 Try again later")
    client = await outside.run(TWO_PEOPLE)
    alert_id = await _fire(client, manual_clock)
    await manual_clock.advance(timedelta(seconds=30))  # past the backoff of the retries
    assert len(slack.direct_messages(ALICE)) == 1
    assert len(mail_to(smtp, "alice@example.com")) == 1
    assert len((await detail(client, alert_id))["pages"]) == 1


async def test_restart_before_the_next_tier_pages_it_once(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    first = await outside.run(TWO_PEOPLE)
    alert_id = await _fire(first, manual_clock)
    manual_clock.forget(first.app)
    await first.close()  # the process stops with tier 2's timer pending

    second = await outside.run(TWO_PEOPLE)  # the same database
    await manual_clock.advance(timedelta(minutes=5))
    assert len(slack.direct_messages(BOB)) == 1 and len(mail_to(smtp, "bob@example.com")) == 1
    assert len(slack.direct_messages(ALICE)) == 1
    async with second.app[STORE].connection() as conn:
        rows = (await conn.execute(select(tables.pages.c.person, tables.pages.c.tier))).all()
    assert sorted(rows) == [("alice", 0), ("bob", 1)]
    assert alert_id == await only_alert(second)


async def test_a_tier_that_pages_nobody_falls_through_at_once(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    tiers = """\
      - {after: 0s, notify: [{person: mute}]}
      - {after: 10m, notify: [{person: bob}]}"""
    client = await outside.run(tiers)
    alert_id = await _fire(client, manual_clock)
    # Nobody waits ten minutes because tier 1's person has no way to be reached.
    assert len(slack.direct_messages(BOB)) == 1 and len(mail_to(smtp, "bob@example.com")) == 1
    found = await detail(client, alert_id)
    assert [(p["person"], p["tier"]) for p in found["pages"]] == [("bob", 1)]
    notes = [e["note"] for e in found["events"] if e["kind"] == "escalated"]
    assert any(
        "person:mute reached nobody (nobody with a contact method); on to tier 2 at once" in n
        for n in notes
    )


async def test_labels_do_not_choose_who_is_paged_and_are_escaped(
    outside: Outside, manual_clock: ManualClock
) -> None:
    """Hostile labels: names of people, Slack user ids, mentions and a huge value. Who is
    paged comes from the configuration only, and the DM shows the values as text."""
    slack, smtp = outside.slack, outside.smtp
    tiers = "      - {after: 0s, notify: [{person: alice}]}"
    client = await outside.run(tiers)
    hostile = {
        "person": "bob",
        "schedule": "bob",
        "slack_user_id": BOB,
        "email": "bob@example.com",
        "summary": f"<@{BOB}> <!channel> *bold* " + "x" * 20_000,
    }
    alert_id = await _fire(client, manual_clock, **hostile)
    assert slack.direct_messages(BOB) == [] and mail_to(smtp, "bob@example.com") == []
    assert [c.args["users"] for c in slack.called("conversations.open")] == [ALICE]
    [dm] = slack.direct_messages(ALICE)
    rendered = str(dm.blocks)
    assert f"<@{BOB}>" not in rendered and "<!channel>" not in rendered
    assert [p["person"] for p in (await detail(client, alert_id))["pages"]] == ["alice"]


async def test_two_instances_on_one_database_page_once(
    outside: Outside, manual_clock: ManualClock, db_url: str
) -> None:
    """Two replicas on one database run the same escalation: each page goes out once."""
    if db_url.startswith("sqlite"):
        pytest.skip("replicas share PostgreSQL; SQLite is one process")
    slack, smtp = outside.slack, outside.smtp
    first = await outside.run(TWO_PEOPLE)
    await outside.run(TWO_PEOPLE)
    await _fire(first, manual_clock)
    await manual_clock.advance(timedelta(minutes=5))
    assert len(slack.direct_messages(ALICE)) == 1 and len(slack.direct_messages(BOB)) == 1
    assert len(mail_to(smtp, "alice@example.com")) == 1
    assert len(mail_to(smtp, "bob@example.com")) == 1


async def test_a_person_with_a_pagerduty_user_is_paged_through_pagerduty(
    outside: Outside, manual_clock: ManualClock, tmp_path: Path
) -> None:
    """Events API v2 names no assignee: the event goes to the channel's routing key, one
    incident per alert, and says whom Firebreak paged for PagerDuty's rules to route on."""
    key = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
    async with FakePagerDuty(routing_keys=(key,)) as pagerduty:
        ca_file = pagerduty.write_ca(tmp_path / "pagerduty-ca.pem")
        text = outside.config("      - {after: 0s, notify: [{person: dana}]}").replace(
            "paging: {slack: chat, email: mail}", "paging: {slack: chat, pagerduty: pd}"
        )
        text = text.replace("channels:", "channels:" + channel_yaml(pagerduty, ca_file, key, "1s"))
        dana = "  - {id: dana, name: Dana, pagerduty_user: PDANA01}\n"
        client = await outside.start(text.replace("people:\n", "people:\n" + dana))
        alert_id = await _fire(client, manual_clock)
        [event] = pagerduty.requests
        assert event["routing_key"] == key and event["event_action"] == "trigger"
        details = event["payload"]["custom_details"]
        assert (details["firebreak_person"], details["pagerduty_user"]) == ("dana", "PDANA01")
        [page] = (await detail(client, alert_id))["pages"]
        assert page["contacts"] == ["pagerduty"]  # no slack_user_id: no direct message
