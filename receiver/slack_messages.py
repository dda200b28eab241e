"""What Slack says about alerts, read from the store: the service behind the Slack channel's
messages and the ``slack_update`` job.

Keeping messages current when people change what no notice covers. Acknowledgements and
resolves reach Slack as notices (the Slack channel follows acknowledgements), which update the
messages. A snooze is no notice, so it enqueues one ``slack_update`` job in its own transaction
(see ``AlertActions``); the job re-renders every Slack message sent about the alert from the
store (``chat.update``). A runbook execution's progress is the same job with a ``note``, which
first goes into each message's thread. It is a durable job like any send: Slack's 429 defers it
by ``Retry-After``, a failure retries it with backoff, and repeating it only renders the same
state again. A note goes out once: a run of the job that was claimed before (its answer lost,
its process cut off or gone, or deferred) looks in the thread for a reply carrying the job's key
before it posts; a first run does not (no earlier run can have posted it).

Runbooks on alert messages. A message offers every runbook written for its firing alerts
(``Runbooks.offered``), one button each, with these rules so that a press never starts a second
run of something already going on:

- while an execution of the runbook for an alert has not ended, that alert is not offered (a
  press on an older copy of the message finds the execution and starts nothing);
- a runbook that starts by itself is offered only once it has had an execution for the alert
  (it ended, or storm control held it back): the automatic run comes first, a run by hand is
  a second try — unless automation is in dry-run mode: then the automatic run changes nothing
  and a person may run the runbook for real at once;
- a drill's alert is never offered: a synthetic alert must not start a runbook for real (an
  alert that only carries a ``firebreak_drill`` label is no drill, and is offered as any).

Who was paged. A message names the people its alerts' tiers paged (``paged_lookup``, from the
``pages`` rows), mentioning each by their Slack user id, so the channel sees who is on it; a
page's direct message brings the channel messages up to date.

The lookups (``state_lookup``, ``reference_lookup``, ``runbook_offers``, ``paged_lookup``) are
what the Slack channel in ``receiver.notify.slack`` is handed, so that it renders without
knowing the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from receiver.actions import FollowUps
from receiver.alertmanager import format_rfc3339
from receiver.automation.definitions import Runbooks
from receiver.automation.progress import Progress, ProgressHook
from receiver.config import Config, PersonConfig
from receiver.job_handlers import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.maintenance import Hold, Maintenance
from receiver.model import ACTIVE_STATES, DRILL_LABEL, AlertStatus, Execution, NewJob
from receiver.notify.base import ChannelError, ChannelRejected, ChannelThrottled
from receiver.notify.slack import (
    MessageState,
    OfferLookup,
    PagedLookup,
    ReferenceLookup,
    SlackChannel,
    StateLookup,
)
from receiver.notify.slack.blocks import MessageAlert, PagedPerson, RunbookOffer
from receiver.notify.slack.mrkdwn import escape, escape_within, user_mention
from receiver.reactions import ids_key
from receiver.routing import Router
from receiver.store import Store
from receiver.store.drills import DrillSQL
from receiver.store.executions import ExecutionSQL
from receiver.store.messages import message_alerts, message_references, messages_about

__all__ = [
    "MessageUpdates",
    "alert_follow_ups",
    "message_update_job",
    "paged_lookup",
    "progress_hook",
    "progress_note",
    "reference_lookup",
    "runbook_offers",
    "slack_ahead",
    "state_lookup",
]

KIND = "slack_update"
# A note about alerts whose first Slack message has not gone out yet (a runbook that starts by
# itself is often quicker than the notice) waits for it, looking again every _NOTE_RECHECK,
# while that message may still come (``SlackAhead``), and this long at most.
_NOTE_WAIT = timedelta(minutes=2)
_NOTE_RECHECK = timedelta(seconds=1)

# Whether a first Slack message about any of these alerts may still come.
SlackAhead = Callable[[Sequence[int]], Awaitable[bool]]


def message_update_job(action: str, alert_ids: Sequence[int], now: datetime) -> list[NewJob]:
    """The job that brings the alerts' Slack messages up to date after ``action``: one for
    all of them, which updates each message once however many of its alerts changed."""
    ids = sorted(set(alert_ids))
    return [
        NewJob(
            kind=KIND,
            payload={"alert_ids": ids, "action": action},
            due_at=now,
            idempotency_key=f"{KIND}:{action}:{ids_key(ids)}:{now.timestamp():.6f}",
        )
    ]


def alert_follow_ups(config: Config) -> list[FollowUps]:
    """What people's actions on alerts enqueue besides their own jobs: with Slack channels
    configured, the update of the alerts' messages."""
    slack = config.slack is not None and any(c.type == "slack" for c in config.channels.values())
    return [message_update_job] if slack else []


def state_lookup(
    store: Store,
    channels: Sequence[str],
    router: Router,
    maintenance: Maintenance | None = None,
) -> StateLookup:
    """Reads the alerts behind a message of the Slack ``channels`` from the store; the
    escalation policy shown is the one their first route leads to, and the maintenance window
    holding each alert back, if one does."""
    names = list(channels)

    async def lookup(reference: str) -> MessageState | None:
        async with store.connection() as conn:
            ids, tier = await message_alerts(conn, names, reference)
            if not ids:
                return None
            alerts = await store.alerts_by_ids(conn, ids)
        ordered = sorted(alerts, key=lambda a: a.id)
        policy = router.route(ordered[0].labels)[0].escalation_policy if ordered else ""
        held = await maintenance.holding(ordered) if maintenance is not None else {}
        shown = [
            dataclasses.replace(MessageAlert.from_alert(a), held_by=_held_text(held[a.id]))
            if a.id in held
            else MessageAlert.from_alert(a)
            for a in ordered
        ]
        return MessageState(shown, tier, policy)

    return lookup


