"""Runbook executions on alert messages: which runbooks a message offers to run (and where
their runs stand), and the thread notes an execution leaves as it progresses.

A message offers every runbook written for its firing alerts (``Runbooks.offered``), one
button each, with these rules so that a press never starts a second run of something already
going on:

- while an execution of the runbook for an alert has not ended, that alert is not offered (a
  press on an older copy of the message finds the execution and starts nothing);
- a runbook that starts by itself is offered only once it has had an execution for the alert
  (it ended, or storm control held it back): the automatic run comes first, a run by hand is
  a second try — unless automation is in dry-run mode: then the automatic run changes nothing
  and a person may run the runbook for real at once;
- a drill's alert is never offered: a synthetic alert must not start a runbook for real (an
  alert that only carries a ``firebreak_drill`` label is no drill, and is offered as any).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from receiver.automation.definitions import Runbooks
from receiver.automation.progress import Progress, ProgressHook
from receiver.model import DRILL_LABEL
from receiver.notify.slack import OfferLookup
from receiver.notify.slack.blocks import MessageAlert, RunbookOffer
from receiver.notify.slack.mrkdwn import escape, escape_within, user_mention
from receiver.store import Store
from receiver.store.drills import DrillSQL
from receiver.store.executions import ACTIVE_STATES, Execution, ExecutionSQL
from receiver.store.jobs import NewJob

__all__ = ["progress_hook", "progress_note", "runbook_offers"]

KIND = "slack_update"


def runbook_offers(
    store: Store, runbooks: Runbooks, automatic: bool, dry_run: bool = False
) -> OfferLookup:
    """Reads the executions for a message's alerts from the store; ``automatic`` is
    ``automation.automatic`` (off: no runbook starts by itself), ``dry_run`` whether
    ``automation.mode`` makes what starts by itself a dry run."""
    sql = ExecutionSQL(store.dialect)

    async def lookup(alerts: Sequence[MessageAlert]) -> tuple[RunbookOffer, ...]:
        written: dict[str, list[MessageAlert]] = {}
        by_itself: dict[str, bool] = {}
        drills: set[int] = set()
        if any(DRILL_LABEL in a.labels for a in alerts):
            async with store.connection() as conn:
                drills = set(await DrillSQL().of_alerts(conn, ((a.id, a.labels) for a in alerts)))
        for alert in alerts:
            if alert.id in drills:
                continue
            for runbook in runbooks.offered(alert.labels):
                written.setdefault(runbook.id, []).append(alert)
                by_itself[runbook.id] = automatic and runbook.automatic
        if not written:
            return ()
        async with store.connection() as conn:
            found = await sql.for_alerts(conn, [a.id for a in alerts])
        return tuple(
            _offer(
                runbook,
                matched,
                by_itself[runbook],
                [e for e in found if e.runbook == runbook],
                dry_run,
            )
            for runbook, matched in written.items()
        )

    return lookup


def _offer(
    runbook: str,
    alerts: Sequence[MessageAlert],
    by_itself: bool,
    runs: Sequence[Execution],
    dry_run: bool,
) -> RunbookOffer:
    """``runs``: the runbook's executions (dry runs left out) for these alerts, newest first."""
    busy = {e.alert_id for e in runs if e.state in ACTIVE_STATES}
    ran = {e.alert_id for e in runs}
    goes_first = by_itself and not dry_run
    pressable = tuple(
        a.id
        for a in alerts
        if a.status == "firing" and a.id not in busy and (a.id in ran or not goes_first)
    )
    latest = runs[0] if runs else None
    return RunbookOffer(
        runbook,
        pressable,
        automatic=by_itself,
        execution_id=latest.id if latest else None,
        state=latest.state if latest else None,
        dry_run=by_itself and dry_run,
    )


def progress_hook(command: str) -> ProgressHook:
    """The ``slack_update`` job that notes an execution's progress in the thread of its
    alert's messages and updates them; ``command`` is the slash command people approve with."""

    def jobs(progress: Progress, now: datetime) -> list[NewJob]:
        execution = progress.execution
        assert execution.alert_id is not None
        return [
            NewJob(
                kind=KIND,
                payload={
                    "alert_ids": [execution.alert_id],
                    "action": "runbook",
                    "note": progress_note(progress, command),
                },
                due_at=now,
                idempotency_key=f"{KIND}:execution:{execution.id}:{progress.key}",
                # Notes due together go out as one job, in the order they were made.
                coalesce_key=f"{KIND}:alert:{execution.alert_id}",
            )
        ]

    return jobs


def _who(actor: str) -> str:
    interface, _, name = actor.partition(":")
    return user_mention(name) if interface == "slack" and name else escape(actor)


def progress_note(progress: Progress, command: str) -> str:
    """One thread reply, in mrkdwn; everything from a runbook or an error escaped."""
    execution, state = progress.execution, progress.state
    name = f"`{escape(execution.runbook)}`"
    run = f"execution {execution.id}" + (" (dry run)" if execution.dry_run else "")
    detail = escape_within(progress.detail or "", 300)
    if progress.event == "created":
        if state == "pending":
            by = "by itself" if execution.trigger == "auto" else f"by {_who(execution.actor)}"
            return f":gear: Runbook {name} started {by}: {run}."
        return f":no_entry: Runbook {name} not started: {detail}"
    if progress.event == "step":
        step = f"`{escape(progress.step or '')}`"
        line = f"• Step {step} of {name} ({run}): {state}"
        return line + (f" — {detail}" if detail and state in ("failed", "interrupted") else "")
    if progress.event == "waiting_approval":
        step = f"`{escape(progress.step or '')}`"
        asks = f"\n> {escape_within(progress.message, 500)}\n" if progress.message else " "
        return (
            f":raised_hand: Runbook {name} ({run}) waits at step {step} for approval by "
            f"{detail or 'a responder'}:{asks}`{command} approve {execution.id}`"
        )
    icon = ":white_check_mark:" if state == "succeeded" else ":x:"
    return f"{icon} Runbook {name} {state} ({run})" + (f": {detail}" if detail else ".")
