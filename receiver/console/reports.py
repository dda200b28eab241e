"""Reports: response times, the noisiest alerts, what runbooks save and the on-call load, over
one window — the four reports of ``/api/v1/reports``, read with the same parameters and
parsing."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.console.access import page
from receiver.console.render import render
from receiver.console.session import Session
from receiver.errors import InvalidInput
from receiver.model import Role
from receiver.reports import noise_report, oncall_report, response_report, runbook_report
from receiver.reports.oncall import hours_text
from receiver.typedefs import CLOCK, CONFIG, STORE
from receiver.web.params import (
    RESPONSE_SPAN,
    parse_noise_options,
    parse_response_options,
    parse_window,
)


@page(Role.VIEWER)
async def reports_page(request: web.Request, session: Session) -> web.StreamResponse:
    """One window for the three reports (``since`` defaults to a week, as the response
    report's); a parameter that does not parse is shown above the form, named as the API
    names it, with the status the API gives it (400)."""
    # A GET form sends the fields left empty too; empty means "the default", as in the API
    # where the parameter is left out.
    query = {name: value for name, value in request.query.items() if value.strip()}
    context: dict[str, Any] = {
        "problem": None,
        "response": None,
        "noise": None,
        "runbooks": None,
        "oncall": None,
    }
    try:
        window = parse_window(query, request.app[CLOCK](), RESPONSE_SPAN)
        answer = parse_response_options(query)
        noisy = parse_noise_options(query)
    except InvalidInput as exc:
        context["problem"] = str(exc)
    else:
        store = request.app[STORE]
        context["response"] = await response_report(
            store, window, ack_target=answer.ack_target, by_label=answer.by_label
        )
        context["noise"] = await noise_report(
            store,
            window,
            limit=noisy.limit,
            flap_window=noisy.flap_window,
            inhibit_equal=noisy.inhibit_equal,
        )
        context["runbooks"] = await runbook_report(store, window)
        config = request.app[CONFIG]
        hours = config.paging.working_hours
        context["oncall"] = await oncall_report(store, window, config.people, hours)
        context["hours"] = hours_text(hours)
        context["names"] = {p.id: p.name for p in config.people if p.name}
    status = 400 if context["problem"] else 200
    return render(request, "reports.html", session, status=status, query=query, **context)
