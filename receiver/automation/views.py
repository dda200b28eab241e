"""The JSON form of runbooks and executions, as the API shows them and the CLI prints them.
Secret parameters are shown redacted."""

from __future__ import annotations

from typing import Any

from receiver.automation.definitions import RunbookConfig
from receiver.automation.params import REDACTED, shown_inputs
from receiver.automation.paramtypes import TEXT_TYPES
from receiver.automation.service import ExecutionRecord
from receiver.durations import format_duration
from receiver.model import Execution, ExecutionEvent, StepRun
from receiver.views import ts


def runbook_json(rb: RunbookConfig) -> dict[str, Any]:
    return {
        "id": rb.id,
        "title": rb.title,
        "description": rb.description,
        "owner": rb.owner,
        "match": list(rb.match),
        "on": rb.on,
        "automatic": rb.automatic,
        "params": {
            name: {
                "type": p.type,
                "default": REDACTED if p.secret and p.default is not None else p.default,
                "from": p.from_,
                "required": p.required,
                "secret": p.secret,
                "settable": p.settable,
                **({"values": list(p.values)} if p.values else {}),
                **({"pattern": p.pattern} if p.pattern is not None else {}),
                **({"max_length": p.max_length} if p.type in TEXT_TYPES else {}),
                "description": p.description,
            }
            for name, p in rb.params.items()
        },
        "concurrency": {"max": rb.concurrency.max, "per_alert": rb.concurrency.per_alert},
        "cooldown": format_duration(rb.cooldown),
        "approval": {
            "required": rb.approval.required,
            "approvers": list(rb.approval.approvers),
            "timeout": format_duration(rb.approval.timeout),
            "four_eyes": rb.approval.four_eyes,
        },
        "breaker": {
            "failures": rb.breaker.failures,
            "window": format_duration(rb.breaker.window),
        },
        "steps": [
            {
                "id": s.id,
                "name": s.name,
                "type": s.type,
                "mutating": s.is_mutating,
                "timeout": format_duration(s.timeout),
                "retries": s.retries,
                "when": s.when,
                "on_failure": s.on_failure,
                "idempotent": s.idempotent,
                "rollback": s.rollback.type if s.rollback else None,
            }
            for s in rb.steps
        ],
    }


def execution_json(ex: Execution, runbook: RunbookConfig | None) -> dict[str, Any]:
    """``ex`` as the API shows it; ``runbook`` (its definition, if still loaded) says which
    parameters are secret."""
    params, context = shown_inputs(runbook, ex.params, ex.trigger_context)
    return {
        "id": ex.id,
        "runbook": ex.runbook,
        "alert_id": ex.alert_id,
        "fingerprint": ex.fingerprint,
        "trigger": ex.trigger,
        "dry_run": ex.dry_run,
        "state": ex.state,
        "actor": ex.actor,
        "params": params,
        "trigger_context": context,
        "phase": ex.phase,
        "position": ex.position,
        "approved_by": ex.approved_by,
        "cancel_reason": ex.cancel_reason,
        "error": ex.error,
        "created_at": ts(ex.created_at),
        "updated_at": ts(ex.updated_at),
        "finished_at": ts(ex.finished_at),
    }


def step_json(step: StepRun) -> dict[str, Any]:
    return {
        "step_id": step.step_id,
        "phase": step.phase,
        "position": step.position,
        "type": step.type,
        "state": step.state,
        "attempt": step.attempt,
        "inputs": step.inputs,
        "output": step.output,
        "error": step.error,
        "decision": step.decision,
        "decided_by": step.decided_by,
        "decided_at": ts(step.decided_at),
        "started_at": ts(step.started_at),
        "finished_at": ts(step.finished_at),
        "duration_seconds": step.duration_seconds,
    }


def event_json(event: ExecutionEvent) -> dict[str, Any]:
    return {
        "at": ts(event.at),
        "from": event.from_state,
        "to": event.to_state,
        "actor": event.actor,
        "note": event.note,
    }


def record_json(record: ExecutionRecord, runbook: RunbookConfig | None) -> dict[str, Any]:
    return {
        **execution_json(record.execution, runbook),
        "steps": [step_json(s) for s in record.steps],
        "events": [event_json(e) for e in record.events],
    }
