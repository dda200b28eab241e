"""Acting on several alerts at once from the alerts page: acknowledge, resolve or snooze the
alerts selected, through the same AlertActions and rules as their own buttons, each its own
audit row, and a page saying what came of every one ("3 acknowledged, 1 already resolved").
Each action is one statement for all of them (``AlertActions.acknowledge_many``,
``resolve_many``, ``snooze_many``), one INSERT of their history and of their audit rows, and one
job telling the channels.

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
from receiver.model import Actor, Alert, Role, parse_id
from receiver.obs import request_id_var
from receiver.typedefs import ACTIONS, AUDIT, AUDITED_PER_ALERT, STORE
from receiver.web.middleware import audit_outcome, status_of
from receiver.web.params import parse_snooze

# At most this many alerts in one request: five pages of the listing as it opens, and all of
# them are acted on in one transaction.
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


async def _act_on_all(
    actions: AlertActions,
    chosen: str,
    duration: timedelta | None,
    ids: Sequence[int],
    before: Mapping[int, Alert],
    actor: Actor,
) -> list[Outcome]:
    """Act on them all in one statement, through the service their own buttons call; what
    came of each, as its own button says it."""
    request_id = request_id_var.get()
    try:
        if chosen == "acknowledge":
            changed, found = await actions.acknowledge_many(ids, actor, None, request_id)
        elif chosen == "resolve":
            changed, found = await actions.resolve_many(ids, actor, None, request_id)
        else:
            assert duration is not None
            changed, found = await actions.snooze_many(ids, duration, actor, None, request_id)
    except FirebreakError as exc:  # the database went away: none of them changed
        return [Outcome(i, before.get(i), FAILED, status_of(exc), str(exc)) for i in ids]
    done = set(changed)
    refused = _refused(chosen, ids, changed, found)
    outcomes = []
    for alert_id in ids:
        problem = refused.get(alert_id)
        if isinstance(problem, NotFound):
            outcome = Outcome(alert_id, None, NOT_FOUND, status_of(problem), str(problem))
        elif problem is not None:  # acknowledging or snoozing an alert that is resolved
            outcome = Outcome(
                alert_id, before.get(alert_id), ALREADY_RESOLVED, status_of(problem), str(problem)
            )
        elif alert_id in done:
            outcome = Outcome(alert_id, before.get(alert_id), DONE[chosen])
        else:  # resolving a resolved alert changes nothing there, as acknowledging again
            already = ALREADY_RESOLVED if chosen == "resolve" else ALREADY_ACKNOWLEDGED
            outcome = Outcome(alert_id, before.get(alert_id), already)
        outcomes.append(outcome)
    return outcomes


def _refused(
    chosen: str, ids: Sequence[int], changed: Sequence[int], found: Mapping[int, Alert]
) -> dict[int, FirebreakError]:
    """What the alert's own button would have been told, for each that could not be acted on."""
    if chosen == "acknowledge":
        return not_acknowledged(ids, changed, found)
    done = set(changed)
    refused: dict[int, FirebreakError] = {}
    for alert_id in ids:
        if alert_id not in found:
            refused[alert_id] = NotFound(f"alert {alert_id} does not exist")
        elif chosen == "snooze" and alert_id not in done:
            refused[alert_id] = Conflict(
                f"alert {alert_id} is resolved; there is nothing to snooze"
            )
    return refused


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


async def _outcomes(
    request: web.Request,
    chosen: str,
    duration: timedelta | None,
    ids: Sequence[int],
    before: Mapping[int, Alert],
    actor: Actor,
    form: Form,
) -> list[Outcome]:
    """Act on them all at once and write their audit rows at once."""
    audit = request.app[AUDIT]
    try:
        outcomes = await _act_on_all(request.app[ACTIONS], chosen, duration, ids, before, actor)
    except Exception:  # a defect: the alerts' rows say so before the error page does
        outcomes = [Outcome(i, before.get(i), FAILED, 500, "internal error") for i in ids]
        await audit.record_many([_row(o, chosen, actor, form) for o in outcomes])
        raise
    await audit.record_many([_row(o, chosen, actor, form) for o in outcomes])
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
