"""``POST /integrations/pagerduty/webhook``: PagerDuty's v3 webhooks, signed by the subscription.

A replayed or stale event is answered 200 like any other (``outcome`` says which): PagerDuty
retries whatever is not 2xx, and retrying cannot make it good."""

from __future__ import annotations

import logging

from aiohttp import web

from receiver.errors import Unauthenticated
from receiver.notify.pagerduty_webhook import SIGNATURE_HEADER, parse_webhook, verify_signature
from receiver.obs import request_id_var
from receiver.typedefs import CONFIG, METRICS, PAGERDUTY_SYNC
from receiver.web.request import read_body

log = logging.getLogger("firebreak.pagerduty")


async def receive_pagerduty_webhook(request: web.Request) -> web.Response:
    app = request.app
    settings = app[CONFIG].pagerduty
    body = await read_body(request, settings.max_body_bytes)
    # The signature is checked on the raw bytes before any of them is parsed.
    if not verify_signature(settings.webhook_secrets, body, request.headers.get(SIGNATURE_HEADER)):
        app[METRICS].pagerduty_webhooks.labels("refused").inc()
        log.warning("PagerDuty webhook refused: bad signature", extra={"remote": request.remote})
        raise Unauthenticated(f"{SIGNATURE_HEADER} is missing or matches no webhook secret")
    outcome = await app[PAGERDUTY_SYNC].apply(
        parse_webhook(body), request_id_var.get(), max_age=settings.max_event_age
    )
    return web.json_response({"status": "success", "outcome": outcome})
