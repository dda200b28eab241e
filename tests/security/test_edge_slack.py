"""Slack markup injection: hostile text in alert labels and annotations, in a runbook's
approval message and notify step, in a Slack user's name and in slash-command arguments,
sent through every kind of message Firebreak posts (alert message and its fallback text,
tier note, runbook progress and approval in the thread, notify step, acknowledgement update,
resolve note, digest, slash-command replies and button answers). The Slack fake's record of
every request holds no live mention and no link but Firebreak's own, every mrkdwn text
object is verbatim, and no outside text opens or closes a code block."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.notify.slack.blocks import ACTION_ACK
from tests.automation.conftest import runbooks
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, OTHER_CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import ADMIN, BOT_TOKEN, SIGNING_SECRET, VIEWER, command, press

SUMMARY = "```<!here> <http://evil.example/ack|Click to acknowledge>"
NAME = "Disk<!channel>`ok`<@U0EVIL>"
LABELS = {
    "service": "<!everyone>",
    "instance": "db-1`<!subteam^S0EVIL|@oncall>",
    "team": "```",
    "severity": "critical&<http://evil.example>",
}
ANNOTATIONS = {
    "summary": SUMMARY,
    "description": "*bold* _it_ ~s~ <!date^0^{date}|x>",
    "runbook_url": "javascript:alert(1)",
    "dashboard_url": "http://evil.example|Click here>",
}
# The acting user as a signed Slack request names them: the id is Slack's, the name anything.
HOSTILE_USER = ("U0ALICE", "<!here> alice")

RUNBOOK = """
id: look-at-disk
title: Look at the disk
match: ['alertname=~"Disk.*"']
params:
  summary: {from: annotations.summary, default: none}
  service: {from: labels.service, default: none}
steps:
  - id: ask
    approval: {message: "Go ahead for {{ params.summary }} on {{ params.service }}?"}
  - id: tell
    notify:
      channel: chat
      target: C0ALERTS
      message: "Done: {{ params.summary }} {{ params.service }}"
"""

# Firebreak's own: the acting users (by Slack's id), the channel a tier names in the
# configuration, and the alert's source in Prometheus.
OWN = {
    "@U0ALICE",
    "@U0ADMIN",
    "@U0VIEWER",
    "#C0ALERTS",
    "http://prometheus:9090/graph?g0.expr=up|Source",
}
MARKUP = re.compile(r"<([^<>]*)>")


def slack_config(slack: SlackFake) -> str:
    return f"""
slack:
  bot_token: "{BOT_TOKEN}"
  signing_secret: "{SIGNING_SECRET}"
  api_url: "{slack.api_url}"
  default_channel: {CHANNEL}
  message_interval: 50ms
  users: {{U0ALICE: responder, U0ADMIN: admin, U0VIEWER: viewer}}
channels:
  chat:
    type: slack
    rate_limit: {{per_minute: 600, burst: 100}}
  storm:
    type: slack
    slack: {{channel: {OTHER_CHANNEL}}}
    rate_limit: {{per_minute: 30, burst: 1}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [chat]}}
      - {{after: 1s, notify: [{{channel: chat, target: {CHANNEL}}}]}}
  storm:
    tiers:
      - {{after: 0s, notify: [storm]}}
routes:
  - {{name: storm, match: 'storm="yes"', escalation_policy: storm}}
  - {{name: all, escalation_policy: oncall}}
automation: {{mode: live}}
notifications: {{group_window: 100ms}}
jobs: {{workers: 4, lease: 2s, max_attempts: 6, backoff_initial: 100ms, backoff_max: 400ms,
        poll_interval: 200ms}}
