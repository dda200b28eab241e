"""Runbook executions: their rows, their steps, their transitions and the automation switches.

Every change of an execution's state is a guarded update (``WHERE state IN (...)``) that
appends one ``execution_events`` row only when it applied, so two workers or a worker and a
person racing (a step finishing while someone cancels) settle in the database, never
backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.model import ACTIVE_STATES, FINAL_STATES, Execution, ExecutionEvent, StepRun
from receiver.store.engine import in_list
from receiver.store.tables import (
    automation_settings,
    execution_events,
    execution_steps,
    executions,
)


def _execution(row: Any) -> Execution:
    return Execution(**{name: getattr(row, name) for name in Execution.__slots__})


def _step(row: Any) -> StepRun:
    return StepRun(**{name: getattr(row, name) for name in StepRun.__slots__})


class ExecutionSQL:
    """Statements over the automation tables; each takes the caller's connection."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.postgres else sqlite.insert)(table)

    async def serialize(self, conn: AsyncConnection, name: str) -> None:
        """Hold a transaction-scoped lock on ``name`` (PostgreSQL; SQLite has one writer)."""
        if self.postgres:
            await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))

    async def create(
        self, conn: AsyncConnection, values: dict[str, Any], actor: str, note: str | None
    ) -> tuple[Execution, bool]:
        """Insert an execution unless one with its ``start_key`` exists; (execution, created)."""
        result = await conn.execute(
            self._insert(executions)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["start_key"])
        )
        created = bool(result.rowcount)
        row = (
            await conn.execute(
                select(executions).where(executions.c.start_key == values["start_key"])
            )
        ).one()
        execution = _execution(row)
        if created:
            await self.event(
                conn, execution.id, values["created_at"], None, execution.state, actor, note
            )
        return execution, created

    async def get(self, conn: AsyncConnection, execution_id: int) -> Execution | None:
        row = (
            await conn.execute(select(executions).where(executions.c.id == execution_id))
        ).first()
        return _execution(row) if row is not None else None

    async def transition(
        self,
        conn: AsyncConnection,
        execution: Execution,
        to_state: str,
        now: datetime,
        *,
        actor: str = "firebreak",
        note: str | None = None,
        at: tuple[str, int] | None = None,
        **values: Any,
    ) -> bool:
        """Move an execution to ``to_state`` (and set ``values``) if it is still in the state
        it was read in and, with ``at``, still at that (phase, position)."""
        stmt = update(executions).where(
            executions.c.id == execution.id, executions.c.state == execution.state
        )
        if at is not None:
            stmt = stmt.where(executions.c.phase == at[0], executions.c.position == at[1])
        if to_state in FINAL_STATES:
            values["finished_at"] = now
        result = await conn.execute(stmt.values(state=to_state, updated_at=now, **values))
        if result.rowcount != 1:
            return False
        if to_state != execution.state or note:
            await self.event(conn, execution.id, now, execution.state, to_state, actor, note)
        return True

    async def event(
        self,
        conn: AsyncConnection,
        execution_id: int,
        at: datetime,
        from_state: str | None,
        to_state: str,
        actor: str | None,
        note: str | None,
    ) -> None:
        await conn.execute(
            insert(execution_events).values(
                execution_id=execution_id,
                at=at,
                from_state=from_state,
                to_state=to_state,
                actor=actor,
                note=note[:4000] if note else note,
            )
        )

    # -- steps -----------------------------------------------------------------------------

    async def step(
        self, conn: AsyncConnection, execution_id: int, phase: str, position: int
    ) -> StepRun | None:
        row = (
            await conn.execute(
                select(execution_steps).where(
                    execution_steps.c.execution_id == execution_id,
                    execution_steps.c.phase == phase,
                    execution_steps.c.position == position,
                )
            )
        ).first()
        return _step(row) if row is not None else None

    async def open_step(
        self,
        conn: AsyncConnection,
        execution_id: int,
        phase: str,
        position: int,
        step_id: str,
        step_type: str,
    ) -> StepRun:
        """The step's row, made pending if it has none yet."""
        await conn.execute(
            self._insert(execution_steps)
            .values(
                execution_id=execution_id,
                phase=phase,
                position=position,
                step_id=step_id,
                type=step_type,
                state="pending",
                attempt=0,
            )
            .on_conflict_do_nothing(index_elements=["execution_id", "phase", "position"])
        )
        found = await self.step(conn, execution_id, phase, position)
        assert found is not None
        return found

    async def update_step(
        self, conn: AsyncConnection, step_row_id: int, *, only_if: Sequence[str] = (), **values: Any
    ) -> bool:
        stmt = update(execution_steps).where(execution_steps.c.id == step_row_id)
        if only_if:
            stmt = stmt.where(execution_steps.c.state.in_(list(only_if)))
        if isinstance(values.get("error"), str):
            values["error"] = values["error"][:4000]
        return bool((await conn.execute(stmt.values(**values))).rowcount)

    async def steps(self, conn: AsyncConnection, execution_id: int) -> list[StepRun]:
        rows = await conn.execute(
            select(execution_steps)
            .where(execution_steps.c.execution_id == execution_id)
            .order_by(execution_steps.c.id)
        )
        return [_step(row) for row in rows]

    async def events(self, conn: AsyncConnection, execution_id: int) -> list[ExecutionEvent]:
        rows = await conn.execute(
            select(execution_events)
            .where(execution_events.c.execution_id == execution_id)
            .order_by(execution_events.c.id)
        )
        return [
            ExecutionEvent(**{n: getattr(r, n) for n in ExecutionEvent.__slots__}) for r in rows
        ]

    # -- storm control ---------------------------------------------------------------------

    async def active(
        self, conn: AsyncConnection, runbook: str, fingerprint: str | None = None
    ) -> int:
        """Executions of ``runbook`` not finished (for one fingerprint, when given)."""
        stmt = select(func.count()).where(
            executions.c.runbook == runbook,
            executions.c.state.in_(ACTIVE_STATES),
            executions.c.dry_run.is_(False),
        )
        if fingerprint is not None:
            stmt = stmt.where(executions.c.fingerprint == fingerprint)
        return int((await conn.execute(stmt)).scalar() or 0)

    async def active_execution(
        self, conn: AsyncConnection, runbook: str, fingerprint: str
    ) -> Execution | None:
        """The oldest execution of ``runbook`` for ``fingerprint`` that has not ended."""
        row = (
            await conn.execute(
                select(executions)
                .where(
                    executions.c.runbook == runbook,
                    executions.c.fingerprint == fingerprint,
                    executions.c.state.in_(ACTIVE_STATES),
                    executions.c.dry_run.is_(False),
                )
                .order_by(executions.c.id)
                .limit(1)
            )
        ).first()
        return _execution(row) if row is not None else None

    async def for_alerts(
        self, conn: AsyncConnection, alert_ids: Sequence[int], limit: int = 100
    ) -> list[Execution]:
        """The executions (dry runs left out) for ``alert_ids``, newest first."""
        if not alert_ids:
            return []
        stmt = (
            select(executions)
            .where(executions.c.alert_id.in_(in_list(alert_ids)), executions.c.dry_run.is_(False))
            .order_by(executions.c.id.desc())
            .limit(limit)
        )
        return [_execution(row) for row in await conn.execute(stmt)]

    async def last_automatic_start(
        self, conn: AsyncConnection, runbook: str, fingerprint: str
    ) -> datetime | None:
        found: datetime | None = (
            await conn.execute(
                select(func.max(executions.c.created_at)).where(
                    executions.c.runbook == runbook,
                    executions.c.fingerprint == fingerprint,
                    executions.c.trigger == "auto",
                    executions.c.state != "skipped",
                )
            )
        ).scalar()
        return found

    async def failures_since(self, conn: AsyncConnection, runbook: str, since: datetime) -> int:
        """Automatic executions of ``runbook`` that failed or rolled back since ``since``."""
        stmt = select(func.count()).where(
            executions.c.runbook == runbook,
            executions.c.trigger == "auto",
            executions.c.state.in_(("failed", "rolled_back")),
            executions.c.finished_at >= since,
        )
        return int((await conn.execute(stmt)).scalar() or 0)

    async def waiting_approval(self, conn: AsyncConnection) -> int:
        stmt = select(func.count()).where(executions.c.state == "waiting_approval")
        return int((await conn.execute(stmt)).scalar() or 0)

    async def list(
        self,
        conn: AsyncConnection,
        *,
        runbook: str | None = None,
        state: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Execution]:
        stmt = select(executions).order_by(executions.c.id.desc()).limit(limit)
        if runbook is not None:
            stmt = stmt.where(executions.c.runbook == runbook)
        if state is not None:
            stmt = stmt.where(executions.c.state == state)
        if alert_id is not None:
            stmt = stmt.where(executions.c.alert_id == alert_id)
        if before_id is not None:
            stmt = stmt.where(executions.c.id < before_id)
        return [_execution(row) for row in await conn.execute(stmt)]

    # -- settings --------------------------------------------------------------------------

    async def setting(self, conn: AsyncConnection, key: str) -> Any:
        row = (
            await conn.execute(
                select(automation_settings.c.value).where(automation_settings.c.key == key)
            )
        ).first()
        return row[0] if row is not None else None

    async def set_setting(
        self, conn: AsyncConnection, key: str, value: Any, now: datetime, actor: str
    ) -> None:
        stmt = self._insert(automation_settings).values(
            key=key, value=value, updated_at=now, updated_by=actor
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={"value": stmt.excluded.value, "updated_at": now, "updated_by": actor},
            )
        )