def _held_text(hold: Hold) -> str:
    return (
        f"maintenance window {hold.window.name} until "
        f"{format_rfc3339(hold.occurrence.end)} ({hold.window.reason})"
    )


def paged_lookup(store: Store, people: Sequence[PersonConfig]) -> PagedLookup:
    """The people tiers paged about alerts, as a message mentions them."""
    known = {p.id: p for p in people}

    async def lookup(alert_ids: Sequence[int]) -> tuple[PagedPerson, ...]:
        async with store.connection() as conn:
            pages = await store.pages.of_alerts(conn, alert_ids)
        found = []
        for page in pages:
            person = known.get(page.person)
            name = (person.name if person is not None else "") or page.person
            slack_id = person.slack_user_id if person is not None else None
            found.append(PagedPerson(name, slack_id, page.tier))
        return tuple(found)

    return lookup


def reference_lookup(store: Store, channels: Sequence[str]) -> ReferenceLookup:
    """Finds the Slack messages already sent about alerts (for a runbook step's thread)."""
    names = list(channels)

    async def lookup(alert_ids: Sequence[int]) -> list[str]:
        async with store.connection() as conn:
            return await message_references(conn, alert_ids, names)

    return lookup


def slack_ahead(store: Store, config: Config, router: Router) -> SlackAhead:
    """Whether Slack may still hear of some alerts: a notice to a Slack channel is on its way
    about them, or one of them is firing, unacknowledged, and routed to an escalation policy
    with a tier that notifies a Slack channel (or pages people, with ``paging.slack`` set).
    Otherwise — routed to PagerDuty only, acknowledged or resolved before its Slack tier — no
    first message is coming, and a note about them need not wait for one."""
    names = {name for name, channel in config.channels.items() if channel.type == "slack"}
    people = config.paging.slack in names
    reaching = {
        name
        for name, policy in config.escalation_policies.items()
        if any(
            t.channel in names or (people and t.people is not None)
            for tier in policy.tiers
            for t in tier.notify
        )
    }

    async def ahead(alert_ids: Sequence[int]) -> bool:
        async with store.connection() as conn:
            alerts = await store.alerts_by_ids(conn, alert_ids)
            groups = sorted({a.group_key for a in alerts})
            coming = await store.jobs.on_their_way(conn, groups) if groups else []
        ids = set(alert_ids)
        if any(
            j.payload.get("channel") in names and ids & set(j.payload.get("alert_ids") or ())
            for j in coming
        ):
            return True
        return any(
            a.status == AlertStatus.FIRING
            and a.acknowledged_at is None
            and any(m.escalation_policy in reaching for m in router.route(a.labels))
            for a in alerts
        )

    return ahead


class MessageUpdates:
    """The ``slack_update`` job handler over the configured Slack channels; ``ahead`` says
    whether a note about alerts without a Slack message yet should wait for one."""

    def __init__(
        self, store: Store, channels: Mapping[str, SlackChannel], ahead: SlackAhead | None = None
    ) -> None:
        self._store = store
        self._channels = channels
        self._ahead = ahead

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self.update}

    async def update(self, ctx: JobContext) -> Outcome:
        if (waiting := await self._earlier_note_waiting(ctx)) is not None:
            # An earlier note about the alert waits (for its message, or paced): the thread
            # reads in the order things happened, so this goes out with it.
            return Defer(until=max(waiting, ctx.now), reason="an earlier note waits")
        done: set[tuple[str, str]] = set()
        posted: list[int] = []  # the notes this run posted
        early = False
        # Notes in the order their events happened; a message is re-rendered once.
        for job in sorted(ctx.jobs, key=lambda j: j.id):
            note = job.payload.get("note")
            async with self._store.connection() as conn:
                found = await messages_about(conn, job.payload["alert_ids"], list(self._channels))
            if note and not found and ctx.now - job.created_at < _NOTE_WAIT:
                alert_ids = job.payload["alert_ids"]
                early = early or self._ahead is None or await self._ahead(alert_ids)
            for channel, reference in found:
                if not note and (channel, reference) in done:
                    continue
                try:
                    if note:
                        # As for a notice: looked for first only where a run may have posted it.
                        again = ctx.earlier_attempts(job)
                        ctx.in_doubt = True
                        await self._channels[channel].note(
                            reference, note, job.idempotency_key, again
                        )
                        posted.append(job.id)
                    else:
                        await self._channels[channel].refresh(reference)
                except ChannelThrottled as exc:
                    # Held back before it went out, unless notes before it in this run did.
                    ctx.in_doubt = exc.sent or bool(posted)
                    return Defer(
                        until=ctx.now + timedelta(seconds=exc.retry_after or 1.0),
                        reason=f"throttled: {exc}",
                    )
                except ChannelRejected as exc:
                    if "message_not_found" in str(exc):
                        continue  # deleted in Slack: nothing left to keep current
                    return DeadLetter(str(exc))
                except ChannelError as exc:
                    return Retry(str(exc))
                done.add((channel, reference))
        if early:
            # Notes already posted are posted once (by their keys) when this runs again.
            return Defer(until=ctx.now + _NOTE_RECHECK, reason="no Slack message about it yet")
        return Done("updated" if done else "no_messages")

    async def _earlier_note_waiting(self, ctx: JobContext) -> datetime | None:
        """When the earliest note made before these and still pending under their coalesce
        key falls due (notes of one alert share one), or None."""
        key = ctx.job.coalesce_key
        if not key or not any(job.payload.get("note") for job in ctx.jobs):
            return None
        async with self._store.connection() as conn:
            return await self._store.jobs.earlier_pending(
                conn, key, min(job.id for job in ctx.jobs)
            )


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
