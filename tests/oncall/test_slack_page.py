"""``/firebreak page <schedule|person|team> <message>`` through the Slack fake, with signed
requests: the target is paged by DM and email, the alert is escalated and can be resolved by
hand from Slack, every attempt is audited; a replayed request raises nothing new, and hostile
targets and messages change nothing or stay data."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import alerts, manual_pages
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.oncall.paging_setup import ALICE, BOB, Outside, detail, mail_to
from tests.oncall.test_manual_page_targets import ONCALL, TIERS
from tests.slack_helpers import command

STRANGER = ("U0NOBODY", "sam")


async def start(outside: Outside) -> Any:
    text = outside.config(TIERS, ONCALL)
    roles = f"  users: {{{ALICE}: responder, {BOB}: responder}}\n"
    return await outside.start(
        text.replace("  message_interval: 50ms\n", "  message_interval: 50ms\n" + roles)
    )


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def answer(slack: SlackFake, n: int) -> dict[str, Any]:
    """The ``n``-th answer posted to a response_url (1-based)."""
    await eventually(lambda: len(slack.responses) >= n, what=f"answer {n}")
    return slack.responses[n - 1]


async def audit_rows(client: Any, n: int) -> list[tuple[str, str, str | None]]:
    async def rows() -> list[tuple[str, str, str | None]]:
        resp = await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))
        entries = (await resp.json())["entries"]
        return [
            (e["action"], e["outcome"], e["target"]) for e in entries if e["interface"] == "slack"
        ]

    return await eventually(lambda: _at_least(rows, n), what=f"{n} audit rows")


async def _at_least(rows: Any, n: int) -> Any:
    found = await rows()
    return found if len(found) >= n else None


async def test_a_page_from_slack_pages_the_schedule_and_is_resolved_from_slack(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack, smtp = outside.slack, outside.smtp
    client = await start(outside)
    text = "page primary Database down in eu-1, it's the primary's disk"
    resp = await command(client, slack, text, (BOB, "bob"), trigger_id="T.1")
    assert resp.status == 200
    said = await answer(slack, 1)
    assert said["response_type"] == "in_channel"
    assert f"<@{BOB}> paged schedule:primary about alert" in said["text"]
    await manual_clock.settle()
    [to_alice] = slack.direct_messages(ALICE)
    assert "Database down in eu-1, it's the primary's disk" in to_alice.text
    assert len(mail_to(smtp, "alice@example.com")) == 1
    [row] = (await (await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))).json())["alerts"]
    assert row["annotations"]["target"] == "schedule:primary"
    assert row["annotations"]["raised_by"] == f"slack:bob ({BOB})"
    assert row["labels"]["firebreak_source"] == "manual"

    # The same command again, signed anew (a retry): its trigger_id raises nothing new. (The
    # very same signed request is refused unread: tests/security/test_edge_slack_replays.py.)
    later = int(time.time()) + 1  # another timestamp than the first's, whenever that was
    resp = await command(client, slack, text, (BOB, "bob"), trigger_id="T.1", timestamp=later)
    assert "That page was raised already" in (await answer(slack, 2))["text"]
    await manual_clock.settle()
    assert await count(client, alerts) == 1 and len(slack.direct_messages(ALICE)) == 1

    # Resolved by hand from Slack, audited.
    await command(client, slack, f"resolve {row['id']} disk replaced", (ALICE, "alice"))
    assert "resolved" in (await answer(slack, 3))["text"]
    shown = await detail(client, row["id"])
    assert shown["status"] == "resolved" and shown["resolved_by"] == f"alice ({ALICE})"
    rows = await audit_rows(client, 3)
    assert ("page", "ok", "primary") in rows
    assert ("resolve", "ok", str(row["id"])) in rows


async def test_a_page_needs_a_responder_and_a_configured_target(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await start(outside)
    await command(client, slack, "page primary the disk is full", STRANGER)
    assert "needs the responder role" in (await answer(slack, 1))["text"]
    hostile = [
        "page nobody the disk is full",
        "page <!channel> the disk is full",
        "page schedule:../../etc/passwd the disk is full",
        "page pager:duty the disk is full",
        "page '; DROP TABLE alerts; -- the disk is full",
    ]
    for n, text in enumerate(hostile, start=2):
        await command(client, slack, text, (BOB, "bob"))
        said = (await answer(slack, n))["text"]
        assert said.startswith("Could not page: target:"), said
        assert "<!channel>" not in said
    # What was expected is the command's own answer, before anything runs.
    resp = await command(client, slack, "page primary", (BOB, "bob"))
    assert "expected whom to page and a message" in (await resp.json())["text"]
    resp = await command(client, slack, "page primary " + "x" * 4001, (BOB, "bob"))
    assert "at most 4000 characters" in (await resp.json())["text"]
    await manual_clock.settle()
    assert await count(client, alerts) == 0 and await count(client, manual_pages) == 0
    assert slack.direct_messages(ALICE) == [] and slack.direct_messages(BOB) == []
    rows = await audit_rows(client, 6)
    assert ("page", "refused", None) in rows
    assert [r for r in rows if r[:2] == ("page", "failed")] and ("page", "ok", None) not in rows


async def test_a_mention_pages_the_person_it_is(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await start(outside)
    await command(client, slack, f"page <@{ALICE}|alice> the disk is full", (BOB, "bob"))
    assert "paged person:alice about alert" in (await answer(slack, 1))["text"]
    await command(client, slack, "page <@U0STRANGER|sam> the disk is full", (BOB, "bob"))
    assert (
        "Could not page: target: that Slack user is not in people"
        in (await answer(slack, 2))["text"]
    )
    await manual_clock.settle()
    assert len(slack.direct_messages(ALICE)) == 1 and await count(client, alerts) == 1


async def test_a_hostile_message_is_kept_as_data(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await start(outside)
    message = "<!channel> *boom* {{ 7*7 }} <script>x</script> " + "y" * 300
    await command(client, slack, f"page person:alice {message}", (BOB, "bob"))
    said = (await answer(slack, 1))["text"]
    assert "<!channel>" not in said and "<script>" not in said
    await manual_clock.settle()
    [row] = (await (await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))).json())["alerts"]
    assert row["annotations"]["description"] == message
    assert len(row["labels"]["alertname"]) == 200 and row["labels"]["alertname"].endswith("…")
    [dm] = slack.direct_messages(ALICE)
    assert "<!channel>" not in dm.text
