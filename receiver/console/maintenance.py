"""Maintenance windows: those open or planned, made and ended from the page through the same
``Maintenance`` service as the API (audited as ``maintenance_create`` and ``maintenance_end``
from the ``console`` interface)."""

from __future__ import annotations

from aiohttp import web

from receiver.console.access import Form, action, page, text_field
from receiver.console.executions import actor_of
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.errors import InvalidInput
from receiver.maintenance import Maintenance
from receiver.model import Role
from receiver.typedefs import BUILT, CONFIG
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
    # The check box only where there is an Alertmanager to silence in; a post that ticks it
    # anyway is refused by the service, naming the field.
    can_silence = request.app[CONFIG].alertmanager is not None
    return render(request, "maintenance.html", session, windows=windows, can_silence=can_silence)


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
    given: dict[str, object] = {k: v for k, v in body.items() if v is not None}
    given["silence"] = _checked(form, "silence")
    window = parse_window_request(given, maintenance.now())
    await maintenance.create(window, actor_of(session))
    return redirect(str(request.app.router["console_maintenance"].url_for()))


def _checked(form: Form, name: str) -> bool:
    """A check box: absent when left unticked, ``on`` when ticked; anything else is refused
    (a hand-made post), naming the field."""
    value = form.get(name)
    if value is None:
        return False
    if value != "on":
        raise InvalidInput(name, "expected a ticked check box (on) or none")
    return True


@action(Role.RESPONDER)
async def end(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    await _maintenance(request).end(text_field(form, "name") or "", actor_of(session))
    return redirect(str(request.app.router["console_maintenance"].url_for()))
