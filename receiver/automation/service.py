"""What people do with runbooks, from any interface: list, run (or dry-run), status, approve,
reject, cancel, and the kill switch. Every call takes the actor as ``interface:name``
(``api:alice``, ``slack:U123``, ``cli:root``) or ``person:alice`` and the role it holds, and
returns domain values; REST, the CLI and chat only translate. An interface identity the
people directory maps to a person acts as that person (``slack:U123`` → ``person:alice``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from receiver.automation.approvals import may_approve
from receiver.automation.definitions import RunbookConfig
from receiver.automation.executor import PAUSED, Executor
from receiver.automation.jobkinds import step_job
from receiver.automation.params import manual_values
from receiver.errors import Conflict, Forbidden, HeldBack, InvalidInput, NotFound
from receiver.model import Alert, Clock, Execution, ExecutionEvent, Role, StepRun
from receiver.people import People
from receiver.store import Store

# How often a cancel reads the execution again when the runner moved it on meanwhile.
_CANCEL_TRIES = 5


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """An execution with its steps and its transitions, oldest first."""

    execution: Execution
    steps: tuple[StepRun, ...]
    events: tuple[ExecutionEvent, ...]


class AutomationService:
    def __init__(
        self,
        executor: Executor,
        store: Store,
        clock: Clock,
        wake: Callable[[], None],
        people: People | None = None,
    ) -> None:
        self._executor = executor
        self._store = store
        self._sql = executor.sql
        self._clock = clock
        self._wake = wake
        self._people = people or People()

    @property
    def store(self) -> Store:
        return self._store

    # -- runbooks -------------------------------------------------------------------------

    def list_runbooks(self) -> list[RunbookConfig]:
        return list(self._executor.runbooks)

    def find_runbook(self, runbook_id: str) -> RunbookConfig | None:
        """The runbook of that id, if loaded (an execution may outlive its runbook)."""
        return self._executor.runbooks.get(runbook_id)

    def runbook(self, runbook_id: str) -> RunbookConfig:
        found = self.find_runbook(runbook_id)
        if found is None:
            raise NotFound(f"runbook {runbook_id} does not exist")
        return found

    async def run(
        self,
        runbook_id: str,
        actor: str,
        *,
        trigger_context: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        alert_id: int | None = None,
        trigger: str = "manual",
        override_breaker: bool = False,
    ) -> Execution:
        """Start a runbook by hand. A run that changes things passes the kill switch, the
        breaker and concurrency (``HeldBack`` when they hold it back, the execution recording
        it) and waits for the runbook's approval gate; ``override_breaker`` (an admin's) lets
        it past an open breaker."""
        execution, _ = await self.start(
            runbook_id,
            actor,
            trigger_context=trigger_context,
            dry_run=dry_run,
            alert_id=alert_id,
            trigger=trigger,
            override_breaker=override_breaker,
        )
        return execution

    async def start(
        self,
        runbook_id: str,
        actor: str,
        *,
        trigger_context: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        alert_id: int | None = None,
        trigger: str = "manual",
        once: bool = False,
        override_breaker: bool = False,
    ) -> tuple[Execution, bool]:
        """``run``, telling whether it started a new execution. With ``once`` and an alert,
        an execution of the runbook for the alert that has not ended is returned instead of
        starting another (a button pressed twice, or while the automatic run goes on).

        ``trigger_context`` is what the person gave: it sets the parameters the runbook marks
        ``settable`` (a ``url`` or ``host`` only within ``automation.http_allow``), is refused
        (``InvalidInput`` naming ``params.NAME``) for any other parameter, and is recorded as
        the execution's context either way. Every interface starts runs here, so the rule holds
        for the API, Slack, the CLI and the console alike."""
        runbook = self.runbook(runbook_id)
        context = dict(trigger_context or {})
        given = manual_values(runbook, context, self._executor.environment.http_guard.allow)
        alert: Alert | None = await self._store.get_alert(alert_id) if alert_id else None
        execution, created = await self._executor.create(
            runbook,
            alert=alert,
            trigger=trigger,
            actor=self._people.resolve(actor),
            trigger_context=context,
            given=given,
            dry_run=dry_run,
            start_key=f"{trigger}:{secrets.token_hex(12)}",
            now=self._clock(),
            once=once,
            override_breaker=override_breaker,
        )
        if created and execution.state == "skipped":
            raise HeldBack(
                f"runbook {runbook_id} not started: {execution.error} "
                f"(execution {execution.id} records it)",
                execution.id,
            )
        if created:
            self._wake()
        return execution, created

    # -- executions -----------------------------------------------------------------------

    async def status(self, execution_id: int) -> ExecutionRecord:
        async with self._store.connection() as conn:
            execution = await self._sql.get(conn, execution_id)
            if execution is None:
                raise NotFound(f"execution {execution_id} does not exist")
            steps = await self._sql.steps(conn, execution_id)
            events = await self._sql.events(conn, execution_id)
        return ExecutionRecord(execution, tuple(steps), tuple(events))

    async def list_executions(
        self,
        *,
        runbook: str | None = None,
        state: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Execution]:
        async with self._store.connection() as conn:
            return await self._sql.list(
                conn,
                runbook=runbook,
                state=state,
                alert_id=alert_id,
                limit=limit,
                before_id=before_id,
            )

    async def cancel(self, execution_id: int, actor: str, reason: str | None) -> Execution:
        """Stop an execution: no further step starts; a step running now finishes and is
        recorded, and the silences it created are expired."""
        actor = self._people.resolve(actor)
        note = f"cancelled by {actor}" + (f": {reason}" if reason else "")
        # The runner may move the execution on (start its next step) between our read and
        # our write; the operator's intent holds whatever it moved to, so read it again.
        for _ in range(_CANCEL_TRIES):
            if await self._cancel_once(execution_id, actor, reason, note):
                break
        else:
            raise Conflict(f"execution {execution_id} changed meanwhile; try again")
        self._wake()
        return await self._get(execution_id)

    async def _cancel_once(
        self, execution_id: int, actor: str, reason: str | None, note: str
    ) -> bool:
        """One try at cancelling; False when the execution changed under it."""
        now = self._clock()
        async with self._store.transaction() as conn:
            execution = await self._current(conn, execution_id)
            if execution.final:
                raise Conflict(f"execution {execution_id} has ended ({execution.state})")
            changed = await self._executor.finish(
                conn, execution, "cancelled", now, error=note, actor=actor, cancel_reason=reason
            )
            if not changed:
                return False
            row = await self._sql.step(conn, execution_id, execution.phase, execution.position)
            if row is not None:
                await self._sql.update_step(
                    conn,
                    row.id,
                    only_if=("pending", "waiting", "waiting_approval", "retrying"),
                    state="cancelled",
                    finished_at=now,
                    error=note,
                )
        return True

    async def approve(self, execution_id: int, actor: str, role: Role) -> Execution:
        return await self._decide(execution_id, actor, role, "approved")

    async def reject(self, execution_id: int, actor: str, role: Role) -> Execution:
        return await self._decide(execution_id, actor, role, "rejected")

    def may_decide(
        self, actor: str, role: Role, execution: Execution, waiting: StepRun, approving: bool
    ) -> str | None:
        """Why ``actor`` may not decide the approval ``execution`` waits for at ``waiting``,
        or None: the step's approvers, and for four eyes whoever started it, compared as
        people."""
        approvers = (waiting.output or {}).get("approvers") or []
        if not may_approve(self._people.identities(actor), role, approvers):
            return f"{actor} may not approve this step; approvers: {approvers}"
        four_eyes = bool((waiting.output or {}).get("four_eyes"))
        if approving and four_eyes and self._people.same_person(actor, execution.actor):
            return (
                f"four eyes: {actor} started execution {execution.id} ({execution.actor}) "
                "and may not approve it; another approver must"
            )
        return None

    async def _decide(self, execution_id: int, actor: str, role: Role, decision: str) -> Execution:
        now = self._clock()
        actor = self._people.resolve(actor)
        async with self._store.transaction() as conn:
            execution = await self._current(conn, execution_id)
            row = await self._sql.step(conn, execution_id, execution.phase, execution.position)
            if execution.state != "waiting_approval" or row is None:
                raise Conflict(f"execution {execution_id} is {execution.state}, not waiting")
            refusal = self.may_decide(actor, role, execution, row, decision == "approved")
            if refusal is not None:
                raise Forbidden(refusal)
            if not await self._sql.update_step(
                conn,
                row.id,
                only_if=("waiting_approval",),
                state=decision,
                decision=decision,
                decided_by=actor,
                decided_at=now,
            ):
                raise Conflict(f"execution {execution_id} was decided meanwhile")
            gate = bool((row.output or {}).get("gate"))
            approved_by = actor if gate and decision == "approved" else execution.approved_by
            await self._sql.transition(
                conn,
                execution,
                "running",
                now,
                actor=actor,
                note=f"step {row.step_id} {decision} by {actor}",
                approved_by=approved_by,
            )
            await self._store.jobs.enqueue(
                conn,
                [step_job(execution.id, execution.phase, execution.position, now, tag=decision)],
                now,
            )
        if row.started_at is not None:
            self._executor.metrics.approval_wait.observe((now - row.started_at).total_seconds())
        self._wake()
        return await self._get(execution_id)

    async def _current(self, conn: Any, execution_id: int) -> Execution:
        execution = await self._sql.get(conn, execution_id)
        if execution is None:
            raise NotFound(f"execution {execution_id} does not exist")
        return execution

    async def _get(self, execution_id: int) -> Execution:
        async with self._store.connection() as conn:
            return await self._current(conn, execution_id)

    # -- kill switch and breakers ---------------------------------------------------------

    async def pause(self, actor: str, reason: str | None = None) -> dict[str, Any]:
        return await self._set_paused(True, actor, reason)

    async def resume(self, actor: str) -> dict[str, Any]:
        return await self._set_paused(False, actor, None)

    async def _set_paused(self, paused: bool, actor: str, reason: str | None) -> dict[str, Any]:
        now = self._clock()
        actor = self._people.resolve(actor)
        value = {"paused": paused, "by": actor, "reason": reason, "at": now.isoformat()}
        async with self._store.transaction() as conn:
            await self._sql.set_setting(conn, PAUSED, value, now, actor)
        self._wake()
        return value

    async def waiting_approval(self) -> int:
        async with self._store.connection() as conn:
            return await self._sql.waiting_approval(conn)

    async def automation_state(self) -> dict[str, Any]:
        async with self._store.connection() as conn:
            value = await self._sql.setting(conn, PAUSED)
        return dict(value) if value else {"paused": False}

    async def reset_breaker(self, runbook_id: str, actor: str) -> None:
        """Let automatic runs of a runbook start again: failures before now no longer count."""
        self.runbook(runbook_id)
        now = self._clock()
        actor = self._people.resolve(actor)
        async with self._store.transaction() as conn:
            await self._sql.set_setting(
                conn,
                f"breaker_reset:{runbook_id}",
                {"at": now.isoformat(), "by": actor},
                now,
                actor,
            )


def parse_trigger_context(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("trigger_context", "expected a JSON object")
    return value
