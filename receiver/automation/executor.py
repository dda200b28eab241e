"""The executor: runbook executions advanced one durable job per step.

- ``runbook_start`` (enqueued by the routing of a new firing alert, or the resolve of one, keyed
  by runbook and occurrence so a re-sent webhook never starts a second) applies storm control —
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

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.automation.definitions import RunbookConfig, Runbooks, StepConfig
from receiver.automation.params import (
    alert_scope,
    fill_params,
    jsonable,
    redact,
    secret_values,
)
from receiver.automation.steps import (
    STEP_FUNCTIONS,
    Invocation,
    StepEnvironment,
    StepResult,
    describe,
    expire_silence,
    failed,
    succeeded,
)
from receiver.automation.templating import TemplateFailure, evaluate, render_value
from receiver.durations import format_duration
from receiver.errors import InvalidInput
from receiver.jobs import Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.matchers import matches_all
from receiver.metrics import Metrics
from receiver.model import DRILL_LABEL, Alert, EventKind
from receiver.store import Store
from receiver.store.executions import Execution, ExecutionSQL, StepRun
from receiver.store.jobs import NewJob

log = logging.getLogger("firebreak.automation")

PAUSED = "paused"  # the automation_settings key of the kill switch
DRILL_RUNBOOK_LABEL = "firebreak_drill_runbook"  # the runbook a drill alert is for
DRILL_LIVE_LABEL = "firebreak_drill_live"  # "true": the drill's execution is not a dry run
_PAUSED_RECHECK = timedelta(seconds=5)
_FINAL_STEP = ("succeeded", "failed", "skipped", "interrupted", "cancelled")


def start_job(runbook: str, alert_id: int, status: str, now: datetime) -> NewJob:
    """An automatic start; its key names the occurrence, so it is enqueued once."""
    return NewJob(
        kind="runbook_start",
        payload={"runbook": runbook, "alert_id": alert_id, "status": status},
        due_at=now,
        idempotency_key=f"runbook_start:{runbook}:{alert_id}:{status}",
    )


def step_job(execution_id: int, phase: str, position: int, now: datetime, tag: str = "") -> NewJob:
    key = f"runbook_step:{execution_id}:{phase}:{position}" + (f":{tag}" if tag else "")
    return NewJob(
        kind="runbook_step",
        payload={"execution_id": execution_id, "phase": phase, "position": position},
        due_at=now,
        idempotency_key=key,
    )


def cleanup_job(execution_id: int, now: datetime) -> NewJob:
    return NewJob(
        kind="runbook_cleanup",
        payload={"execution_id": execution_id},
        due_at=now,
        idempotency_key=f"runbook_cleanup:{execution_id}",
    )


@dataclass(frozen=True, slots=True)
class _Gate:
    """The approval a step waits for: an approval step's own, or the runbook's gate."""

    approvers: tuple[str, ...]
    timeout: timedelta
    is_gate: bool  # the step runs once approved (else approving completes it)


class Executor:
    """The job handlers of runbook automation over one set of runbooks."""

    def __init__(
        self,
        runbooks: Runbooks,
        store: Store,
        metrics: Metrics,
        environment: StepEnvironment,
        automatic: bool = True,
    ) -> None:
        self.runbooks = runbooks
        self._store = store
        self.sql = ExecutionSQL(store.dialect)
        self.metrics = metrics
        self.environment = environment
        self._automatic = automatic

    def handlers(self) -> dict[str, Handler]:
        return {
            "runbook_start": self.start,
            "runbook_step": self.step,
            "runbook_cleanup": self.cleanup,
        }

    # -- starting from alerts -----------------------------------------------------------------

    def after(self, handler: Handler, status: str) -> Handler:
        """``handler`` (escalation's route or resolve) that also starts the runbooks its new
        alerts match, in the same outcome: a re-sent webhook routes nothing, so starts nothing."""

        async def route_and_start(ctx: JobContext) -> Outcome:
            outcome = await handler(ctx)
            if not isinstance(outcome, Done) or not self._automatic or not len(self.runbooks):
                return outcome
            ids = sorted({i for j in ctx.jobs for i in j.payload.get("alert_ids", ())})
            async with self._store.connection() as conn:
                states = await self._store.alert_states(conn, ids, with_labels=True)
            starts = [
                job
                for alert in states.values()
                if alert.status.value == status
                for job in self._starts(alert.id, alert.labels, status, ctx.now)
            ]
            if not starts:
                return outcome
            return replace(outcome, enqueue=[*outcome.enqueue, *starts])

        return route_and_start

    def _starts(
        self, alert_id: int, labels: Mapping[str, str], status: str, now: datetime
    ) -> list[NewJob]:
        drill = labels.get(DRILL_LABEL)
        if drill is None:
            return [
                start_job(rb.id, alert_id, status, now)
                for rb in self.runbooks.matching(labels, status)
            ]
        # A drill alert starts the runbook being drilled and nothing else.
        runbook = self.runbooks.get(labels.get(DRILL_RUNBOOK_LABEL, ""))
        if runbook is None or status != "firing" or not matches_all(runbook.matchers(), labels):
            return []
        job = start_job(runbook.id, alert_id, status, now)
        live = labels.get(DRILL_LIVE_LABEL) == "true"
        return [replace(job, payload={**job.payload, "drill": drill, "live": live})]

    async def start(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        runbook = self.runbooks.get(p["runbook"])
        if runbook is None:
            return Done("unknown_runbook")
        async with self._store.connection() as conn:
            found = await self._store.alerts_by_ids(conn, [p["alert_id"]])
        if not found:
            return Done("alert_gone")
        alert = found[0]
        drill = p.get("drill")
        execution, _created = await self.create(
            runbook,
            alert=alert,
            trigger="drill" if drill else "auto",
            actor="firebreak",
            trigger_context={"drill": drill, "live": p.get("live", False)} if drill else {},
            dry_run=bool(drill) and not p.get("live"),
            start_key=ctx.job.idempotency_key,
            now=ctx.now,
        )
        if execution.state == "pending":
            return Done("started", enqueue=[step_job(execution.id, "run", 0, ctx.now)])
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
    ) -> tuple[Execution, bool]:
        """Create an execution (``running``, or ``skipped`` when storm control holds an
        automatic one back, or ``failed`` when its parameters cannot be filled) together with
        its first step's job. Creating with the same ``start_key`` again changes nothing."""
        error: str | None = None
        try:
            params = fill_params(runbook, alert, trigger_context)
        except InvalidInput as exc:
            if trigger != "auto":
                raise
            params, error = {}, str(exc)
        # Not fsynced on SQLite: lost only with the job that made it (which then runs again),
        # and the first step's durable "running" mark covers it before anything happens.
        async with self._store.transaction(durable=False) as conn:
            await self.sql.serialize(conn, f"runbook:{runbook.id}")
            refusal = None
            if trigger == "auto" and error is None:
                refusal = await self._refusal(conn, runbook, alert, now)
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
            note = (
                refusal or error or f"{trigger} run by {actor}" + (" (dry run)" if dry_run else "")
            )
            execution, created = await self.sql.create(conn, values, actor, note)
            if created and execution.state == "pending":
                await self._store.jobs.enqueue(conn, [step_job(execution.id, "run", 0, now)], now)
            if created and alert is not None and trigger == "auto":
                text = (
                    f"runbook {runbook.id} not started: {refusal or error}"
                    if state != "pending"
                    else f"runbook {runbook.id} started: execution {execution.id}"
                )
                await self._store.record(conn, [_alert_event(alert.id, now, text)], [])
        if created:
            if refusal:
                self.metrics.storm_trips.labels(runbook.id, refusal.split(":", 1)[0]).inc()
                log.warning(
                    "runbook %s not started for alert %s: %s",
                    runbook.id,
                    alert and alert.id,
                    refusal,
                )
            if state != "pending":
                self.metrics.executions.labels(runbook.id, state).inc()
        return execution, created

    async def _refusal(
        self, conn: AsyncConnection, runbook: RunbookConfig, alert: Alert | None, now: datetime
    ) -> str | None:
        """Why storm control holds an automatic run back, or None."""
        if await self.paused(conn):
            return "paused: automation is paused (firebreak automation resume)"
        since = now - runbook.breaker.window
        reset = await self.sql.setting(conn, f"breaker_reset:{runbook.id}")
        if reset:
            since = max(since, datetime.fromisoformat(reset["at"]))
        failures = await self.sql.failures_since(conn, runbook.id, since)
        if failures >= runbook.breaker.failures:
            return (
                f"breaker: {failures} failed automatic runs within "
                f"{format_duration(runbook.breaker.window)}; automatic runs stopped, "
                "escalating to people"
            )
        if alert is not None:
            last = await self.sql.last_automatic_start(conn, runbook.id, alert.fingerprint)
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

    async def paused(self, conn: AsyncConnection) -> bool:
        value = await self.sql.setting(conn, PAUSED)
        return bool(value and value.get("paused"))

    # -- steps --------------------------------------------------------------------------------

    async def step(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        eid, phase, position = p["execution_id"], p["phase"], p["position"]
        async with self._store.connection() as conn:
            execution = await self.sql.get(conn, eid)
            if execution is None:
                return Done("gone")
            if execution.final or (execution.phase, execution.position) != (phase, position):
                return Done("stale")
            if execution.trigger == "auto" and not execution.dry_run and await self.paused(conn):
                return Defer(until=ctx.now + _PAUSED_RECHECK, reason="automation paused")
            rows = await self.sql.steps(conn, eid)
            alerts = (
                await self._store.alerts_by_ids(conn, [execution.alert_id])
                if execution.alert_id
                else []
            )
        runbook = self.runbooks.get(execution.runbook)
        step = _step_at(runbook, execution) if runbook else None
        if runbook is None or step is None:
            async with self._store.transaction() as conn:
                await self.finish(
                    conn, execution, "failed", ctx.now, error="runbook or step no longer defined"
                )
            return Done("runbook_gone")
        row = next((r for r in rows if (r.phase, r.position) == (phase, position)), None)
        if row is None:
            async with self._store.transaction(durable=False) as conn:
                row = await self.sql.open_step(conn, eid, phase, position, step.id, step.type)
        if row.state in _FINAL_STEP:
            return Done("stale")
        run = _Run(self, ctx, execution, runbook, step, row, alerts[0] if alerts else None, rows)
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
        await self._store.jobs.enqueue(conn, [cleanup_job(execution.id, now)], now)
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

    async def cleanup(self, ctx: JobContext) -> Outcome:
        """Expire the silences a finished execution created."""
        eid = ctx.job.payload["execution_id"]
        async with self._store.connection() as conn:
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


def _alert_event(alert_id: int, at: datetime, note: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": EventKind.RUNBOOK.value,
        "at": at,
        "actor": "firebreak",
        "note": note,
        "request_id": None,
    }


class _Run:
    """One step job's work on one step of one execution."""

    def __init__(
        self,
        executor: Executor,
        ctx: JobContext,
        execution: Execution,
        runbook: RunbookConfig,
        step: StepConfig,
        row: StepRun,
        alert: Alert | None,
        rows: list[StepRun],
    ) -> None:
        self.x = executor
        self.ctx = ctx
        self.execution = execution
        self.runbook = runbook
        self.step = step
        self.row = row
        self.alert = alert
        self.rows = rows
        self.now = ctx.now
        self.at = (execution.phase, execution.position)

    def scope(self) -> dict[str, Any]:
        alert = alert_scope(self.alert)
        ex = self.execution
        return {
            "alert": alert,
            "labels": alert.get("labels", {}),
            "annotations": alert.get("annotations", {}),
            "params": dict(ex.params),
            "trigger_context": dict(ex.trigger_context),
            "execution": {
                "id": ex.id,
                "runbook": ex.runbook,
                "trigger": ex.trigger,
                "dry_run": ex.dry_run,
            },
            "steps": {
                r.step_id: {"state": r.state, "output": r.output, "error": r.error}
                for r in self.rows
                if r.phase == "run"
            },
        }

    def gate(self) -> _Gate | None:
        if self.step.approval is not None:
            a = self.step.approval
            return _Gate(a.approvers, a.timeout, is_gate=False)
        policy = self.runbook.approval
        if (
            policy.required
            and self.execution.trigger == "auto"
            and self.execution.phase == "run"
            and self.execution.approved_by is None
            and self.step.is_mutating
        ):
            return _Gate(policy.approvers, policy.timeout, is_gate=True)
        return None

    async def go(self) -> Outcome:
        step, row = self.step, self.row
        scope = self.scope()
        if step.when is not None and row.state == "pending":
            try:
                if not evaluate(step.when, scope, where=f"steps.{step.id}.when"):
                    return await self.settle(succeeded({"skipped": step.when}), state="skipped")
            except TemplateFailure as exc:
                return await self.settle(failed(str(exc)))
        gate = self.gate()
        if gate is not None and not self.execution.dry_run:
            decided = await self.approval(gate)
            if decided is not None:
                return decided
        try:
            section = step.section
            raw = {f.name: getattr(section, f.name) for f in fields(section)}
            inputs = render_value(raw, scope, where=f"steps.{step.id}.{step.type}")
        except TemplateFailure as exc:
            return await self.settle(failed(str(exc)))
        stored = redact(jsonable(inputs), secret_values(self.runbook, self.execution.params))
        if self.execution.dry_run:
            return await self.settle(
                succeeded(redact(jsonable(describe(step, inputs)), frozenset())), inputs=stored
            )
        if step.approval is not None:  # approved (decided above)
            return await self.settle(succeeded({"approved_by": row.decided_by}), inputs=stored)
        started_at = row.started_at or self.now
        async with self.x._store.transaction() as conn:
            await self.x.sql.update_step(
                conn,
                row.id,
                state="running",
                job_id=self.ctx.job.id,
                inputs=stored,
                started_at=started_at,
                attempt=row.attempt,
            )
            if self.execution.state == "pending":  # its first step starts now
                await self.x.sql.transition(conn, self.execution, "running", self.now, at=self.at)
        function = STEP_FUNCTIONS.get(step.type)
        if function is None:
            return await self.settle(failed(f"{step.type} steps are not supported"), inputs=stored)
        invocation = Invocation(
            step=step,
            inputs=inputs,
            key=f"step:{self.execution.id}:{self.execution.phase}:{self.execution.position}",
            execution_id=self.execution.id,
            labels=self.alert.labels if self.alert else {},
            alert=self.alert,
            drill=self.execution.trigger == "drill",
            started_at=started_at,
            now=self.now,
            env=self.x.environment,
        )
        began = time.perf_counter()
        try:
            result = await asyncio.wait_for(function(invocation), step.timeout.total_seconds())
        except TimeoutError:
            result = failed(f"timed out after {format_duration(step.timeout)}")
        self.x.metrics.step_duration.labels(step.type).observe(time.perf_counter() - began)
        return await self.settle(result, inputs=stored)

    async def approval(self, gate: _Gate) -> Outcome | None:
        """Wait for a decision; None once approved (the step goes on)."""
        row = self.row
        if row.decision == "approved":
            return None
        if row.decision == "rejected":
            return await self.settle(failed(f"rejected by {row.decided_by}"))
        waiting_since = row.started_at or self.now
        deadline = waiting_since + gate.timeout
        if self.now >= deadline:
            self.x.metrics.approval_wait.observe((self.now - waiting_since).total_seconds())
            return await self.settle(
                failed(f"approval timed out after {format_duration(gate.timeout)}")
            )
        if row.state != "waiting_approval":
            who = ", ".join(gate.approvers) or "any responder"
            async with self.x._store.transaction() as conn:
                await self.x.sql.update_step(
                    conn,
                    row.id,
                    state="waiting_approval",
                    started_at=waiting_since,
                    output={
                        "approvers": list(gate.approvers),
                        "gate": gate.is_gate,
                        "deadline": deadline.isoformat(),
                    },
                )
                await self.x.sql.transition(
                    conn,
                    self.execution,
                    "waiting_approval",
                    self.now,
                    at=self.at,
                    note=f"step {self.step.id} waits for approval by {who} "
                    f"until {deadline.isoformat()}",
                )
        return Defer(until=deadline, reason="waiting for approval")

    async def settle(
        self, result: StepResult, *, state: str | None = None, inputs: Any = None
    ) -> Outcome:
        """Record a step's outcome, move the execution on and enqueue what comes next, in one
        transaction; a waiting step or a retry puts this job off instead."""
        step, row, ex, now = self.step, self.row, self.execution, self.now
        if result.state == "waiting":
            async with self.x._store.transaction() as conn:
                await self.x.sql.update_step(conn, row.id, state="waiting", output=result.output)
            assert result.until is not None
            return Defer(until=result.until, reason=f"step {step.id} waiting")
        interrupted = state == "interrupted"
        if result.state == "failed" and not interrupted and row.attempt < step.retries:
            delay = step.backoff * (2**row.attempt)
            async with self.x._store.transaction() as conn:
                await self.x.sql.update_step(
                    conn,
                    row.id,
                    state="retrying",
                    attempt=row.attempt + 1,
                    error=result.error,
                    output=result.output,
                )
            return Defer(
                until=now + delay, reason=f"step {step.id} failed, retrying: {result.error}"
            )
        final = state or result.state
        duration = (now - row.started_at).total_seconds() if row.started_at else 0.0
        values: dict[str, Any] = {
            "state": final,
            "output": result.output,
            "error": result.error,
            "finished_at": now,
            "duration_seconds": max(duration, 0.0),
        }
        if inputs is not None:
            values["inputs"] = inputs
        follow: list[NewJob] = []
        async with self.x._store.transaction() as conn:
            await self.x.sql.update_step(conn, row.id, **values)
            current = await self.x.sql.get(conn, ex.id)
            if current is None or current.final or (current.phase, current.position) != self.at:
                return Done("settled_after_cancel")  # cancelled meanwhile: nothing follows
            if current.state != "running":
                await self.x.sql.transition(conn, current, "running", now, at=self.at)
                current = replace(current, state="running")
            follow = await self._next(conn, current, final, result.error)
            if follow:
                await self.x._store.jobs.enqueue(conn, follow, now)
        # The next step's job is in the same transaction as this record; handing it to the
        # runner as well (a no-op enqueue, same key) makes it claim it at once.
        return Done(final, enqueue=follow)

    async def _next(
        self, conn: AsyncConnection, ex: Execution, final: str, error: str | None
    ) -> list[NewJob]:
        step, now = self.step, self.now
        if final in ("failed", "interrupted"):
            what = f"step {step.id} {final}: {error}"
            if ex.phase == "rollback":
                await self.x.finish(conn, ex, "failed", now, error=f"rollback {what}", at=self.at)
                return []
            if step.on_failure == "abort":
                await self.x.finish(conn, ex, "failed", now, error=what, at=self.at)
                return []
            if step.on_failure == "rollback":
                done = {
                    r.position for r in self.rows if r.phase == "run" and r.state == "succeeded"
                }
                plan = [
                    i
                    for i in range(ex.position - 1, -1, -1)
                    if i in done and self.runbook.steps[i].rollback is not None
                ]
                if not plan:
                    await self.x.finish(
                        conn, ex, "failed", now, error=f"{what}; nothing to roll back", at=self.at
                    )
                    return []
                await self.x.sql.transition(
                    conn,
                    ex,
                    "running",
                    now,
                    at=self.at,
                    note=f"{what}; rolling back",
                    phase="rollback",
                    position=0,
                    rollback_plan=plan,
                    error=what,
                )
                return [step_job(ex.id, "rollback", 0, now)]
        # succeeded, skipped, or failed with on_failure: continue
        length = len(self.runbook.steps) if ex.phase == "run" else len(ex.rollback_plan or [])
        if ex.position + 1 < length:
            await self.x.sql.transition(
                conn, ex, "running", now, at=self.at, position=ex.position + 1
            )
            return [step_job(ex.id, ex.phase, ex.position + 1, now)]
        end = "succeeded" if ex.phase == "run" else "rolled_back"
        await self.x.finish(conn, ex, end, now, at=self.at)
        return []
