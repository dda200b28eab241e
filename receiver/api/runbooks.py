"""``/api/v1/runbooks``, ``/api/v1/executions`` and ``/api/v1/automation``: thin handlers
over the automation service."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.access.auth import require_role
from receiver.automation.drills import STAGES, DrillBudget
from receiver.automation.service import parse_trigger_context
from receiver.automation.views import execution_json, record_json, runbook_json
from receiver.errors import InvalidInput
from receiver.model import EXECUTION_STATES, Execution, Role
from receiver.typedefs import AUTOMATION, DRILLS, TOKEN_AUTH
from receiver.web.params import execution_id_of, parse_int, parse_limit
from receiver.web.request import REASON_LIMIT, is_id, optional_text, read_json_object

BODY_LIMIT = 64 * 1024


def _shown(request: web.Request, execution: Execution) -> dict[str, Any]:
    return execution_json(execution, request.app[AUTOMATION].find_runbook(execution.runbook))


async def list_runbooks(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    runbooks = request.app[AUTOMATION].list_runbooks()
    return web.json_response({"runbooks": [runbook_json(rb) for rb in runbooks]})


async def get_runbook(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    return web.json_response(
        runbook_json(request.app[AUTOMATION].runbook(request.match_info["id"]))
    )


async def execute_runbook(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, BODY_LIMIT)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput("dry_run", "expected true or false")
    alert_id = body.get("alert_id")
    if alert_id is not None and not is_id(alert_id):
        raise InvalidInput("alert_id", "expected an alert id")
    override = body.get("override_breaker", False)
    if not isinstance(override, bool):
        raise InvalidInput("override_breaker", "expected true or false")
    if override:  # running past a breaker that stopped automation is an admin's call
        require_role(principal, Role.ADMIN)
    execution = await request.app[AUTOMATION].run(
        request.match_info["id"],
        principal.actor("api"),
        trigger_context=parse_trigger_context(body.get("trigger_context")),
        dry_run=dry_run,
        alert_id=alert_id,
        override_breaker=override,
    )
    return web.json_response(_shown(request, execution), status=202)


async def list_executions(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    q = request.query
    state = q.get("state")
    if state is not None and state not in EXECUTION_STATES:
        raise InvalidInput("state", f"expected one of {', '.join(EXECUTION_STATES)}")
    limit = parse_limit(q, 100)
    numbers: dict[str, int | None] = {}
    for name in ("cursor", "alert_id"):
        numbers[name] = parse_int(q[name]) if q.get(name) else None
        if q.get(name) and numbers[name] is None:
            raise InvalidInput(name, "expected an integer")
    found = await request.app[AUTOMATION].list_executions(
        runbook=q.get("runbook"),
        state=state,
        alert_id=numbers["alert_id"],
        limit=limit + 1,
        before_id=numbers["cursor"],
    )
    page = found[:limit]
    more = len(found) > limit
    return web.json_response(
        {
            "executions": [_shown(request, e) for e in page],
            "next_cursor": str(page[-1].id) if more else None,
        }
    )


async def get_execution(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    automation = request.app[AUTOMATION]
    record = await automation.status(execution_id_of(request))
    return web.json_response(record_json(record, automation.find_runbook(record.execution.runbook)))


async def cancel_execution(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, BODY_LIMIT)
    execution = await request.app[AUTOMATION].cancel(
        execution_id_of(request),
        principal.actor("api"),
        optional_text(body, "reason", REASON_LIMIT),
    )
    return web.json_response(_shown(request, execution))


async def approve_execution(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    execution = await request.app[AUTOMATION].approve(
        execution_id_of(request), principal.actor("api"), principal.role
    )
    return web.json_response(_shown(request, execution))


async def reject_execution(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    execution = await request.app[AUTOMATION].reject(
        execution_id_of(request), principal.actor("api"), principal.role
    )
    return web.json_response(_shown(request, execution))


async def run_drill(request: web.Request) -> web.Response:
    """A drill; a live one (its runbook's steps really run) needs an admin."""
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, BODY_LIMIT)
    runbook = body.get("runbook")
    if not isinstance(runbook, str):
        raise InvalidInput("runbook", "expected a runbook id")
    live = body.get("live", False)
    if not isinstance(live, bool):
        raise InvalidInput("live", "expected true or false")
    if live:
        request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InvalidInput("labels", "expected an object of label names to string values")
    replay = body.get("replay_alert_id")
    if replay is not None and not is_id(replay):
        raise InvalidInput("replay_alert_id", "expected an alert id")
    report = await request.app[DRILLS].run(
        runbook,
        labels=labels,
        replay_alert_id=replay,
        live=live,
        budget=_budget(body.get("budget")),
        actor=principal.actor("api"),
    )
    return web.json_response(report.as_json())


def _budget(value: object) -> DrillBudget:
    if value is None:
        return DrillBudget()
    if not isinstance(value, dict) or not set(value) <= set(STAGES):
        raise InvalidInput("budget", f"expected an object with seconds for {', '.join(STAGES)}")
    if not all(isinstance(v, int | float) and 0 < v <= 600 for v in value.values()):
        raise InvalidInput("budget", "expected seconds above 0 and at most 600")
    return DrillBudget(**{k: float(v) for k, v in value.items()})


async def automation_state(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    return web.json_response(await request.app[AUTOMATION].automation_state())


async def pause_automation(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    body = await read_json_object(request, BODY_LIMIT)
    reason = optional_text(body, "reason", REASON_LIMIT)
    return web.json_response(await request.app[AUTOMATION].pause(principal.actor("api"), reason))


async def resume_automation(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    return web.json_response(await request.app[AUTOMATION].resume(principal.actor("api")))


async def reset_breaker(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    runbook = request.match_info["id"]
    await request.app[AUTOMATION].reset_breaker(runbook, principal.actor("api"))
    return web.json_response({"runbook": runbook, "breaker": "reset"})
