"""``firebreak templates render``: what a channel would send for an alert, printed exactly —
Slack's text and blocks, the Teams message with its card, the e-mail's subject, text and HTML,
the webhook's JSON body — through the channel as the server builds it, template and all."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from receiver.alertmanager import parse_webhook
from receiver.channels import ChannelExtras, build_channel
from receiver.cli.loaded import Loaded
from receiver.errors import InvalidInput
from receiver.model import Notification, system_clock
from receiver.notify.base import Notice, NoticeAlert, NoticeKind
from receiver.notify.email import EmailChannel
from receiver.notify.links import NoticeLinks
from receiver.notify.slack.blocks import MessageAlert, MessageView, message
from receiver.notify.teams import TeamsChannel, encode_message
from receiver.notify.webhook import WebhookChannel
from receiver.routing import Router
from receiver.templates import TemplateProblem, channel_templates

_MAX_ALERT_FILE = 5 * 1024 * 1024


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """Dispatch ``firebreak templates ACTION``."""
    return render(args, loaded)


def _notification(path: str) -> Notification:
    """The alert file as a webhook: a whole payload, or one alert wrapped in one."""
    with open(path, "rb") as file:
        raw = file.read(_MAX_ALERT_FILE + 1)
    if len(raw) > _MAX_ALERT_FILE:
        raise InvalidInput("alert", f"expected a file of at most {_MAX_ALERT_FILE} bytes")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("alert", f"expected JSON ({exc})") from None
    if isinstance(document, dict) and "alerts" not in document:
        # What Alertmanager always sends, when the file leaves it out.
        document.setdefault("status", "firing")
        document.setdefault("annotations", {})
        document.setdefault("startsAt", datetime.now(UTC).isoformat().replace("+00:00", "Z"))
        document.setdefault("endsAt", "0001-01-01T00:00:00Z")
        document.setdefault("generatorURL", "")
        document.setdefault("fingerprint", "0000000000000001")
        status = document["status"]
        document = {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": status if status in ("firing", "resolved") else "firing",
            "receiver": "firebreak",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "alerts": [document],
        }
    return parse_webhook(document)


def _notice(loaded: Loaded, notification: Notification, kind: str | None) -> Notice:
    alerts = tuple(
        NoticeAlert(
            id=index,
            fingerprint=a.fingerprint,
            status=a.status,
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            generator_url=a.generator_url,
        )
        for index, a in enumerate(notification.alerts, start=1)
    )
    if kind is None:
        kind = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    matches = Router(loaded.config).route(alerts[0].labels) if alerts else ()
    firing = kind == "firing"
    return Notice(
        kind=NoticeKind.FIRING if firing else NoticeKind.RESOLVED,
        idempotency_key="notify:preview:0",
        alerts=alerts,
        group_key=notification.group_key,
        route=matches[0].route if matches else "",
        escalation_policy=matches[0].escalation_policy if matches else "",
        tier=0 if firing else None,
    )


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")


async def _rendered(loaded: Loaded, name: str, notice: Notice) -> str:
    config = loaded.config
    links = NoticeLinks(external_url=config.notifications.external_url)
    templates = channel_templates(config, links)
    if config.channels[name].type == "slack":
        slack = config.slack
        view = MessageView(
            tier=notice.tier,
            escalation_policy=notice.escalation_policy,
            grafana_url=slack.grafana_url if slack is not None else None,
            silence_button=config.alertmanager is not None,
            template=templates.get(name),
            route=notice.route,
        )
        text, blocks = message([MessageAlert.from_notice(a) for a in notice.alerts], view)
        return _json({"text": text, "blocks": blocks})
    async with aiohttp.ClientSession() as session:
        extras = ChannelExtras(links, templates.get(name))
        channel = build_channel(name, config.channels[name], session, system_clock, extras)
        try:
            if isinstance(channel, TeamsChannel):
                body = encode_message(notice, channel.links, channel.template)
                return _json(orjson.loads(body))
            if isinstance(channel, EmailChannel):
                subject, text, html = channel.rendering(notice)
                return f"Subject: {subject}\n--- text/plain ---\n{text}\n--- text/html ---\n{html}"
            if isinstance(channel, WebhookChannel):
                return _json(orjson.loads(channel.body(notice)))
        finally:
            await channel.close()
    raise InvalidInput(
        "channel", f"{name} is a {config.channels[name].type} channel: not templated"
    )


def render(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak templates render --channel NAME --alert FILE``."""
    import asyncio

    if args.channel not in loaded.config.channels:
        known = ", ".join(sorted(loaded.config.channels)) or "none"
        print(
            f"firebreak templates render: no channel {args.channel!r} (known: {known})",
            file=sys.stderr,
        )
        return 1
    try:
        notice = _notice(loaded, _notification(args.alert), args.kind)
        print(asyncio.run(_rendered(loaded, args.channel, notice)), end="")
    except OSError as exc:
        print(f"firebreak templates render: {args.alert}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except InvalidInput as exc:
        print(f"firebreak templates render: {exc.field}: {exc.message}", file=sys.stderr)
        return 1
    except TemplateProblem as exc:
        print(f"firebreak templates render: {exc}", file=sys.stderr)
        return 1
    return 0
