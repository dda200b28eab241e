"""The executor: runbook executions advanced one durable job per step.

- ``runbook_start`` (enqueued by the ``route`` job of a new firing alert, or the ``resolve`` job
  of one, as their reaction ``on_new`` / ``on_resolved``; keyed by runbook and occurrence so a
  re-sent webhook never starts a second) applies storm control —
  kill switch, breaker, cooldown, concurrency — and creates the execution, or records why not;
- ``runbook_step`` runs the step an execution is at: ``when``, the approval gate, rendering,
  the step itself under its timeout; then records its outcome, moves the execution on and
  enqueues the next step, all in one transaction. Retries and waits put the same job off;
- ``runbook_cleanup`` expires the silences an execution created, once it has ended.

A step that was running when the process died is found ``running`` by the same job when its
lease runs out: it runs again if it is safe to (``idempotent: true``, or it changes nothing),
else it is marked ``interrupted`` and the execution follows its ``on_failure``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.automation import activity
from receiver.automation.definitions import RunbookConfig, Runbooks, StepConfig
from receiver.automation.jobkinds import cleanup_job, drill_start_job, start_job, step_job
from receiver.automation.params import (
    fill_params,
    secret_values,
)
from receiver.automation.progress import Progress, ProgressHook
from receiver.automation.redaction import Redactor
from receiver.automation.sample import sample_alert, uses_sample
from receiver.automation.stepjob import StepJob
from receiver.automation.steps import (
    StepEnvironment,
    expire_silence,
    failed,
)
from receiver.durations import format_duration
from receiver.errors import InvalidInput
from receiver.grafana import annotation_job
from receiver.job_handlers import Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.matchers import matches_all
from receiver.metrics import Metrics
from receiver.model import Alert, EventKind, Execution, NewJob
from receiver.reactions import Reacted
from receiver.store import Store
from receiver.store.drills import Drill, DrillSQL
from receiver.store.executions import ExecutionSQL
from receiver.store.store import AlertState

log = logging.getLogger("firebreak.automation")

PAUSED = "paused"  # the automation_settings key of the kill switch
_PAUSED_RECHECK = timedelta(seconds=5)
_FINAL_STEP = ("succeeded", "failed", "skipped", "interrupted", "cancelled")


class Executor:
    """The job handlers of runbook automation over one set of runbooks."""

    def __init__(
        self,
        runbooks: Runbooks,
        store: Store,
        metrics: Metrics,
        environment: StepEnvironment,
        automatic: bool = True,
        dry_run: bool = False,
        annotate: bool = False,
        progress: ProgressHook | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.runbooks = runbooks
        self.store = store
        self.sql = ExecutionSQL(store.dialect)
        self.drills = DrillSQL()
        self.metrics = metrics
        self.environment = environment
        self._automatic = automatic
        self._dry_run = dry_run  # automation.mode: dry_run: automatic runs change nothing
        self._annotate = annotate  # write Grafana annotations when executions start and end
        self._progress = progress
        # What step records may not hold (configured secrets), and how big they may grow.
        self.redactor = redactor or Redactor()

    def handlers(self) -> dict[str, Handler]:
        return {
            "runbook_start": self.start,
            "runbook_step": self.step,
            "runbook_cleanup": self.cleanup,
        }

    # -- starting from alerts -----------------------------------------------------------------

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """New firing alerts start the runbooks they match (the ``route`` job's part): a
        re-sent webhook stores no new alert, so starts nothing."""
        return await self._started(conn, ctx, alerts, "firing")

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """Ended alerts start the runbooks that match them resolved."""
        return await self._started(conn, ctx, alerts, "resolved")

    async def _started(
        self,
        conn: AsyncConnection,
        ctx: JobContext,
        alerts: Mapping[int, AlertState],
        status: str,
    ) -> Reacted:
        if not self._automatic or not len(self.runbooks):
            return Reacted()
        ours = [a for a in alerts.values() if a.status.value == status]
        drills = await self.drills.of_alerts(conn, ((a.id, a.labels) for a in ours))
        return Reacted(
            enqueue=[
                job
                for alert in ours
                for job in self._starts(alert.id, alert.labels, status, ctx.now, drills)
            ]
        )

    def _starts(
        self,
        alert_id: int,
        labels: Mapping[str, str],
        status: str,
        now: datetime,
        drills: Mapping[int, Drill],
    ) -> list[NewJob]:
        drill = drills.get(alert_id)
        if drill is None:  # drill-looking labels without a recorded drill are just labels
            return [
                start_job(rb.id, alert_id, status, now)
                for rb in self.runbooks.matching(labels, status)
            ]
        # A drill's alert starts the runbook being drilled and nothing else, once.
        runbook = self.runbooks.get(drill.runbook)
        if runbook is None or status != "firing" or not matches_all(runbook.matchers(), labels):
            return []
        return [drill_start_job(drill.id, runbook.id, alert_id, now)]

    async def start(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        drill: Drill | None = None
        async with self.store.connection() as conn:
            found = await self.store.alerts_by_ids(conn, [p["alert_id"]])
            if "drill" in p:
                drill = (await self.drills.get(conn, [p["drill"]])).get(p["drill"])
        if not found:
            return Done("alert_gone")
        alert = found[0]
        if "drill" in p:
            # What the drill is comes from its record, never from the alert or the job.
            if drill is None or not drill.is_of(alert.id, alert.labels):
                return Done("not_a_drill")
            async with self.store.transaction(durable=False) as conn:
                if not await self.drills.bind(conn, drill.id, alert.id):
                    return Done("drill_taken")
        runbook = self.runbooks.get(drill.runbook if drill else p["runbook"])
        if runbook is None:
            return Done("unknown_runbook")
        execution, _created = await self.create(
            runbook,
            alert=alert,
            trigger="drill" if drill else "auto",
            actor=drill.actor if drill else "firebreak",
            trigger_context={"drill": drill.id, "live": drill.live} if drill else {},
            dry_run=not drill.live if drill else self._dry_run,
            start_key=ctx.job.idempotency_key,
            now=ctx.now,
        )
        if execution.state == "pending":
            follow = [step_job(execution.id, "run", 0, ctx.now)]
            follow += self._annotation(execution, "started", ctx.now)
            return Done("started", enqueue=follow)
        return Done(execution.state)

    async def create(
        self,
        runbook: RunbookConfig,
        *,
        alert: Alert | None,
        trigger: str,
        actor: str,
        trigger_context: Mapping[str, Any],
        dry_run: bool,
        start_key: str,
        now: datetime,
        once: bool = False,
        given: Mapping[str, Any] | None = None,
        override_breaker: bool = False,
    ) -> tuple[Execution, bool]:
        """Create an execution (``pending``, or ``skipped`` when the kill switch or storm
        control holds it back, or ``failed`` when its parameters cannot be filled or are not
        what the runbook declares) together with its first step's job. ``given``: parameters a
        person set at a manual run (``params.manual_values``). A manual run whose parameters
        fail raises ``InvalidInput`` instead and creates nothing. Creating with the same
        ``start_key`` again changes nothing, and so, with ``once``, does creating one while an
        execution of the runbook for the alert's fingerprint has not ended: that execution is
        returned instead. ``override_breaker`` (an admin's run by hand) lets a run past an open
        breaker."""
        error: str | None = None
        sample = uses_sample(dry_run, alert.id if alert else None, trigger)
        try:
            params = fill_params(
                runbook,
                sample_alert(runbook, now) if sample else alert,
                trigger_context,
                given,
                sample=sample,
            )
        except InvalidInput as exc:
            if trigger != "auto":
                raise
            params, error = {}, self.redactor.error(str(exc))
        # Not fsynced on SQLite: lost only with the job that made it (which then runs again),
        # and the first step's durable "running" mark covers it before anything happens.
        async with self.store.transaction(durable=False) as conn:
            await self.sql.serialize(conn, f"runbook:{runbook.id}")
            if once and alert is not None:
                running = await self.sql.active_execution(conn, runbook.id, alert.fingerprint)
                if running is not None:
                    return running, False
            refusal, overridden = None, None
            # Automatic dry runs too: they show what automation would do, held back alike.
            if error is None and (trigger == "auto" or not dry_run):
                refusal = await self._refusal(
                    conn, runbook, alert, now, trigger, breaker=not override_breaker
                )
                if refusal is None and override_breaker:
                    overridden = await self._open_breaker(conn, runbook, now)
            state = "skipped" if refusal else "failed" if error else "pending"
            values = {
                "runbook": runbook.id,
                "alert_id": alert.id if alert else None,
                "fingerprint": alert.fingerprint if alert else None,
                "trigger": trigger,
                "dry_run": dry_run,
                "state": state,
                "actor": actor,
                "params": params,
                "trigger_context": dict(trigger_context),
                "start_key": start_key,
                "phase": "run",
                "position": 0,
                "error": refusal or error,
                "created_at": now,
                "updated_at": now,
                "finished_at": now if state != "pending" else None,
            }
            how = ", for a sample alert" if sample else ""
            note = (
                refusal
                or error
                or f"{trigger} run by {actor}"
                + (f" (dry run{how})" if dry_run else "")
                + (f"; open breaker overridden ({overridden})" if overridden else "")
            )
            execution, created = await self.sql.create(conn, values, actor, note)
            if created and execution.state == "pending":
                await self.store.jobs.enqueue(conn, [step_job(execution.id, "run", 0, now)], now)
            if created and alert is not None:
                by = "" if trigger == "auto" else f" by {actor}"
                text = (
                    f"runbook {runbook.id} not started: {refusal or error}"
                    if state != "pending"
                    else f"runbook {runbook.id} started{by}: execution {execution.id}"
                    + (" (dry run)" if dry_run else "")
                )
                who = "firebreak" if trigger == "auto" else actor
                await self.store.record(conn, [_alert_event(alert.id, now, text, who)], [])
            if created:
                told = Progress(execution, "created", state, "created", None, refusal or error)
                await self.tell(conn, told, now)
        if created:
            secrets = self.redactor.adding(secret_values(runbook, params)).secrets
            activity.execution_created(execution, state, refusal or error, secrets)
            if refusal:
                self.metrics.storm_trips.labels(runbook.id, refusal.split(":", 1)[0]).inc()
            if state != "pending":
                self.metrics.executions.labels(runbook.id, state).inc()
        return execution, created

    async def _refusal(
        self,
        conn: AsyncConnection,
        runbook: RunbookConfig,
        alert: Alert | None,
        now: datetime,
        trigger: str,
        *,
        breaker: bool = True,
    ) -> str | None:
        """Why the kill switch or storm control holds a run back, or None. Every run that
        changes things passes the kill switch, the breaker and concurrency; the cooldown
        damps automatic runs of a flapping alert, and a person's run by hand is not one."""
        if await self.paused(conn):
            return "paused: automation is paused (firebreak automation resume)"
        if breaker and (open_breaker := await self._open_breaker(conn, runbook, now)):
            if trigger == "auto":
                return f"{open_breaker}; automatic runs stopped, escalating to people"
            return f"{open_breaker}; an admin may reset it, or run this with override_breaker"
        if alert is not None:
            last = (
                await self.sql.last_automatic_start(conn, runbook.id, alert.fingerprint)
                if trigger == "auto"
                else None
            )
            if last is not None and now - last < runbook.cooldown:
                cooldown = format_duration(runbook.cooldown)
                return f"cooldown: ran for this alert at {last.isoformat()} (cooldown {cooldown})"
            if (
                await self.sql.active(conn, runbook.id, alert.fingerprint)
                >= runbook.concurrency.per_alert
            ):
                return (
                    f"concurrency: {runbook.concurrency.per_alert} running for this alert already"
                )
        if await self.sql.active(conn, runbook.id) >= runbook.concurrency.max:
            return f"concurrency: {runbook.concurrency.max} running already"
        return None

    async def _open_breaker(
        self, conn: AsyncConnection, runbook: RunbookConfig, now: datetime
    ) -> str | None:
        """``breaker: ...`` when the runbook's automatic runs failed too often lately."""
        since = now - runbook.breaker.window
        reset = await self.sql.setting(conn, f"breaker_reset:{runbook.id}")
        if reset:
            since = max(since, datetime.fromisoformat(reset["at"]))
        failures = await self.sql.failures_since(conn, runbook.id, since)
        if failures < runbook.breaker.failures:
            return None
        window = format_duration(runbook.breaker.window)
        return f"breaker: {failures} failed automatic runs within {window}"

    async def paused(self, conn: AsyncConnection) -> bool:
        value = await self.sql.setting(conn, PAUSED)
        return bool(value and value.get("paused"))

    # -- steps --------------------------------------------------------------------------------

    async def step(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        eid, phase, position = p["execution_id"], p["phase"], p["position"]
        async with self.store.connection() as conn:
            execution = await self.sql.get(conn, eid)
            if execution is None:
                return Done("gone")
            if execution.final or (execution.phase, execution.position) != (phase, position):
                return Done("stale")
            if not execution.dry_run and await self.paused(conn):
                return Defer(until=ctx.now + _PAUSED_RECHECK, reason="automation paused")
            rows = await self.sql.steps(conn, eid)
            alerts = (
                await self.store.alerts_by_ids(conn, [execution.alert_id])
                if execution.alert_id
                else []
            )
        runbook = self.runbooks.get(execution.runbook)
        step = _step_at(runbook, execution) if runbook else None
        if runbook is None or step is None:
            async with self.store.transaction() as conn:
                await self.finish(
                    conn, execution, "failed", ctx.now, error="runbook or step no longer defined"
                )
            return Done("runbook_gone")
        row = next((r for r in rows if (r.phase, r.position) == (phase, position)), None)
        if row is None:
            async with self.store.transaction(durable=False) as conn:
                row = await self.sql.open_step(conn, eid, phase, position, step.id, step.type)
        if row.state in _FINAL_STEP:
            return Done("stale")
        run = StepJob(self, ctx, execution, runbook, step, row, alerts[0] if alerts else None, rows)
        if row.state == "running":
            if row.job_id != ctx.job.id:
                return Done("stale")  # another job runs it; it settles it
            if not step.rerun_safe:
                return await run.settle(
                    failed(
                        "interrupted: the process stopped while the step was running and "
                        "the step is not marked idempotent"
                    ),
                    state="interrupted",
                )
        return await run.go()

    async def finish(
        self,
        conn: AsyncConnection,
        execution: Execution,
        state: str,
        now: datetime,
        *,
        error: str | None = None,
        at: tuple[str, int] | None = None,
        actor: str = "firebreak",
        **values: Any,
    ) -> bool:
        """End an execution (guarded), queue the expiry of its silences, count it, and trip
        the runbook's breaker when this failure is one too many."""
        changed = await self.sql.transition(
            conn,
            execution,
            state,
            now,
            actor=actor,
            note=error,
            at=at,
            error=error or execution.error,
            **values,
        )
        if not changed:
            return False
        ended = replace(execution, state=state, error=error or execution.error)
        secrets = self.redactor.adding(
            activity.secrets_of(self.runbooks.get(execution.runbook), execution.params)
        ).secrets
        activity.execution_ended(execution, state, now, error, secrets)
        await self.tell(conn, Progress(ended, "ended", state, f"ended:{state}", None, error), now)
        follow = [cleanup_job(execution.id, now), *self._annotation(execution, state, now)]
        await self.store.jobs.enqueue(conn, follow, now)
        self.metrics.executions.labels(execution.runbook, state).inc()
        if execution.trigger == "auto" and state in ("failed", "rolled_back"):
            runbook = self.runbooks.get(execution.runbook)
            if runbook is not None:
                failures = await self.sql.failures_since(
                    conn, runbook.id, now - runbook.breaker.window
                )
                if failures >= runbook.breaker.failures:
                    self.metrics.storm_trips.labels(runbook.id, "breaker").inc()
                    log.error(
                        "runbook %s breaker open: %d failed automatic runs within %s",
                        runbook.id,
                        failures,
                        format_duration(runbook.breaker.window),
                    )
        return True

    async def tell(self, conn: AsyncConnection, progress: Progress, now: datetime) -> None:
        """Enqueue what the progress hook makes of an event of an execution for an alert, in
        the caller's transaction."""
        if self._progress is None or progress.execution.alert_id is None:
            return
        jobs = self._progress(progress, now)
        if jobs:
            await self.store.jobs.enqueue(conn, jobs, now)

    def _annotation(self, execution: Execution, event: str, now: datetime) -> list[NewJob]:
        if not self._annotate or execution.dry_run:
            return []
        text = (
            f"runbook {execution.runbook} {event} (execution {execution.id}, {execution.trigger})"
        )
        key = f"execution:{execution.id}:{event}"
        return [annotation_job(key, text, ["firebreak", "runbook", event], now)]

    async def cleanup(self, ctx: JobContext) -> Outcome:
        """Expire the silences a finished execution created."""
        eid = ctx.job.payload["execution_id"]
        async with self.store.connection() as conn:
            rows = await self.sql.steps(conn, eid)
        problems = []
        for row in rows:
            if (
                row.type == "silence"
                and isinstance(row.output, dict)
                and row.output.get("silence_id")
            ):
                problem = await expire_silence(self.environment, row.output["silence_id"])
                if problem:
                    problems.append(problem)
        if problems:
            return Retry("; ".join(problems))
        return Done("cleaned")


def _step_at(runbook: RunbookConfig, execution: Execution) -> StepConfig | None:
    if execution.phase == "run":
        return (
            runbook.steps[execution.position] if execution.position < len(runbook.steps) else None
        )
    plan = execution.rollback_plan or []
    if execution.position >= len(plan) or plan[execution.position] >= len(runbook.steps):
        return None
    return runbook.steps[plan[execution.position]].rollback


def _alert_event(alert_id: int, at: datetime, note: str, actor: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": EventKind.RUNBOOK.value,
        "at": at,
        "actor": actor,
        "note": note,
        "request_id": None,
    }
