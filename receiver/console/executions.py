"""Runbook executions: running and recent ones, and one execution's steps as a timeline
with the Approve / Reject / Cancel buttons — the AutomationService calls the API makes."""

from __future__ import annotations

from aiohttp import web

from receiver.automation.definitions import StepConfig
from receiver.automation.params import shown_inputs
from receiver.automation.service import AutomationService, ExecutionRecord
from receiver.automation.summary import sample_labels, step_action
from receiver.console.access import Form, action, page, text_field
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.errors import InvalidInput, NotFound
from receiver.model import EXECUTION_STATES, Role
from receiver.typedefs import AUTOMATION
from receiver.web.params import execution_id_of
from receiver.web.request import REASON_LIMIT, optional_text

_PAGE = 100


def actor_of(session: Session) -> str:
    """How the automation service names a console user: ``person:alice`` for a token mapped
    to a person, else ``console:<token name>``."""
    return session.principal.actor("console")


@page(Role.VIEWER)
async def executions_page(request: web.Request, session: Session) -> web.StreamResponse:
    state = request.query.get("state") or None
    if state is not None and state not in EXECUTION_STATES:
        raise InvalidInput("state", f"expected one of {', '.join(EXECUTION_STATES)}")
    runbook = request.query.get("runbook") or None
    executions = await request.app[AUTOMATION].list_executions(
        runbook=runbook, state=state, limit=_PAGE
    )
    return render(
        request,
        "executions.html",
        session,
        executions=executions,
        states=EXECUTION_STATES,
        state=state or "",
        runbook=runbook or "",
    )


@page(Role.VIEWER)
async def execution_page(request: web.Request, session: Session) -> web.StreamResponse:
    automation = request.app[AUTOMATION]
    record = await automation.status(execution_id_of(request))
    runbook = automation.find_runbook(record.execution.runbook)
    params, _context = shown_inputs(
        runbook, record.execution.params, record.execution.trigger_context
    )
    return render(
        request,
        "execution.html",
        session,
        record=record,
        execution=record.execution,
        params=params,
        can_decide=may_decide(record, session, automation),
        can_approve=may_decide(record, session, automation, approving=True),
        can_cancel=session.principal.role >= Role.RESPONDER and not record.execution.final,
        upcoming=upcoming_steps(record, request.app[AUTOMATION]),
        sample=sample_labels(record.execution, runbook),
        step_action=step_action,  # what each step did, or in a dry run would do, in one line
    )


def upcoming_steps(record: ExecutionRecord, automation: AutomationService) -> list[StepConfig]:
    """The steps of a running execution that have not started, so the timeline shows the
    whole way ahead (none once it has ended, or in rollback, or when a reload removed its
    runbook)."""
    execution = record.execution
    if execution.final or execution.phase != "run":
        return []
    try:
        runbook = automation.runbook(execution.runbook)
    except NotFound:
        return []
    started = {s.position for s in record.steps if s.phase == "run"}
    return [
        step
        for position, step in enumerate(runbook.steps)
        if position >= execution.position and position not in started
    ]


def may_decide(
    record: ExecutionRecord,
    session: Session,
    automation: AutomationService,
    *,
    approving: bool = False,
) -> bool:
    """Whether the buttons for the waiting approval are shown to this operator: what
    AutomationService.approve checks, so a hidden button is one that would be refused."""
    execution = record.execution
    if execution.state != "waiting_approval":
        return False
    waiting = next(
        (s for s in record.steps if (s.phase, s.position) == (execution.phase, execution.position)),
        None,
    )
    if waiting is None:
        return False
    refusal = automation.may_decide(
        actor_of(session), session.principal.role, execution, waiting, approving
    )
    return refusal is None


def _to_execution(request: web.Request) -> web.Response:
    return redirect(
        str(request.app.router["console_execution"].url_for(id=request.match_info["id"]))
    )


@action(Role.RESPONDER)
async def approve(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    await request.app[AUTOMATION].approve(
        execution_id_of(request), actor_of(session), session.principal.role
    )
    return _to_execution(request)


@action(Role.RESPONDER)
async def reject(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    await request.app[AUTOMATION].reject(
        execution_id_of(request), actor_of(session), session.principal.role
    )
    return _to_execution(request)


@action(Role.RESPONDER)
async def cancel(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    reason = optional_text({"reason": text_field(form, "reason")}, "reason", REASON_LIMIT)
    await request.app[AUTOMATION].cancel(execution_id_of(request), actor_of(session), reason)
    return _to_execution(request)
