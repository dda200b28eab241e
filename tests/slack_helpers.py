"""What the Slack tests share: a configuration pointing Firebreak at the Slack fake, and
signed requests as Slack sends them."""

from __future__ import annotations

from typing import Any

from tests.conftest import eventually
from tests.fakes.slack import CHANNEL, SlackFake, block_actions, signed_headers, slash_command

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "slack-signing-secret-0123456789"
ALICE = ("U0ALICE", "alice")  # responder by user id
ADMIN = ("U0ADMIN", "root")  # admin by user id
VIEWER = ("U0VIEWER", "victor")  # viewer by user id
GROUPIE = ("U0GROUPIE", "gina")  # responder through the on-call user group
STRANGER = ("U0STRANGE", "sam")  # no role at all


def slack_section(slack: SlackFake) -> str:
    """The top-level ``slack`` section, pointing the app at the fake (posting to CHANNEL)."""
    return f"""
slack:
  bot_token: "{BOT_TOKEN}"
  signing_secret: "{SIGNING_SECRET}"
  api_url: "{slack.api_url}"
  default_channel: {CHANNEL}
  message_interval: 50ms"""


def slack_config(
    slack: SlackFake, *, tier2_after: str = "1s", tier2_target: str = CHANNEL, extra: str = ""
) -> str:
    return f"""{slack_section(slack)}
  users: {{{ALICE[0]}: responder, {ADMIN[0]}: admin, {VIEWER[0]}: viewer}}
  user_groups: {{S0ONCALL: responder}}
{extra}
channels:
  chat:
    type: slack
    rate_limit: {{per_minute: 600, burst: 100}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [chat]}}
      - {{after: {tier2_after}, notify: [{{channel: chat, target: {tier2_target}}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 100ms}}
jobs: {{workers: 4, lease: 2s, max_attempts: 6, backoff_initial: 100ms, backoff_max: 400ms,
        poll_interval: 200ms}}
"""


async def command(
    client: Any,
    slack: SlackFake,
    text: str,
    user: tuple[str, str],
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    name: str = "1",
    trigger_id: str | None = None,
) -> Any:
    """POST a signed slash command; returns the HTTP response."""
    body = slash_command(
        text,
        user_id=user[0],
        user_name=user[1],
        response_url=slack.response_url(name),
        trigger_id=trigger_id,
    )
    return await client.post(
        "/slack/events", data=body, headers=signed_headers(secret, body, timestamp)
    )


async def press(
    client: Any, slack: SlackFake, message: Any, action_id: str, user: tuple[str, str]
) -> Any:
    """POST a signed ``block_actions`` payload for a button of ``message``."""
    body = block_actions(
        message, action_id, user_id=user[0], user_name=user[1], response_url=slack.response_url()
    )
    return await client.post(
        "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
    )


def block_text(blocks: list[dict[str, Any]]) -> str:
    """Every text of a message's blocks, one string (for assertions on what people see)."""
    parts: list[str] = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
        for item in block.get("fields", []) + block.get("elements", []):
            inner = item.get("text")
            parts.append(inner.get("text", "") if isinstance(inner, dict) else str(inner or ""))
    return "\n".join(parts)


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["text"]["text"]
        for block in blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def slash_answer(
    client: Any, slack: SlackFake, text: str, user: tuple[str, str]
) -> dict[str, Any]:
    """What the slash command ``text`` from ``user`` was answered: in the acknowledgement (a
    usage message) or, after it, through ``response_url``."""
    before = len(slack.responses)
    resp = await command(client, slack, text, user)
    assert resp.status == 200
    body = await resp.text()
    if body:  # answered in the acknowledgement (usage)
        return dict(await resp.json())
    await eventually(lambda: len(slack.responses) > before, what=f"answer to {text!r}")
    return dict(slack.responses[-1])
