"""Acting on several alerts at once from the alerts page: acknowledge, resolve or snooze the
alerts selected, through the same AlertActions and rules as their own buttons, each its own
audit row, and a page saying what came of every one ("3 acknowledged, 1 already resolved").
Acknowledging is one statement for all of them (``AlertActions.acknowledge_many``) and one
job telling the channels; resolving and snoozing go one alert at a time.

The request is refused as a whole (one audit row, ``bulk``) when it is not a responder's from
the console's own page, or when the selection does not parse; otherwise every alert selected
is acted on, and one that cannot be is reported, never skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from receiver.actions import AlertActions, not_acknowledged
from receiver.console.access import Form, action
from receiver.console.render import render
from receiver.console.session import Session, safe_next
from receiver.errors import Conflict, FirebreakError, InvalidInput, NotFound
from receiver.model import Actor, Alert, AlertStatus, Role, parse_id
from receiver.obs import request_id_var
from receiver.typedefs import ACTIONS, AUDIT, AUDITED_PER_ALERT, STORE
from receiver.web.middleware import audit_outcome, status_of
from receiver.web.params import parse_snooze

# At most this many alerts in one request: five pages of the listing as it opens, and each
# alert resolved or snoozed is a transaction of its own.
BULK_LIMIT = 500
# A form may name an alert more than once (its row, its group's and the page's "select all"):
# room for each selected alert twice, and a few more fields.
_FIELDS = 2 * BULK_LIMIT + 16

ACTIONS_OFFERED = ("acknowledge", "resolve", "snooze")

# What can come of acting on one alert, in the order the summary names them.
DONE = {"acknowledge": "acknowledged", "resolve": "resolved", "snooze": "snoozed"}
ALREADY_ACKNOWLEDGED = "already acknowledged"
ALREADY_RESOLVED = "already resolved"
NOT_FOUND = "not found"
FAILED = "failed"
_ORDER = (*DONE.values(), ALREADY_ACKNOWLEDGED, ALREADY_RESOLVED, NOT_FOUND, FAILED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of acting on one alert: ``alert`` as it was before (None when there was no
    such alert), the result the page shows, and the error when there was one."""

    alert_id: int
    alert: Alert | None
    result: str
    status: int = 200
    error: str | None = None


def parse_ids(values: Iterable[str]) -> tuple[int, ...]:
    """The ``ids`` fields (each one id, or several separated by spaces or commas, as a "select
    all" box carries them) → distinct alert ids in the order first given."""
    found: dict[int, None] = {}
    for value in values:
        for token in value.replace(",", " ").split():
            alert_id = parse_id(token)
            if alert_id is None:
                raise InvalidInput("ids", f'expected alert ids (whole numbers), got "{token[:32]}"')
            found[alert_id] = None
            if len(found) > BULK_LIMIT:
                raise InvalidInput(
                    "ids", f"expected at most {BULK_LIMIT} alerts at once; select fewer"
                )
    if not found:
        raise InvalidInput("ids", "select at least one alert")
    return tuple(found)


def summary(outcomes: Sequence[Outcome]) -> str:
    """``3 acknowledged, 1 already resolved``."""
    counted = Counter(outcome.result for outcome in outcomes)
    return ", ".join(f"{counted[result]} {result}" for result in _ORDER if counted[result])


def _parse_action(form: Form) -> tuple[str, timedelta | None]:
    chosen = form.get("action", "")
    if chosen not in ACTIONS_OFFERED:
        expected = ", ".join(f'"{name}"' for name in ACTIONS_OFFERED)
        raise InvalidInput("action", f'expected one of {expected}, got "{chosen[:32]}"')
    return chosen, parse_snooze(form.get("for")) if chosen == "snooze" else None


async def _act(
    actions: AlertActions,
    chosen: str,
    duration: timedelta | None,
    alert_id: int,
    before: Alert | None,
    actor: Actor,
) -> Outcome:
    """One alert through the service its own button calls. Resolving a resolved one changes
    nothing there, and is reported as already done."""
    request_id = request_id_var.get()
    try:
        if chosen == "resolve":
            alert = await actions.resolve(alert_id, actor, None, request_id)
            already = (before is not None and before.status is AlertStatus.RESOLVED) or (
                alert.resolved_by != actor.name
            )
            return Outcome(alert_id, before, ALREADY_RESOLVED if already else DONE[chosen])
        assert duration is not None
        await actions.snooze(alert_id, duration, actor, None, request_id)
        return Outcome(alert_id, before, DONE[chosen])
    except NotFound as exc:
        return Outcome(alert_id, before, NOT_FOUND, status_of(exc), str(exc))
    except Conflict as exc:  # snoozing an alert that has been resolved
        return Outcome(alert_id, before, ALREADY_RESOLVED, status_of(exc), str(exc))
    except FirebreakError as exc:  # the database went away meanwhile
        return Outcome(alert_id, before, FAILED, status_of(exc), str(exc))


