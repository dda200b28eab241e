"""Raising a page by hand from the console (``/console/page``): whom to page (a schedule's
on-call, a person, a team, or nobody but the route's policy), what about, and how bad, through
the same ``ManualPages`` service as the API (audited as ``raise_alert`` from the ``console``
interface). Each form carries a key of its own, so sending it twice raises one page."""

from __future__ import annotations

import secrets

from aiohttp import web

from receiver.console.access import Form, action, page, text_field
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.manual_pages import SEVERITIES
from receiver.model import Actor, Role
from receiver.obs import request_id_var
from receiver.typedefs import CONFIG, MANUAL_PAGES

_FIELDS = ("key", "title", "details", "severity", "target")


@page(Role.RESPONDER)
async def page_form(request: web.Request, session: Session) -> web.StreamResponse:
    config = request.app[CONFIG]
    targets = [
        (
            "Schedules (whoever is on call now)",
            [(f"schedule:{s.id}", s.title) for s in config.schedules],
        ),
        ("People", [(f"person:{p.id}", p.name or p.id) for p in config.people]),
        ("Teams (every member)", [(f"team:{t.id}", t.name or t.id) for t in config.teams]),
    ]
    return render(
        request,
        "page.html",
        session,
        key="console-" + secrets.token_hex(16),
        targets=[(group, options) for group, options in targets if options],
        severities=SEVERITIES,
    )


@action(Role.RESPONDER)
async def raise_page(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    pages = request.app[MANUAL_PAGES]
    body = {name: value for name in _FIELDS if (value := text_field(form, name)) is not None}
    manual = pages.parse(body)
    actor = Actor(session.principal.name, "console")
    alert, _ = await pages.raise_page(manual, actor, request_id_var.get())
    return redirect(str(request.app.router["console_alert"].url_for(id=str(alert.id))))
