"""A team with no PagerDuty runs its on-call on Firebreak, end to end (docs/oncall.md, the
worked example): rotations in YAML, an override from Slack, the calendar feed showing it, the
person on call paged by Slack direct message and email, the secondary paged when nobody
acknowledges, the acknowledgement from the secondary's direct message stopping the escalation
and showing everywhere, and the hand-offs that follow with the team's user group. Against the
Slack fake and a real SMTP server on loopback, on the manual clock; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest

from receiver.notify.slack.blocks import ACTION_ACK
from receiver.oncall.feed import feed_path
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL
from tests.oncall.paging_setup import ALICE, BOB, Outside, detail, mail_to
from tests.payloads import alert, webhook
from tests.slack_helpers import block_text, buttons, command, press

CAROL = "U0PCAROL"
# Monday 14 December 2026, 02:14 UTC.
NIGHT = datetime(2026, 12, 14, 2, 14, tzinfo=UTC)
# Weekly rotations from Monday 30 November, handing over on Mondays at 09:00: until 09:00
# today primary is bob and secondary alice, then the other way round.
FEED_SECRET = "feed-secret-0123456789-abcdef"
PAYMENTS = f"""
oncall: {{feed_secret: "{FEED_SECRET}"}}
teams:
  - {{id: payments, members: [alice, bob, carol], slack_user_group: S0PAYONCALL,
      schedules: [payments-primary, payments-secondary]}}
schedules:
  - id: payments-primary
    name: Payments primary
    handoff_notify: true
    layers: [{{members: [alice, bob], shift: weekly, handoff: "09:00", start: "2026-11-30"}}]
  - id: payments-secondary
    name: Payments secondary
    layers: [{{members: [bob, alice], shift: weekly, handoff: "09:00", start: "2026-11-30"}}]
"""
TIERS = """\
      - {after: 0s, notify: [chat, {schedule: payments-primary}]}
      - {after: 10m, notify: [{schedule: payments-secondary}]}
      - {after: 20m, notify: [{team: payments}]}"""


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(NIGHT)


async def _start(outside: Outside) -> Any:
    outside.slack.users.add(CAROL)
    outside.slack.user_groups["S0PAYONCALL"] = []
    text = outside.config(TIERS, PAYMENTS)
    carol = (
        f"  - {{id: carol, name: Carol Chen, email: carol@example.com, slack_user_id: {CAROL}}}\n"
    )
    text = text.replace("people:\n", "people:\n" + carol)
    roles = f"  users: {{{ALICE}: responder, {BOB}: responder, {CAROL}: responder}}\n"
    text = text.replace("  message_interval: 50ms\n", "  message_interval: 50ms\n" + roles)
    return await outside.start(text)


async def test_a_team_without_pagerduty_runs_its_on_call_on_firebreak(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    client = await _start(outside)
    await manual_clock.settle()
    assert slack.user_groups["S0PAYONCALL"] == sorted([ALICE, BOB])

    # 1. Bob cannot take the rest of the night: from Slack, carol covers primary for four
    # hours, and subscribes to her calendar, which shows the override.
    resp = await command(client, slack, "override payments-primary carol 4h", (BOB, "bob"))
    assert resp.status == 200
    await eventually(lambda: slack.responses, what="the override's answer")
    feed = await client.get(feed_path(FEED_SECRET, "person", "carol"))
    assert feed.status == 200 and feed.content_type == "text/calendar"
    calendar = icalendar.Calendar.from_ical(await feed.read())
    shifts = [(e.decoded("dtstart"), e.decoded("dtend")) for e in calendar.walk("VEVENT")]
    assert shifts == [(NIGHT, NIGHT + timedelta(hours=4))]
    resp = await client.get("/api/v1/schedules/payments-primary/oncall", headers=auth(VIEWER_TOKEN))
    assert "carol" in str(await resp.json())

    # 2. An alert fires: the channel hears of it, carol is paged by DM and email.
    resp = await client.post(
        "/webhook",
        json=webhook(alert("PaymentsLatency", labels={"team": "payments"})),
        headers=auth(WEBHOOK_TOKEN),
    )
    assert resp.status == 200
    await manual_clock.settle()
    [parent] = slack.top_messages(CHANNEL)
    [to_carol] = slack.direct_messages(CAROL)
    assert "PaymentsLatency" in to_carol.text
    [mail] = mail_to(smtp, "carol@example.com")
    assert "PaymentsLatency" in str(mail.message["Subject"])
    assert f"*Paged* <@{CAROL}> (tier 1)" in block_text(parent.blocks)
    assert slack.direct_messages(BOB) == [] and mail_to(smtp, "bob@example.com") == []

    # 3. Carol does not acknowledge: ten minutes later the secondary, alice, is paged.
    await manual_clock.advance(timedelta(minutes=9, seconds=59))
    assert slack.direct_messages(ALICE) == []
    await manual_clock.advance(timedelta(seconds=1))
    [to_alice] = slack.direct_messages(ALICE)
    assert len(mail_to(smtp, "alice@example.com")) == 1
    assert f"<@{CAROL}> (tier 1), <@{ALICE}> (tier 2)" in block_text(parent.blocks)

    # 4. Alice acknowledges from her direct message: escalation stops (no tier 3), and every
    # message about the alert says so.
    assert "Acknowledge" in buttons(to_alice.blocks)
    resp = await press(client, slack, to_alice, ACTION_ACK, (ALICE, "alice"))
    assert resp.status == 200
    await manual_clock.advance(timedelta(minutes=30))
    assert slack.direct_messages(BOB) == [] and mail_to(smtp, "bob@example.com") == []
    for message in (parent, to_carol, to_alice):
        assert "Acknowledged by" in block_text(message.blocks), message.channel
    alert_id = int(parent.blocks[-1]["elements"][0]["value"])
    found = await detail(client, alert_id)
    assert found["acknowledged_at"] is not None
    assert [(p["person"], p["tier"], p["via"]) for p in found["pages"]] == [
        ("carol", 0, "schedule:payments-primary"),
        ("alice", 1, "schedule:payments-secondary"),
    ]
    paged = [e["note"] for e in found["events"] if e["kind"] == "paged"]
    assert paged[0] == (
        "paged Carol Chen (carol) by oncall tier 1, through schedule:payments-primary: "
        "Slack DM, email"
    )

    # 5. Hand-offs: at 06:14 the override ends and bob is primary again; at 09:00 the
    # rotation hands over to alice. Each is told once, and @payments-oncall follows.
    assert slack.user_groups["S0PAYONCALL"] == sorted([ALICE, CAROL])
    await manual_clock.advance(datetime(2026, 12, 14, 6, 15, tzinfo=UTC) - manual_clock())
    assert [m.text for m in slack.direct_messages(BOB)] == [
        ":pager: You are on call for *Payments primary* from Mon 14 Dec 06:14 until Mon 14 Dec "
        "09:00 (UTC). Escalations that page this schedule reach you meanwhile."
    ]
    assert slack.user_groups["S0PAYONCALL"] == sorted([ALICE, BOB])
    await manual_clock.advance(datetime(2026, 12, 14, 9, 0, tzinfo=UTC) - manual_clock())
    told = [m for m in slack.direct_messages(ALICE) if "You are on call" in m.text]
    assert len(told) == 1 and "Payments primary* from Mon 14 Dec 09:00" in told[0].text
    assert slack.user_groups["S0PAYONCALL"] == sorted([ALICE, BOB])
    assert len(slack.direct_messages(BOB)) == 1