def _row(outcome: Outcome, chosen: str, actor: Actor, form: Form) -> dict[str, Any]:
    """The audit row of one alert acted on: as its own button's, marked ``bulk``."""
    detail: dict[str, Any] = {"bulk": True}
    if chosen == "snooze":
        detail["for"] = form.get("for", "")
    if outcome.error:
        detail["error"] = outcome.error
    return {
        "actor": actor.name,
        "interface": "console",
        "action": chosen,
        "target": str(outcome.alert_id),
        "outcome": audit_outcome(outcome.status),
        "status": outcome.status,
        "request_id": request_id_var.get(),
        "detail": detail,
    }


async def _acknowledge_all(
    actions: AlertActions, ids: Sequence[int], before: Mapping[int, Alert], actor: Actor
) -> list[Outcome]:
    """Acknowledge them all in one statement; what came of each, as its own button says it."""
    try:
        changed, found = await actions.acknowledge_many(ids, actor, None, request_id_var.get())
    except FirebreakError as exc:  # the database went away: none of them changed
        return [Outcome(i, before.get(i), FAILED, status_of(exc), str(exc)) for i in ids]
    done = set(changed)
    refused = not_acknowledged(ids, changed, found)
    outcomes = []
    for alert_id in ids:
        problem = refused.get(alert_id)
        if isinstance(problem, NotFound):
            outcome = Outcome(alert_id, None, NOT_FOUND, status_of(problem), str(problem))
        elif problem is not None:
            outcome = Outcome(
                alert_id, before.get(alert_id), ALREADY_RESOLVED, status_of(problem), str(problem)
            )
        elif alert_id in done:
            outcome = Outcome(alert_id, before.get(alert_id), DONE["acknowledge"])
        else:
            outcome = Outcome(alert_id, before.get(alert_id), ALREADY_ACKNOWLEDGED)
        outcomes.append(outcome)
    return outcomes


async def _outcomes(
    request: web.Request,
    chosen: str,
    duration: timedelta | None,
    ids: Sequence[int],
    before: Mapping[int, Alert],
    actor: Actor,
    form: Form,
) -> list[Outcome]:
    """Acknowledge them all at once and write their audit rows at once; or resolve or snooze
    each in turn, an audit row after each."""
    audit = request.app[AUDIT]
    if chosen == "acknowledge":
        try:
            outcomes = await _acknowledge_all(request.app[ACTIONS], ids, before, actor)
        except Exception:  # a defect: the alerts' rows say so before the error page does
            outcomes = [Outcome(i, before.get(i), FAILED, 500, "internal error") for i in ids]
            await audit.record_many([_row(o, chosen, actor, form) for o in outcomes])
            raise
        await audit.record_many([_row(o, chosen, actor, form) for o in outcomes])
        return outcomes
    outcomes = []
    for alert_id in ids:
        try:
            outcome = await _act(
                request.app[ACTIONS], chosen, duration, alert_id, before.get(alert_id), actor
            )
        except Exception:  # a defect: this alert's row says so before the error page does
            outcome = Outcome(alert_id, before.get(alert_id), FAILED, 500, "internal error")
            await audit.record(**_row(outcome, chosen, actor, form))
            raise
        outcomes.append(outcome)
        await audit.record(**_row(outcome, chosen, actor, form))
    return outcomes


@action(Role.RESPONDER, fields=_FIELDS)
async def bulk(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    """Act on every alert selected, an audit row for each."""
    chosen, duration = _parse_action(form)
    ids = parse_ids(form.getall("ids", []))
    before = await request.app[STORE].alerts_with_ids(ids)
    actor = Actor(session.principal.name, "console")
    request[AUDITED_PER_ALERT] = True
    outcomes = await _outcomes(request, chosen, duration, ids, before, actor, form)
    return render(
        request,
        "bulk.html",
        session,
        chosen=chosen,
        outcomes=outcomes,
        summary=summary(outcomes),
        back=safe_next(form.get("back")),
    )