"""


def _texts(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``text`` string in a request, with the object that holds it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item, value
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str) and value.startswith(("[", "{")):
        try:
            yield from _texts(json.loads(value))
        except ValueError:
            return


def _problems(what: str, request: Any) -> list[str]:
    found = []
    for text, holder in _texts(request):
        for markup in MARKUP.findall(text):
            if markup not in OWN:
                found.append(f"{what}: live <{markup}> in {text!r}")
        if holder.get("type") == "mrkdwn" and holder.get("verbatim") is not True:
            found.append(f"{what}: a mrkdwn object that Slack may parse: {text!r}")
        if text.count("```") not in (0, 2):
            found.append(f"{what}: a code fence from outside in {text!r}")
    return found


async def _fire(client: Any, *alerts: dict[str, Any], group_key: str) -> None:
    resp = await client.post(
        "/webhook", json=webhook(*alerts, group_key=group_key), headers=auth(WEBHOOK_TOKEN)
    )
    assert resp.status == 200, await resp.text()


async def _executions(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/executions", headers=auth(VIEWER_TOKEN))
    return list((await resp.json())["executions"])


async def test_hostile_text_posts_no_mention_and_no_link_in_any_slack_message(
    aiohttp_client: Any, db_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(db_url, slack_config(slack))
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks(RUNBOOK))
    client = await aiohttp_client(app)
    hostile = alert(NAME, labels=LABELS, annotations=ANNOTATIONS)
    await _fire(client, hostile, group_key="hostile")

    # The alert message, the tier 2 note, the runbook's approval question in the thread.
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="alert posted")
    await eventually(
        lambda: any("Escalated" in m.text for m in slack.thread(CHANNEL, parent.ts)),
        what="the tier 2 note",
    )
    [execution] = await eventually(lambda: _waiting(client), what="the runbook waits for approval")
    # Approved from Slack; the notify step speaks in the thread with the hostile values.
    reply = await command(client, slack, f"approve {execution['id']}", ADMIN, name="approve")
    assert reply.status == 200
    await eventually(
        lambda: any(m.text.startswith(":gear: Done") for m in slack.thread(CHANNEL, parent.ts)),
        what="the notify step's note",
    )
    # Slash commands that answer with outside text, and one whose arguments are hostile.
    for number, text in enumerate(
        [
            "alerts",
            f"status {execution['id']}",
            'oncall "service=<!here> <http://evil.example|x>"',
            'run "<!channel>" "<http://evil.example|x>=1"',
            'alerts "alertname=~Disk.*"',
        ]
    ):
        reply = await command(
            client, slack, text, VIEWER if number < 3 else ADMIN, name=str(number)
        )
        assert reply.status == 200
    refused = await command(client, slack, "<!here>`x`", VIEWER, name="unknown")
    assert refused.status == 200
    inline = [await refused.json()]
    # A hostile user name acknowledges by button: the message update names them.
    assert (await press(client, slack, parent, ACTION_ACK, HOSTILE_USER)).status == 200

    def acknowledged_update() -> bool:
        # Not just any edit (the runbook's progress edits the message too): the acknowledgement.
        return any(
            "Acknowledged by" in json.dumps(c.args, ensure_ascii=False)
            for c in slack.called("chat.update")
        )

    await eventually(acknowledged_update, what="acknowledged update")
    # Alertmanager resolves it: the resolve note and the last update.
    resolved = alert(NAME, status="resolved", labels=LABELS, annotations=ANNOTATIONS)
    await _fire(client, resolved, group_key="hostile")
    await eventually(lambda: "RESOLVED" in parent.text, what="resolved update")
    # A storm on the rate-limited channel: one message, then the digest of the rest.
    for group in range(3):
        stormy = alert(NAME, labels={**LABELS, "storm": "yes", "pod": str(group)})
        stormy["annotations"] = ANNOTATIONS
        await _fire(client, stormy, group_key=f"storm{group}")
    await eventually(
        lambda: any("DIGEST" in m.text for m in slack.top_messages(OTHER_CHANNEL)),
        within=20,
        what="the digest",
    )
    await eventually(lambda: len(slack.responses) >= 6, what="every command answered")

    record = [(c.method, c.args) for c in slack.calls]
    record += [("response_url", r) for r in slack.responses]
    record += [("acknowledgement", r) for r in inline]
    problems = [p for what, request in record for p in _problems(what, request)]
    assert not problems, "\n".join(problems)

    # Every kind was there to be checked, and the hostile text reached it, shown as text.
    assert {"chat.postMessage", "chat.update"} <= {c.method for c in slack.called()}
    thread = "\n".join(m.text for m in slack.thread(CHANNEL, parent.ts))
    assert "Escalated" in thread and "Resolved" in thread
    assert "&lt;!here&gt; &lt;http://evil.example/ack|Click to acknowledge&gt;" in thread
    assert "\u02cb\u02cb\u02cb&lt;!here&gt;" in thread  # the fence from outside, defused
    assert "&lt;!everyone&gt;" in thread
    assert "Disk&lt;!channel&gt;\u02cbok\u02cb&lt;@U0EVIL&gt;" in parent.text  # fallback text
    updates = [json.dumps(c.args, ensure_ascii=False) for c in slack.called("chat.update")]
    assert any("Acknowledged by &lt;!here&gt; alice (U0ALICE)" in u for u in updates)
    [digest] = [m for m in slack.top_messages(OTHER_CHANNEL) if "DIGEST" in m.text]
    assert "```" in digest.text and "&lt;!here&gt;" in digest.text
    answers = "\n".join(str(r.get("text")) for r in slack.responses + inline)
    assert "&lt;!here&gt;" in answers and "Disk&lt;!channel&gt;" in answers
    assert "Unknown subcommand" in inline[0]["text"]


async def _waiting(client: Any) -> list[dict[str, Any]]:
    return [e for e in await _executions(client) if e["state"] == "waiting_approval"]
