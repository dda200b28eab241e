"""Acting on several alerts at once from the alerts page: acknowledge, resolve or snooze the
alerts selected, each through the same AlertActions and rules as its own button, each its own
audit row, and a page saying what came of every one ("3 acknowledged, 1 already resolved").

The request is refused as a whole (one audit row, ``bulk``) when it is not a responder's from
the console's own page, or when the selection does not parse; otherwise every alert selected
is acted on, and one that cannot be is reported, never skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from receiver.actions import AlertActions
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
# alert is a transaction and an audit row of its own.
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
    """One alert through the service its own button calls. Acknowledging an acknowledged alert
    or resolving a resolved one changes nothing there, and is reported as already done."""
    request_id = request_id_var.get()
    try:
        if chosen == "acknowledge":
            alert = await actions.acknowledge(alert_id, actor, None, request_id)
            already = (before is not None and before.acknowledged_at is not None) or (
                alert.acknowledged_by != actor.name
            )
            return Outcome(alert_id, before, ALREADY_ACKNOWLEDGED if already else DONE[chosen])
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
    except Conflict as exc:  # acknowledging or snoozing an alert that has been resolved
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


@action(Role.RESPONDER, fields=_FIELDS)
async def bulk(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    """Act on every alert selected, one after the other, an audit row after each."""
    chosen, duration = _parse_action(form)
    ids = parse_ids(form.getall("ids", []))
    before = await request.app[STORE].alerts_with_ids(ids)
    actor = Actor(session.principal.name, "console")
    audit = request.app[AUDIT]
    request[AUDITED_PER_ALERT] = True
    outcomes: list[Outcome] = []
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
    return render(
        request,
        "bulk.html",
        session,
        chosen=chosen,
        outcomes=outcomes,
        summary=summary(outcomes),
        back=safe_next(form.get("back")),
    )
