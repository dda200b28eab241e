"""Runbooks: the list with recent outcomes, one runbook's definition, and a dry run started
through the same AutomationService.run as ``POST /api/v1/runbooks/{id}/execute``."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from aiohttp import web

from receiver.automation.definitions import RunbookConfig
from receiver.automation.params import jsonable, redact, secret_values
from receiver.automation.views import runbook_json
from receiver.console.access import Form, action, page, text_field
from receiver.console.executions import actor_of
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.errors import InvalidInput
from receiver.model import Execution, Role, parse_id
from receiver.typedefs import AUTOMATION, CONFIG

_RECENT = 5  # outcomes shown per runbook in the list
_SCANNED = 500  # recent executions looked at to find them


@page(Role.VIEWER)
async def runbooks_page(request: web.Request, session: Session) -> web.StreamResponse:
    automation = request.app[AUTOMATION]
    recent: dict[str, list[Execution]] = defaultdict(list)
    for execution in await automation.list_executions(limit=_SCANNED):
        if len(recent[execution.runbook]) < _RECENT:
            recent[execution.runbook].append(execution)
    return render(
        request,
        "runbooks.html",
        session,
        runbooks=automation.list_runbooks(),
        recent=recent,
        dry_run_mode=request.app[CONFIG].automation.mode == "dry_run",
    )


@page(Role.VIEWER)
async def runbook_page(request: web.Request, session: Session) -> web.StreamResponse:
    automation = request.app[AUTOMATION]
    runbook = automation.runbook(request.match_info["id"])
    return render(
        request,
        "runbook.html",
        session,
        runbook=runbook,
        definition=shown_definition(runbook),
        executions=await automation.list_executions(runbook=runbook.id, limit=20),
    )


def shown_definition(runbook: RunbookConfig) -> dict[str, Any]:
    """The runbook as the API lists it, each step with what it does (``http``: its URL and
    method...), credentials redacted as in a step's recorded inputs: values under secret-
    looking keys, and the default of every ``secret: true`` parameter wherever it appears."""
    shown = runbook_json(runbook)
    for step, described in zip(runbook.steps, shown["steps"], strict=True):
        described[step.type] = _section(step.section)
        if step.rollback is not None:
            described["rollback"] = {"type": step.rollback.type, **_section(step.rollback.section)}
    secrets = secret_values(runbook, {name: p.default for name, p in runbook.params.items()})
    redacted: dict[str, Any] = redact(shown, secrets)
    return redacted


def _section(section: object) -> dict[str, Any]:
    """A step's type section as JSON. Not ``dataclasses.asdict``: it deep-copies what it does
    not know, and the loaded ``headers``, ``env`` and ``args`` mappings are read-only proxies
    that cannot be copied (the page answered 500 for every runbook that had one)."""
    assert dataclasses.is_dataclass(section) and not isinstance(section, type)
    found: dict[str, Any] = jsonable(
        {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    )
    return found


@action(Role.RESPONDER)
async def dry_run(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    """The dry-run button: every step rendered and validated, nothing sent or run."""
    raw_alert = text_field(form, "alert_id")
    alert_id = parse_id(raw_alert) if raw_alert else None
    if raw_alert and alert_id is None:
        raise InvalidInput("alert_id", "expected an alert id")
    execution = await request.app[AUTOMATION].run(
        request.match_info["id"],
        actor_of(session),
        trigger_context=parse_params(form.get("params", "")),
        dry_run=True,
        alert_id=alert_id,
    )
    return redirect(str(request.app.router["console_execution"].url_for(id=str(execution.id))))


def parse_params(text: str) -> dict[str, str]:
    """``name=value`` lines → the trigger context a run's parameters are read from first."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise InvalidInput("params", f"line {number}: expected name=value")
        found[name.strip()] = value.strip()
    return found
