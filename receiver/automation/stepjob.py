"""A ``runbook_step`` job: ``when``, the approval gate, rendering, the step under its timeout,
then one transaction that records the outcome, moves the execution on and enqueues what comes
next (the next step, the first rollback step, or nothing when it ends)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.automation import activity
from receiver.automation.approvals import Gate, gate_for
from receiver.automation.definitions import RunbookConfig, StepConfig
from receiver.automation.jobkinds import step_job
from receiver.automation.params import alert_scope, jsonable, secret_values
from receiver.automation.progress import Progress
from receiver.automation.redaction import Redactor
from receiver.automation.sample import sample_alert, uses_sample
from receiver.automation.stepline import step_line
from receiver.automation.steps import (
    STEP_FUNCTIONS,
    Invocation,
    StepEnvironment,
    StepResult,
    describe,
    failed,
    live_refusal,
    succeeded,
)
from receiver.automation.templating import TemplateFailure, evaluate, render_value
from receiver.durations import format_duration
from receiver.job_handlers import Defer, Done, JobContext, Outcome
from receiver.metrics import Metrics
from receiver.model import Alert, Execution, NewJob, StepRun
from receiver.store import Store
from receiver.store.executions import ExecutionSQL


class StepHost(Protocol):
    """What a step job needs of the executor that runs it: the store and the execution SQL,
    the step environment, metrics, redaction, and ending an execution and telling about it."""

    store: Store
    sql: ExecutionSQL
    metrics: Metrics
    environment: StepEnvironment
    redactor: Redactor

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
    ) -> bool: ...

    async def tell(self, conn: AsyncConnection, progress: Progress, now: datetime) -> None: ...


class StepJob:
    """One ``runbook_step`` job's work on the step its execution is at."""

    def __init__(
        self,
        executor: StepHost,
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
        if alert is None and uses_sample(execution.dry_run, execution.alert_id, execution.trigger):
            alert = sample_alert(runbook, execution.created_at)  # what its parameters came from
        self.alert = alert
        self.rows = rows
        self.now = ctx.now
        self.started_at = row.started_at  # when the step first started running, if it has
        self.at = (execution.phase, execution.position)
        # Every configured secret and this execution's secret parameters: what the step's
        # record (inputs, output, error) may not hold.
        self.redactor = executor.redactor.adding(secret_values(runbook, execution.params))

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

    async def go(self) -> Outcome:
        step, row = self.step, self.row
        if self.execution.state == "pending":  # its first step's job, the first time
            activity.execution_started(self.execution)
        scope = self.scope()
        when_unknown: str | None = None
        if step.when is not None and row.state == "pending":
            try:
                if not evaluate(step.when, scope, where=f"steps.{step.id}.when"):
                    return await self.settle(succeeded({"skipped": step.when}), state="skipped")
            except TemplateFailure as exc:
                if not self.execution.dry_run:
                    return await self.settle(failed(str(exc)))
                # A dry run has no real outputs to decide on: say so and show the step.
                when_unknown = f"not known in a dry run: {exc}"
        gate = gate_for(self.step, self.runbook, self.execution)
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
        stored = self.redactor.output(jsonable(inputs))
        would = self.redactor.value(
            jsonable(describe(step, inputs, self.alert.labels if self.alert else {}))
        )
        if self.execution.dry_run:
            if when_unknown is not None:
                would["when"] = when_unknown
            refused = live_refusal(step, inputs, self.x.environment)
            if refused is not None:  # what reading the dry run must not miss before going live
                would["would"]["refused"] = self.redactor.value(refused)
            activity.step_starting(
                self.execution, step.id, step.type, step_line(step.type, would["would"])
            )
            return await self.settle(succeeded(would), inputs=stored)
        if step.approval is not None:  # approved (decided above)
            asked = (row.output or {}).get("message")
            approved = {"approved_by": row.decided_by, **({"message": asked} if asked else {})}
            return await self.settle(succeeded(approved), inputs=stored)
        started_at = self.started_at = row.started_at or self.now
        async with self.x.store.transaction() as conn:
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
        if row.state != "waiting":  # a wait or a poll looking again is not a new start
            activity.step_starting(
                self.execution,
                step.id,
                step.type,
                step_line(step.type, would["would"]),
                attempt=row.attempt,
                attempts=step.retries + 1,
                again=row.state == "running",
                approved_by=row.decided_by if row.decision == "approved" else None,
            )
        function = STEP_FUNCTIONS.get(step.type)
        if function is None:
            return await self.settle(failed(f"{step.type} steps are not supported"), inputs=stored)
        if step.notify is not None:  # a message goes to people: never with a credential in it
            inputs = {**inputs, "message": self.redactor.text(str(inputs.get("message", "")))}
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
        # The step ended now, not when its job was claimed: its end, its duration and what
        # comes next are timed from here.
        self.now = max(self.now, self.ctx.clock())
        return await self.settle(result, inputs=stored)

    async def approval(self, gate: Gate) -> Outcome | None:
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
            try:
                question = self.question(gate)
            except TemplateFailure as exc:
                return await self.settle(failed(str(exc)))
            async with self.x.store.transaction() as conn:
                await self.x.sql.update_step(
                    conn,
                    row.id,
                    state="waiting_approval",
                    started_at=waiting_since,
                    output={
                        "approvers": list(gate.approvers),
                        "gate": gate.is_gate,
                        "four_eyes": gate.four_eyes,
                        "deadline": deadline.isoformat(),
                        "message": question,
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
                key = f"waiting:{self.at[0]}:{self.at[1]}"
                waiting = Progress(
                    self.execution,
                    "waiting_approval",
                    "waiting_approval",
                    key,
                    self.step.id,
                    who,
                    message=question,
                )
                await self.x.tell(conn, waiting, self.now)
            activity.step_waiting_approval(self.execution, self.step.id, who, deadline)
        return Defer(until=deadline, reason="waiting for approval")

    def question(self, gate: Gate) -> str:
        """What the approvers are asked: the step's ``message`` rendered (secret parameters
        redacted), or for a runbook's gate, which change it lets through."""
        step = self.step
        if gate.is_gate or step.approval is None or not step.approval.message:
            return f"Approve step {step.id} ({step.type}) of {self.runbook.id}?"
        where = f"steps.{step.id}.approval.message"
        text = render_value(step.approval.message, self.scope(), where)
        return self.redactor.text(str(text))

    async def settle(
        self, result: StepResult, *, state: str | None = None, inputs: Any = None
    ) -> Outcome:
        """Record a step's outcome, move the execution on and enqueue what comes next, in one
        transaction; a waiting step or a retry puts this job off instead. Its output and error
        are redacted and bounded here, on their way into the store: whatever shows or sends
        them later reads them from there."""
        result = replace(
            result,
            output=self.redactor.output(result.output),
            error=self.redactor.error(result.error),
        )
        step, row, ex, now = self.step, self.row, self.execution, self.now
        if result.state == "waiting":
            async with self.x.store.transaction() as conn:
                await self.x.sql.update_step(conn, row.id, state="waiting", output=result.output)
            assert result.until is not None
            return Defer(until=result.until, reason=f"step {step.id} waiting")
        interrupted = state == "interrupted"
        secrets = self.redactor.secrets  # the secret params and every configured credential
        if result.state == "failed" and not interrupted and row.attempt < step.retries:
            delay = step.backoff * (2**row.attempt)
            async with self.x.store.transaction() as conn:
                await self.x.sql.update_step(
                    conn,
                    row.id,
                    state="retrying",
                    attempt=row.attempt + 1,
                    error=result.error,
                    output=result.output,
                )
            activity.step_retrying(
                ex,
                step.id,
                result.error,
                delay.total_seconds(),
                row.attempt + 1,
                step.retries + 1,
                secrets,
            )
            return Defer(
                until=now + delay, reason=f"step {step.id} failed, retrying: {result.error}"
            )
        final = state or result.state
        duration = (now - self.started_at).total_seconds() if self.started_at else 0.0
        values: dict[str, Any] = {
            "state": final,
            "output": result.output,
            "error": result.error,
            "finished_at": now,
            "duration_seconds": max(duration, 0.0),
        }
        if inputs is not None:
            values["inputs"] = inputs
        if not (ex.dry_run and final == "succeeded"):  # a dry run's step said what it would do
            activity.step_ended(
                ex,
                step.id,
                final,
                values["duration_seconds"],
                result.error,
                secrets,
                _detail(result),
            )
        follow: list[NewJob] = []
        async with self.x.store.transaction() as conn:
            await self.x.sql.update_step(conn, row.id, **values)
            current = await self.x.sql.get(conn, ex.id)
            if current is None or current.final or (current.phase, current.position) != self.at:
                return Done("settled_after_cancel")  # cancelled meanwhile: nothing follows
            if current.state != "running":
                await self.x.sql.transition(conn, current, "running", now, at=self.at)
                current = replace(current, state="running")
            key = f"step:{current.phase}:{current.position}:{final}"
            told = Progress(current, "step", final, key, step.id, result.error)
            await self.x.tell(conn, told, now)
            follow = await self._next(conn, current, final, result.error)
            if follow:
                await self.x.store.jobs.enqueue(conn, follow, now)
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


def _detail(result: StepResult) -> str | None:
    """What the log says of a step that ended without an error: who approved it, or the
    ``when`` that skipped it."""
    output = result.output if isinstance(result.output, dict) else {}
    if output.get("approved_by"):
        return f"approved by {output['approved_by']}"
    if "skipped" in output:
        return f"when {output['skipped']} is false"
    return None
