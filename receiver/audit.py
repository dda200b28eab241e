"""The audit trail: every action by a person or a token, allowed or refused, as one
append-only row (``GET /api/v1/audit``) and one structured log line (``firebreak.audit``).

Rows are only ever inserted; nothing updates or deletes them except retention, which leaves
them alone. Writing one is its own durable transaction after the action, so a failure to
write it never undoes the action; it is logged loudly instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from receiver.errors import FirebreakError, StoreUnavailable
from receiver.model import Clock
from receiver.store import Store
from receiver.store.tables import audit_log

log = logging.getLogger("firebreak.audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    interface: str
    action: str
    target: str | None
    outcome: str
    status: int | None
    request_id: str | None
    detail: Mapping[str, Any] | None


class Audit:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    def _row(self, **fields: Any) -> dict[str, Any]:
        """The row, logged as one structured line as it is made."""
        detail = fields.get("detail")
        row = {
            "at": self._clock(),
            "actor": str(fields["actor"])[:256],
            "interface": fields["interface"],
            "action": fields["action"],
            "target": fields.get("target"),
            "outcome": fields["outcome"],
            "status": fields.get("status"),
            "request_id": fields.get("request_id"),
            "detail": dict(detail) if detail else None,
        }
        extra = {k: v for k, v in row.items() if k not in ("at", "detail")}
        log.info(
            "%s %s by %s (%s): %s",
            row["action"],
            row["target"] or "",
            row["actor"],
            row["interface"],
            row["outcome"],
            extra={**(detail or {}), **extra},
        )
        return row

    async def _write(self, row: dict[str, Any]) -> None:
        await self._write_all([row])

    async def _write_all(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with self._store.transaction() as conn:
                await conn.execute(insert(audit_log), rows)
        except StoreUnavailable as exc:
            for row in rows:
                log.error(
                    "audit row not written (%s %s by %s): %s",
                    row["action"],
                    row["target"],
                    row["actor"],
                    exc,
                )

    async def record(self, **fields: Any) -> None:
        """One row: ``actor``, ``interface``, ``action``, ``outcome`` and optionally
        ``target``, ``status``, ``request_id``, ``detail``."""
        await self._write(self._row(**fields))

    async def record_many(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """``record`` for each of ``entries`` (their fields as ``record`` takes them), as one
        INSERT in one transaction."""
        if entries:
            await self._write_all([self._row(**fields) for fields in entries])

    def record_soon(self, **fields: Any) -> None:
        """``record`` from code that cannot wait (a Slack handler answering within 3 s): the
        line is logged now, the row written in the background."""
        self.record_many_soon([fields])

    def record_many_soon(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """``record_soon`` for each of ``entries``, written as one INSERT in the background."""
        if not entries:
            return
        rows = [self._row(**fields) for fields in entries]
        task = asyncio.get_running_loop().create_task(self._write_all(rows))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor is not None:
            stmt = stmt.where(audit_log.c.actor == actor)
        if action is not None:
            stmt = stmt.where(audit_log.c.action == action)
        if since is not None:
            stmt = stmt.where(audit_log.c.at >= since)
        if before_id is not None:
            stmt = stmt.where(audit_log.c.id < before_id)
        async with self._store.connection() as conn:
            rows = await conn.execute(stmt)
            return [AuditEntry(**row._mapping) for row in rows]


@asynccontextmanager
async def audited(
    audit: Audit, actor: str, interface: str, action: str, target: object = None
) -> AsyncIterator[None]:
    """One audit row for an action taken outside HTTP (the command line), whatever came of it:
    ``ok``, or ``rejected`` with the error when it raised one of ours."""
    fields = {"actor": actor, "interface": interface, "action": action}
    where = None if target is None else str(target)
    try:
        yield
    except FirebreakError as exc:
        await audit.record(**fields, target=where, outcome="rejected", detail={"error": str(exc)})
        raise
    await audit.record(**fields, target=where, outcome="ok")
