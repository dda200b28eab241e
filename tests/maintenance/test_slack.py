"""``/firebreak maintenance`` as Slack sends it (signed, through the Slack fake): a window
started and ended from Slack holds and then releases an alert's messages; roles, audit rows,
and hostile arguments answered with what was expected, changing nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import ALICE, CHANNEL, STRANGER, VIEWER, slack_config, slash_answer


@pytest.fixture
async def client(sqlite_url: str, make_config: Any, slack: SlackFake, on_clock: Any) -> Any:
    return await on_clock(make_config(sqlite_url, slack_config(slack, tier2_after="10m")))


async def _windows(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/maintenance", headers=auth(VIEWER_TOKEN))
    return list((await resp.json())["windows"])


async def test_a_window_started_from_slack_holds_an_alert_and_ending_it_releases(
    client: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    answer = await slash_answer(
        client, slack, 'maintenance start db-upgrade service="checkout" 2h <b>Postgres</b>', ALICE
    )
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("Started maintenance window *db-upgrade* (open until ")
    assert "&lt;b&gt;Postgres&lt;/b&gt;" in answer["text"] and "<b>" not in answer["text"]
    [window] = await _windows(client)
    assert window["owner"] == "alice" and window["created_by"] == "slack:alice (U0ALICE)"

    await client.post("/webhook", json=webhook(alert("Held")), headers=auth(WEBHOOK_TOKEN))
    await manual_clock.settle()
    assert slack.top_messages(CHANNEL) == []  # held: no message
    listed = await slash_answer(client, slack, "maintenance", VIEWER)
    assert listed["response_type"] == "ephemeral"
    assert listed["text"].startswith("• maintenance window *db-upgrade* (open until ")

    ended = await slash_answer(client, slack, "maintenance end db-upgrade", ALICE)
    assert (
        ended["text"] == "Ended maintenance window *db-upgrade*: what it held escalates from now."
    )
    await manual_clock.settle()
    assert len(slack.top_messages(CHANNEL)) == 1  # released: posted now

    async def logged() -> list[tuple[str, str]] | None:
        # The audit row is written in the background just after the answer.
        audit = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
        rows = [(e["action"], e["outcome"]) for e in audit["entries"] if e["interface"] == "slack"]
        return rows if ("maintenance", "ok") in rows else None

    rows = await eventually(logged, what="the Slack command's audit row")
    assert ("maintenance", "ok") in rows


HOSTILE_ARGUMENTS = [
    ("maintenance start", "expected a name, matchers and then a duration"),
    ("maintenance start w 2h reason", "expected a name, matchers and then a duration"),
    ('maintenance start w a="b" 2h', "expected a reason after the duration"),
    ('maintenance start w a="b" 2h --silence', "expected a reason after the duration"),
    ("maintenance start w --silence 2h why", "expected a name, matchers and then a duration"),
    ('maintenance start w a=~"(" 2h why', "expected matchers such as"),
    ("maintenance end", "expected the name of the window to end"),
    ("maintenance pause all", "expected list, start or end"),
    ("maintenance list everything", "takes nothing more"),
]


async def test_hostile_arguments_are_answered_with_what_was_expected(
    client: Any, slack: SlackFake
) -> None:
    async def check(case: tuple[str, str]) -> None:
        text, expected = case
        answer = await slash_answer(client, slack, text, ALICE)
        assert expected in answer["text"]
        assert await _windows(client) == []

    await each_case(by_first(HOSTILE_ARGUMENTS), check)


async def test_a_bad_field_names_what_was_wrong_and_roles_are_kept(
    client: Any, slack: SlackFake
) -> None:
    bad = await slash_answer(client, slack, 'maintenance start ../etc a="b" 2h why', ALICE)
    assert bad["text"].startswith("Could not maintenance: name: expected 1 to 64 letters")
    long = await slash_answer(client, slack, 'maintenance start w a="b" 40d why', ALICE)
    assert "duration" in long["text"]
    viewer = await slash_answer(client, slack, 'maintenance start w a="b" 2h why', VIEWER)
    assert "needs the responder role" in viewer["text"]
    stranger = await slash_answer(client, slack, "maintenance", STRANGER)
    assert "needs the viewer role" in stranger["text"]
    gone = await slash_answer(client, slack, "maintenance end nothing", ALICE)
    assert (
        gone["text"]
        == "Could not maintenance: no maintenance window named 'nothing' is open or planned."
    )
    assert await _windows(client) == []


async def test_a_window_opening_over_an_escalating_alert_shows_on_its_message(
    client: Any, slack: SlackFake, manual_clock: ManualClock
) -> None:
    await client.post("/webhook", json=webhook(alert("Escalating")), headers=auth(WEBHOOK_TOKEN))
    await manual_clock.settle()
    [message] = slack.top_messages(CHANNEL)
    answer = await slash_answer(
        client, slack, 'maintenance start quiet alertname="Escalating" 1h <i>swap</i>', ALICE
    )
    assert answer["response_type"] == "in_channel"
    await manual_clock.advance(timedelta(minutes=10))  # tier 2 was due: held, message updated
    [message] = slack.top_messages(CHANNEL)
    shown = json.dumps(message.blocks)
    assert "held by maintenance window quiet until " in shown, shown
    assert "&lt;i&gt;swap&lt;/i&gt;" in shown and "<i>" not in shown
    assert message.edits >= 1


async def test_the_silence_flag_without_an_alertmanager_section_is_refused(
    client: Any, slack: SlackFake
) -> None:
    answer = await slash_answer(
        client, slack, 'maintenance start db service="db" 1h --silence upgrade', ALICE
    )
    assert answer["text"].startswith("Could not maintenance: silence: needs the alertmanager")
    assert await _windows(client) == []
