"""The slack-bolt ``AsyncApp`` behind ``slack.path``: the slash command and the buttons.

Every request is verified before a listener sees it (``receiver.slack_replays``): the
``X-Slack-Signature`` (``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` under the signing
secret, compared in constant time) and an ``X-Slack-Request-Timestamp`` no more than five
minutes off; a failure is a 401. A request received before — a captured one replayed within the
window, to any replica — is a 409. Neither reaches a listener. Bolt checks the signature again.

Slack waits three seconds for an answer. The listeners acknowledge at once — with the answer
itself when it needs neither the store nor the network (help, what was expected) — and post the
rest through the request's ``response_url`` (commands) or as an ephemeral message (buttons).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from receiver.config import SlackConfig
from receiver.slack.commands import SlackCommands
from receiver.slack.replies import Reply
from receiver.slack.roles import SlackUser
from receiver.slack_replays import take_once
from receiver.typedefs import CONFIG, SLACK_BOLT, STORE
from receiver.web.request import read_body

__all__ = ["build_bolt_app", "slack_events"]

log = logging.getLogger("firebreak.slack")

# Slack's own payloads are a few kilobytes; this bounds what an unsigned request can make us read.
_MAX_BODY = 256 * 1024


def _ephemeral(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "response_type": "in_channel" if reply.public else "ephemeral"}


def build_bolt_app(
    config: SlackConfig, client: AsyncWebClient, commands: SlackCommands
) -> AsyncApp:
    bolt = AsyncApp(
        signing_secret=config.signing_secret,
        client=client,
        request_verification_enabled=True,
        logger=logging.getLogger("firebreak.slack.bolt"),
    )

    @bolt.command(config.command)
    async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        user = SlackUser(str(body.get("user_id", "")), str(body.get("user_name", "")))
        prepared = commands.prepare(str(body.get("text", "")), str(body.get("trigger_id", "")))
        if isinstance(prepared, Reply):
            await ack(**_ephemeral(prepared))
            return
        await ack()
        try:
            reply = await commands.execute(user, prepared)
        except Exception:
            log.exception("%s %s by %s failed", config.command, prepared.name, user.id)
            reply = Reply("Something went wrong on Firebreak's side; it is in its log.")
        await respond(**_ephemeral(reply))

    @bolt.action(re.compile(r"^firebreak_"))
    async def on_button(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        who = body.get("user") or {}
        user = SlackUser(str(who.get("id", "")), str(who.get("username") or who.get("name") or ""))
        action = (body.get("actions") or [{}])[0]
        reply = await commands.press(
            user, str(action.get("action_id", "")), str(action.get("value", ""))
        )
        channel = (body.get("channel") or {}).get("id")
        if reply is None or not channel:
            return
        try:
            await client.chat_postEphemeral(channel=channel, user=user.id, text=reply.text)
        except SlackApiError as exc:
            log.warning("could not answer %s in %s: %s", user.id, channel, exc)

    return bolt


async def slack_events(request: web.Request) -> web.Response:
    """Hand one aiohttp request to bolt once it is verified, and taken for the first time."""
    bolt = request.app[SLACK_BOLT]
    body = await read_body(request, _MAX_BODY)
    slack = request.app[CONFIG].slack
    assert slack is not None  # the route exists only with a slack section
    await take_once(request.app[STORE], slack.signing_secret, body, request.headers)
    bolt_request = AsyncBoltRequest(
        body=body.decode("utf-8", "replace"),
        query=request.query_string,
        headers={k: request.headers.getall(k) for k in request.headers},
    )
    return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))
