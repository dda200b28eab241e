"""GET /api/v1/reports/{response,noise,runbooks}: alert-quality reports over a window (viewer).

The figures and their definitions are ``receiver.reports``'s; here the query is parsed (each
bad parameter a 400 naming it, by functions the console's Reports page calls too) and the
report turned into JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from receiver.api.common import parse_limit, parse_time, ts
from receiver.durations import parse_duration
from receiver.errors import InvalidInput
from receiver.model import Role
from receiver.reports import (
    DEFAULT_ACK_TARGET,
    DEFAULT_FLAP_WINDOW,
    DEFAULT_INHIBIT_EQUAL,
    NoiseReport,
    ResponseFigures,
    ResponseReport,
    RunbookReport,
    Window,
    noise_report,
    response_report,
    runbook_report,
)
from receiver.typedefs import CLOCK, STORE, TOKEN_AUTH

# Prometheus's label name syntax.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Longest duration parameter: a target or a flap window beyond a week says nothing useful.
_MAX_SPAN = timedelta(days=7)
# How far back ``since`` reaches when not given.
RESPONSE_SPAN = timedelta(days=7)
NOISE_SPAN = timedelta(days=30)
RUNBOOKS_SPAN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ResponseOptions:
    """The response report's parameters: ``ack_target`` and ``by``."""

    ack_target: timedelta
    by_label: str | None  # None: by route


@dataclass(frozen=True, slots=True)
class NoiseOptions:
    """The noise report's parameters: ``limit``, ``flap_window`` and ``inhibit_equal``."""

    limit: int
    flap_window: timedelta
    inhibit_equal: tuple[str, ...]


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


async def runbooks(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    window = parse_window(request.query, request.app[CLOCK](), RUNBOOKS_SPAN)
    report = await runbook_report(request.app[STORE], window)
    return web.json_response(runbooks_json(report))


def parse_window(q: Mapping[str, str], now: datetime, default: timedelta) -> Window:
    """``since`` (default ``default`` back from now) and ``until`` (default now): RFC 3339
    times or durations back from now."""
    since = parse_time(q["since"], now, "since") if "since" in q else now - default
    until = parse_time(q["until"], now, "until") if "until" in q else now
    if since >= until:
        raise InvalidInput("since", f"expected a time before until ({ts(until)}), got {ts(since)}")
    return Window(since, until)


def parse_response_options(q: Mapping[str, str]) -> ResponseOptions:
    ack_target = _duration(q, "ack_target", DEFAULT_ACK_TARGET)
    by = q.get("by", "route")
    label = by.removeprefix("label:") if by.startswith("label:") else None
    if by != "route" and (label is None or not _LABEL_NAME.fullmatch(label)):
        raise InvalidInput("by", f'expected "route" or "label:NAME" (a label name), got "{by}"')
    return ResponseOptions(ack_target, label)


def parse_noise_options(q: Mapping[str, str]) -> NoiseOptions:
    limit = parse_limit(q, 20)
    flap_window = _duration(q, "flap_window", DEFAULT_FLAP_WINDOW)
    equal = DEFAULT_INHIBIT_EQUAL
    if "inhibit_equal" in q:
        equal = tuple(q["inhibit_equal"].split(","))
        if not all(_LABEL_NAME.fullmatch(name) for name in equal) or len(equal) > 10:
            raise InvalidInput("inhibit_equal", "expected 1 to 10 label names separated by commas")
    return NoiseOptions(limit, flap_window, equal)


def _duration(q: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    if name not in q:
        return default
    try:
        value = parse_duration(q[name])
    except ValueError:
        value = timedelta(0)
    if not timedelta(0) < value <= _MAX_SPAN:
        raise InvalidInput(name, f'expected a duration above 0 and at most 7d, got "{q[name]}"')
    return value


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


def runbooks_json(report: RunbookReport) -> dict[str, Any]:
    return {
        "window": _window_json(report.window),
        "time_saved_seconds": report.time_saved_seconds,
        "runbooks": [asdict(figures) for figures in report.runbooks],
    }
