"""GET /api/v1/reports/{response,noise,runbooks,oncall}: reports over a window (viewer).

The figures and their definitions are ``receiver.reports``'s; here the query is parsed (each
bad parameter a 400 naming it, by functions the console's Reports page calls too) and the
report turned into JSON.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from receiver.model import Role
from receiver.reports import (
    NoiseReport,
    OnCallReport,
    ResponseFigures,
    ResponseReport,
    RunbookReport,
    Window,
    noise_report,
    oncall_report,
    response_report,
    runbook_report,
)
from receiver.typedefs import CLOCK, CONFIG, STORE, TOKEN_AUTH
from receiver.views import ts
from receiver.web.params import (
    NOISE_SPAN,
    ONCALL_SPAN,
    RESPONSE_SPAN,
    RUNBOOKS_SPAN,
    parse_noise_options,
    parse_response_options,
    parse_window,
)


async def response(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    window = parse_window(request.query, request.app[CLOCK](), RESPONSE_SPAN)
    options = parse_response_options(request.query)
    report = await response_report(
        request.app[STORE], window, ack_target=options.ack_target, by_label=options.by_label
    )
    return web.json_response(response_json(report))


async def noise(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    window = parse_window(request.query, request.app[CLOCK](), NOISE_SPAN)
    options = parse_noise_options(request.query)
    report = await noise_report(
        request.app[STORE],
        window,
        limit=options.limit,
        flap_window=options.flap_window,
        inhibit_equal=options.inhibit_equal,
    )
    return web.json_response(noise_json(report))


async def oncall(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    window = parse_window(request.query, request.app[CLOCK](), ONCALL_SPAN)
    config = request.app[CONFIG]
    report = await oncall_report(
        request.app[STORE], window, config.people, config.paging.working_hours
    )
    return web.json_response(oncall_json(report))


async def runbooks(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    window = parse_window(request.query, request.app[CLOCK](), RUNBOOKS_SPAN)
    report = await runbook_report(request.app[STORE], window)
    return web.json_response(runbooks_json(report))


def _window_json(window: Window) -> dict[str, Any]:
    return {"since": ts(window.since), "until": ts(window.until)}


def _figures_json(figures: ResponseFigures) -> dict[str, Any]:
    return asdict(figures)


def response_json(report: ResponseReport) -> dict[str, Any]:
    return {
        "window": _window_json(report.window),
        "by": report.by,
        "ack_target_seconds": report.ack_target.total_seconds(),
        "groups": [
            {"group": g.group, "severity": g.severity, **_figures_json(g.figures)}
            for g in report.groups
        ],
        "overall": _figures_json(report.overall),
    }


def noise_json(report: NoiseReport) -> dict[str, Any]:
    return {
        "window": _window_json(report.window),
        "flap_window_seconds": report.flap_window.total_seconds(),
        "inhibit_equal": list(report.inhibit_equal),
        "total_alertnames": report.total_alertnames,
        "alerts": [{**asdict(item), "severities": list(item.severities)} for item in report.alerts],
    }


def oncall_json(report: OnCallReport) -> dict[str, Any]:
    hours = report.working_hours
    return {
        "window": _window_json(report.window),
        "working_hours": {"days": list(hours.days), "start": hours.start, "end": hours.end},
        "pages": report.pages,
        "people": [asdict(load) for load in report.people],
        "weeks": [{**asdict(w), "week": w.week.isoformat()} for w in report.weeks],
    }


def runbooks_json(report: RunbookReport) -> dict[str, Any]:
    return {
        "window": _window_json(report.window),
        "time_saved_seconds": report.time_saved_seconds,
        "runbooks": [asdict(figures) for figures in report.runbooks],
    }
