"""Maintenance windows: those open or planned, made and ended from the page through the same
``Maintenance`` service as the API (audited as ``maintenance_create`` and ``maintenance_end``
from the ``console`` interface)."""

from __future__ import annotations

from aiohttp import web

from receiver.console.access import Form, action, page, text_field
from receiver.console.executions import actor_of
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.maintenance import Maintenance
from receiver.model import Role
from receiver.typedefs import BUILT
from receiver.web.maintenance import parse_window_request


def _maintenance(request: web.Request) -> Maintenance:
    return request.app[BUILT][-1].maintenance


@page(Role.VIEWER)
async def maintenance_page(request: web.Request, session: Session) -> web.StreamResponse:
    maintenance = _maintenance(request)
    now = maintenance.now()
    windows = [
        (w, w.occurrence_at(now), w.next_occurrence(now)) for w in await maintenance.windows(at=now)
    ]
    return render(request, "maintenance.html", session, windows=windows)


@action(Role.RESPONDER)
async def create(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    maintenance = _maintenance(request)
    body = {
        "name": text_field(form, "name"),
        # One matcher a line, as the form's text area has them.
        "matchers": [m for m in (form.get("matchers") or "").splitlines() if m.strip()],
        "reason": text_field(form, "reason"),
        "owner": text_field(form, "owner") or session.principal.name,
        "start": text_field(form, "start"),
        "end": text_field(form, "end"),
        "duration": text_field(form, "duration"),
        "rrule": text_field(form, "rrule"),
        "cron": text_field(form, "cron"),
        "time_zone": text_field(form, "time_zone"),
    }
    given = {k: v for k, v in body.items() if v is not None}
    window = parse_window_request(given, maintenance.now())
    await maintenance.create(window, actor_of(session))
    return redirect(str(request.app.router["console_maintenance"].url_for()))


@action(Role.RESPONDER)
async def end(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    await _maintenance(request).end(text_field(form, "name") or "", actor_of(session))
    return redirect(str(request.app.router["console_maintenance"].url_for()))
