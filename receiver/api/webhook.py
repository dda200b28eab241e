"""``POST /webhook`` (Alertmanager) and ``POST /webhook/grafana`` (Grafana-managed alerts):
notifications answered 200 only once committed, through the same credentials, body limit and
ingest."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from receiver.alertmanager import parse_webhook_body
from receiver.errors import InvalidInput
from receiver.grafana_webhook import parse_grafana_webhook_body
from receiver.model import (
    RESERVED_FINGERPRINT_PREFIXES,
    AlertStatus,
    Notification,
    held_by_alertmanager,
)
from receiver.obs import request_id_var
from receiver.tracing import fingerprints
from receiver.typedefs import CONFIG, INGESTOR, METRICS, TRACING, WEBHOOK_AUTH
from receiver.web.request import read_body, require_json

log = logging.getLogger("firebreak.webhook")


async def receive_webhook(request: web.Request) -> web.Response:
    return await _receive(request, _parse_alertmanager_body)


def _parse_alertmanager_body(body: bytes) -> Notification:
    notification = parse_webhook_body(body)
    # Group keys of alerts Alertmanager never holds (Grafana's, manual pages) are Firebreak's to
    # give: one sent here would keep an Alertmanager alert from ever being reconciled.
    if not held_by_alertmanager(notification.group_key):
        raise InvalidInput("groupKey", "expected Alertmanager's group key; this prefix is reserved")
    # Nor may one pass for an alert of Grafana's or a page raised by hand, to resolve it.
    for index, alert in enumerate(notification.alerts):
        if alert.fingerprint.startswith(RESERVED_FINGERPRINT_PREFIXES):
            raise InvalidInput(
                f"alerts[{index}].fingerprint",
                "expected Alertmanager's fingerprint; this prefix is reserved",
            )
    return notification


async def receive_grafana_webhook(request: web.Request) -> web.Response:
    return await _receive(request, parse_grafana_webhook_body)


async def _receive(request: web.Request, parse: Callable[[bytes], Notification]) -> web.Response:
    app = request.app
    app[WEBHOOK_AUTH].check(request.headers)
    require_json(request)
    body = await read_body(request, app[CONFIG].webhook.max_body_bytes)
    notification = parse(body)
    tracing = app[TRACING]
    if tracing.enabled:
        attributes = {
            "firebreak.request_id": request_id_var.get() or "",
            "firebreak.alerts": len(notification.alerts),
            "firebreak.fingerprints": fingerprints([a.fingerprint for a in notification.alerts]),
        }
        with tracing.span("webhook", attributes=attributes):
            await app[INGESTOR].submit(notification, request_id_var.get())
    else:
        await app[INGESTOR].submit(notification, request_id_var.get())

    firing = sum(1 for alert in notification.alerts if alert.status is AlertStatus.FIRING)
    metrics = app[METRICS]
    metrics.count_webhook(firing, len(notification.alerts) - firing)
    if notification.truncated_alerts:
        metrics.truncated_alerts.inc(notification.truncated_alerts)
        log.warning(
            "Alertmanager left %d alerts out of this notification (max_alerts)",
            notification.truncated_alerts,
            extra={"group_key": notification.group_key, "receiver": notification.receiver},
        )
    # Built by hand: this answer goes out thousands of times a second.
    body = b'{"status": "success", "alerts": %d}' % len(notification.alerts)
    return web.Response(body=body, content_type="application/json")
