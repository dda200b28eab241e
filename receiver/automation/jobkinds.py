"""The jobs of runbook automation: how each is keyed, so that enqueueing one twice is one."""

from __future__ import annotations

from datetime import datetime

from receiver.model import NewJob


def start_job(runbook: str, alert_id: int, status: str, now: datetime) -> NewJob:
    """An automatic start; its key names the occurrence, so it is enqueued once."""
    return NewJob(
        kind="runbook_start",
        payload={"runbook": runbook, "alert_id": alert_id, "status": status},
        due_at=now,
        idempotency_key=f"runbook_start:{runbook}:{alert_id}:{status}",
    )


def drill_start_job(drill_id: str, runbook: str, alert_id: int, now: datetime) -> NewJob:
    """The start of a drill's execution; its key names the drill, so one drill starts one
    execution whichever alerts carry its id. The payload points at the drill's record, which
    says what it is."""
    return NewJob(
        kind="runbook_start",
        payload={"runbook": runbook, "alert_id": alert_id, "status": "firing", "drill": drill_id},
        due_at=now,
        idempotency_key=f"runbook_start:drill:{drill_id}",
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
