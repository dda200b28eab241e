"""``/api/v1/alerts``: list, read, raise by hand, acknowledge and resolve alert occurrences."""

from __future__ import annotations

from aiohttp import web

from receiver.maintenance import Hold
from receiver.model import Actor, Role
from receiver.obs import request_id_var
from receiver.typedefs import ACTIONS, BUILT, CLOCK, CONFIG, MANUAL_PAGES, STORE, TOKEN_AUTH
from receiver.views import HeldBy, alert_json, event_json, page_json, raised_json, ts
from receiver.web.params import alert_id_of, parse_alert_query, parse_snooze
from receiver.web.request import NOTE_LIMIT, optional_text, read_json_object

ACTION_BODY_LIMIT = 64 * 1024


async def list_alerts(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    query = parse_alert_query(request.query, request.app[CLOCK]())
    page = await request.app[STORE].list_alerts(query)
    held = await request.app[BUILT][-1].maintenance.holding(page.alerts)
    return web.json_response(
        {
            "alerts": [alert_json(a, _held(held.get(a.id))) for a in page.alerts],
            "next_cursor": str(page.next_cursor) if page.next_cursor is not None else None,
        }
    )


def _held(hold: Hold | None) -> HeldBy | None:
    return (hold.window, hold.occurrence) if hold is not None else None


async def raise_alert(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    pages = request.app[MANUAL_PAGES]
    page = pages.parse(await read_json_object(request, ACTION_BODY_LIMIT))
    alert, created = await pages.raise_page(
        page, Actor(principal.name, "api"), request_id_var.get()
    )
    return web.json_response(alert_json(alert), status=201 if created else 200)


async def get_alert(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    store = request.app[STORE]
    alert_id = alert_id_of(request)
    alert = await store.get_alert(alert_id)
    events = await store.alert_events(alert_id)
    sent = await store.sent_notifications(alert_id)
    pages = await store.alert_pages(alert_id)
    names = {p.id: p.name for p in request.app[CONFIG].people}
    held = await request.app[BUILT][-1].maintenance.holding([alert])
    return web.json_response(
        {
            **alert_json(alert, _held(held.get(alert.id))),
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
            "pages": [page_json(p, names.get(p.person, "")) for p in pages],
            "manual_page": raised_json(await store.raised_page(alert_id)),
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
