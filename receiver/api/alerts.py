"""``/api/v1/alerts``: list, read, acknowledge and resolve alert occurrences."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from multidict import MultiMapping

from receiver.api.common import (
    alert_json,
    event_json,
    optional_text,
    parse_int,
    parse_limit,
    parse_since,
    read_json_object,
    ts,
)
from receiver.durations import parse_duration
from receiver.errors import InvalidInput, NotFound
from receiver.matchers import parse_matchers
from receiver.model import Actor, AlertStatus, Role
from receiver.obs import request_id_var
from receiver.store.listing import AlertQuery
from receiver.typedefs import ACTIONS, CLOCK, STORE, TOKEN_AUTH

_MAX_LIMIT = 1000
ACTION_BODY_LIMIT = 64 * 1024
NOTE_LIMIT = 4000
_MAX_SNOOZE = timedelta(days=7)


def parse_alert_query(params: MultiMapping[str], now: datetime) -> AlertQuery:
    """Query-string filters → AlertQuery, naming the parameter that is wrong."""
    status = params.get("status")
    if status is not None and status not in ("firing", "resolved"):
        raise InvalidInput("status", f'expected "firing" or "resolved", got "{status}"')
    acknowledged = params.get("acknowledged")
    if acknowledged is not None and acknowledged not in ("true", "false"):
        raise InvalidInput("acknowledged", f'expected "true" or "false", got "{acknowledged}"')
    groups = tuple(
        parse_matchers(text, field="match[]")
        for text in params.getall("match[]", ())
        if text.strip()
    )
    since = None
    if "since" in params:
        since = parse_since(params["since"], now)
    limit = parse_limit(params, 100, _MAX_LIMIT)
    before_id = None
    if params.get("cursor"):
        before_id = parse_int(params["cursor"])
        if before_id is None:
            raise InvalidInput("cursor", "expected the next_cursor of a previous page")
    return AlertQuery(
        status=AlertStatus(status) if status else None,
        acknowledged=None if acknowledged is None else acknowledged == "true",
        matchers=groups,
        since=since,
        limit=limit,
        before_id=before_id,
    )


def parse_snooze(raw: object) -> timedelta:
    """A snooze's ``for``: a duration above 0 and at most 7d."""
    if not isinstance(raw, str):
        raise InvalidInput("for", "expected a duration such as 30m")
    try:
        duration = parse_duration(raw)
    except ValueError as exc:
        raise InvalidInput("for", str(exc)) from None
    if not timedelta(0) < duration <= _MAX_SNOOZE:
        raise InvalidInput("for", "expected a duration above 0 and at most 7d")
    return duration


def alert_id_of(request: web.Request) -> int:
    """The ``{id}`` of an alert route; one that cannot be an id does not exist."""
    raw = request.match_info["id"]
    alert_id = parse_int(raw)
    if alert_id is None:
        raise NotFound(f"alert {raw} does not exist")
    return alert_id


async def list_alerts(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    query = parse_alert_query(request.query, request.app[CLOCK]())
    page = await request.app[STORE].list_alerts(query)
    return web.json_response(
        {
            "alerts": [alert_json(a) for a in page.alerts],
            "next_cursor": str(page.next_cursor) if page.next_cursor is not None else None,
        }
    )


async def get_alert(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    store = request.app[STORE]
    alert_id = alert_id_of(request)
    alert = await store.get_alert(alert_id)
    events = await store.alert_events(alert_id)
    sent = await store.sent_notifications(alert_id)
    return web.json_response(
        {
            **alert_json(alert),
            "events": [event_json(e) for e in events],
            "notifications": [
                {
                    "channel": n["channel"],
                    "target": n["target"],
                    "kind": n["kind"],
                    "tier": n["tier"],
                    "reference": n["reference"],
                    "sent_at": ts(n["sent_at"]),
                }
                for n in sent
            ],
        }
    )


async def acknowledge_alert(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, ACTION_BODY_LIMIT)
    alert = await request.app[ACTIONS].acknowledge(
        alert_id_of(request),
        Actor(principal.name, "api"),
        optional_text(body, "note", NOTE_LIMIT),
        request_id_var.get(),
    )
    return web.json_response(alert_json(alert))


async def resolve_alert(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, ACTION_BODY_LIMIT)
    alert = await request.app[ACTIONS].resolve(
        alert_id_of(request),
        Actor(principal.name, "api"),
        optional_text(body, "note", NOTE_LIMIT),
        request_id_var.get(),
    )
    return web.json_response(alert_json(alert))


async def snooze_alert(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    alert_id = alert_id_of(request)
    body = await read_json_object(request, ACTION_BODY_LIMIT)
    alert = await request.app[ACTIONS].snooze(
        alert_id,
        parse_snooze(body.get("for")),
        Actor(principal.name, "api"),
        optional_text(body, "note", NOTE_LIMIT),
        request_id_var.get(),
    )
    return web.json_response(alert_json(alert))
