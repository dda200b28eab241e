"""Alerts: the listing with its filters, one alert's whole story, and the responder's buttons
— over the same parsing and the same AlertActions as ``/api/v1/alerts``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from receiver.console.access import Form, action, page, text_field
from receiver.console.bulk import BULK_LIMIT
from receiver.console.render import redirect, render
from receiver.console.session import Session, safe_next
from receiver.console.triage import (
    SORTS,
    View,
    count_links,
    flat,
    group_alerts,
    parse_listing,
    sort_link,
    view_link,
)
from receiver.errors import InvalidInput, NotFound
from receiver.grafana_webhook import grafana_links
from receiver.graphs import GraphUnavailable, NoGraph, expression_of
from receiver.model import Actor, Alert, Role
from receiver.obs import request_id_var
from receiver.store.listing import COUNT_BUDGET
from receiver.typedefs import ACTIONS, AUTOMATION, BUILT, CLOCK, CONFIG, ERROR_PAGE, STORE
from receiver.web.params import alert_id_of, parse_snooze
from receiver.web.request import NOTE_LIMIT, optional_text

# The snooze choices the alert pages offer; the API takes any duration up to 7d.
SNOOZE_CHOICES = ("15m", "1h", "4h", "1d")


@page(Role.VIEWER)
async def alerts_page(request: web.Request, session: Session) -> web.StreamResponse:
    """Filtered as ``GET /api/v1/alerts`` is (``match[]``, ``status``...), counted by severity
    and state, sorted (``sort``) and grouped by Alertmanager group (``view``); a parameter that
    does not parse is shown above the form, named as the API names it."""
    store = request.app[STORE]
    path = str(request.app.router["console_alerts"].url_for())
    context: dict[str, Any] = {
        "problem": None,
        "listing": None,
        "groups": (),
        "more": None,
        "held": {},
    }
    now = request.app[CLOCK]()
    try:
        listing = parse_listing(request.query, now)
    except InvalidInput as exc:
        context["problem"] = str(exc)
    else:
        page_of = await store.list_alerts(listing.query)
        counts = await store.count_alerts(listing.query, now)
        shown = page_of.alerts
        context.update(
            listing=listing,
            counts=counts,
            count_budget=COUNT_BUDGET,
            count_links=count_links(counts, listing, path),
            groups=group_alerts(shown) if listing.view is View.GROUPED else flat(shown),
            page_ids=" ".join(str(a.id) for a in shown),
            overview=await store.escalation_overview([a.id for a in shown]),
            held=await request.app[BUILT][-1].maintenance.holding(shown),
            sort_links={order: sort_link(listing, path, order) for order in SORTS},
            view_links={view: view_link(listing, path, view) for view in View},
        )
        if page_of.next_key is not None:
            cursor = page_of.next_key.encode()
            context["more"] = request.rel_url.update_query(cursor=cursor).path_qs
    status = 400 if context["problem"] else 200
    return render(
        request,
        "alerts.html",
        session,
        status=status,
        snooze_choices=SNOOZE_CHOICES,
        bulk_limit=BULK_LIMIT,
        **context,
    )


@page(Role.VIEWER)
async def alert_page(request: web.Request, session: Session) -> web.StreamResponse:
    store = request.app[STORE]
    alert_id = alert_id_of(request)
    alert = await store.get_alert(alert_id)
    return render(
        request,
        "alert.html",
        session,
        alert=alert,
        links=_links(alert),
        values=grafana_links(alert.extra).values_text(),
        overview=(await store.escalation_overview([alert_id]))[alert_id],
        hold=(await request.app[BUILT][-1].maintenance.holding([alert])).get(alert_id),
        events=await store.alert_events(alert_id),
        notifications=await store.sent_notifications(alert_id),
        pages=await store.alert_pages(alert_id),
        raised=await store.raised_page(alert_id),
        names={p.id: p.name for p in request.app[CONFIG].people if p.name},
        executions=await request.app[AUTOMATION].list_executions(alert_id=alert_id, limit=20),
        snooze_choices=SNOOZE_CHOICES,
        graph=_graph_of(request, alert),
    )


def _graph_of(request: web.Request, alert: Alert) -> tuple[str, str] | None:
    """(URL, expression) of the alert's graph, when graphs are on and it has an expression."""
    expression = expression_of(alert.generator_url)
    if request.app[BUILT][-1].grapher is None or expression is None:
        return None
    url = request.app.router["console_alert_graph"].url_for(id=str(alert.id))
    return str(url), expression


@page(Role.VIEWER)
async def alert_graph(request: web.Request, session: Session) -> web.StreamResponse:
    """The PNG of the alert's expression over the last hour (docs/graphs.md); 404 with the
    reason when there is none to draw, 503 when Prometheus could not answer."""
    alert = await request.app[STORE].get_alert(alert_id_of(request))
    grapher = request.app[BUILT][-1].grapher
    if grapher is None:
        raise NotFound("graphs are not configured (no graphs: section)")
    try:
        graph = await grapher.graph(
            alert.generator_url,
            labels=alert.labels,
            starts_at=alert.starts_at,
            now=request.app[CLOCK](),
        )
    except GraphUnavailable as exc:
        response = request.app[ERROR_PAGE](request, 503, f"No graph: {exc}")
        response.headers["Retry-After"] = "30"
        return response
    except NoGraph as exc:
        raise NotFound(f"No graph: {exc}") from None
    return web.Response(
        body=graph.png,
        content_type="image/png",
        # Drawn anew on each request: a minute of caching spares Prometheus a reloading page.
        headers={"Cache-Control": "private, max-age=60"},
    )


def _links(alert: Alert) -> list[tuple[str, str]]:
    """(title, URL): where Prometheus graphs it, every annotation that is a link, and a
    Grafana-managed alert's dashboard, panel, image and silence links."""
    found = [("Prometheus", alert.generator_url)] if alert.generator_url else []
    found += [(name, value) for name, value in sorted(alert.annotations.items())]
    found += grafana_links(alert.extra).named_links()
    return [(title, url) for title, url in found if url.lower().startswith(("http://", "https://"))]


def _back(request: web.Request, form: Form) -> web.Response:
    """Back to the page the button was on (the listing or the alert)."""
    fallback = str(request.app.router["console_alert"].url_for(id=request.match_info["id"]))
    return redirect(safe_next(form.get("back") or fallback))


def _note(form: Form) -> str | None:
    return optional_text({"note": text_field(form, "note")}, "note", NOTE_LIMIT)


@action(Role.RESPONDER)
async def acknowledge(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    return await _answer(request, session, form, request.app[ACTIONS].acknowledge)


@action(Role.RESPONDER)
async def resolve(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    return await _answer(request, session, form, request.app[ACTIONS].resolve)


Answer = Callable[[int, Actor, str | None, str | None], Awaitable[Alert]]


async def _answer(request: web.Request, session: Session, form: Form, act: Answer) -> web.Response:
    """Acknowledge or resolve, with the form's note, as ``console:<name>``."""
    actor = Actor(session.principal.name, "console")
    await act(alert_id_of(request), actor, _note(form), request_id_var.get())
    return _back(request, form)


@action(Role.RESPONDER)
async def snooze(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    actor = Actor(session.principal.name, "console")
    await request.app[ACTIONS].snooze(
        alert_id_of(request),
        parse_snooze(form.get("for")),
        actor,
        _note(form),
        request_id_var.get(),
    )
    return _back(request, form)
