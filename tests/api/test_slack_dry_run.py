"""In dry-run mode (the default) the alert's Slack message says its runbook will start by itself
as a dry run, and the message and its thread mark the run as one: what the Slack fake received."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.notify.slack.blocks import RunbookOffer
from tests.automation.conftest import runbooks
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import block_text, slack_config

CACHE = """
id: clear-cache
title: Clear the cache
match: ['alertname="CacheFull"']
steps:
  - id: clear
    http: {method: DELETE, url: "http://127.0.0.1:9/cache"}
"""


async def test_a_dry_run_is_marked_on_the_message_and_in_its_thread(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(sqlite_url, slack_config(slack, tier2_after="1h"))  # no mode
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks(CACHE))
    client = await aiohttp_client(app)
    await client.post("/webhook", json=webhook(alert("CacheFull")), headers=auth(WEBHOOK_TOKEN))
    [posted] = await eventually(lambda: slack.called("chat.postMessage"), what="posted")
    # The automatic run is a dry run and says so; it changes nothing, so a person may run the
    # runbook for real straight away.
    first = block_text(posted.args["blocks"])
    assert (
        ":gear: Runbook `clear-cache` starts by itself as a dry run (automation.mode: dry_run)"
        in first
    )
    assert "Run clear-cache" in first

    async def ended() -> int | None:
        resp = await client.get("/api/v1/executions", headers=auth(VIEWER_TOKEN))
        found = (await resp.json())["executions"]
        return found[0]["id"] if found and found[0]["state"] == "succeeded" else None

    eid = await eventually(ended)
    [parent] = slack.top_messages(CHANNEL)

    def thread() -> list[str]:
        return [m.text for m in slack.thread(CHANNEL, parent.ts)]

    ended_note = f":white_check_mark: Runbook `clear-cache` succeeded (execution {eid} (dry run))."
    await eventually(lambda: ended_note in thread(), what="the run's notes")
    assert thread() == [
        f":gear: Runbook `clear-cache` started by itself: execution {eid} (dry run).",
        f"• Step `clear` of `clear-cache` (execution {eid} (dry run)): succeeded",
        ended_note,
    ]


def test_a_runbook_that_starts_by_itself_says_it_will_be_a_dry_run() -> None:
    waiting = RunbookOffer("clear-cache", (), automatic=True, dry_run=True)
    assert waiting.status() == (
        ":gear: Runbook `clear-cache` starts by itself as a dry run (automation.mode: dry_run)"
    )
    live = RunbookOffer("clear-cache", (), automatic=True)
    assert live.status() == ":gear: Runbook `clear-cache` starts by itself"
    ran = RunbookOffer("clear-cache", (), automatic=True, execution_id=4, state="failed")
    assert ran.status() == ":gear: Runbook `clear-cache`: execution 4 failed"
