"""Runbook activity in the log (``firebreak.automation``): an execution created, held back,
started and ended; each step starting with what it does, and how it came out. INFO for
progress, WARNING for what went wrong. Every line carries the fields ``execution``,
``runbook``, ``trigger``, ``dry_run``, ``alert`` and, for a step, ``step``.

Each line is logged where the executor makes the change it reports, once per change: a job
that is put off and claimed again (a wait, a poll, an approval) says nothing new until
something happens. Values from alerts are written for a log line (see ``stepline``), and every
secret parameter's value is redacted, as in a step's stored inputs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from receiver.automation.definitions import RunbookConfig
from receiver.automation.params import redact, secret_values
from receiver.automation.stepline import one_line
from receiver.model import Execution

__all__ = [
    "execution_created",
    "execution_ended",
    "execution_started",
    "secrets_of",
    "step_ended",
    "step_retrying",
    "step_starting",
    "step_waiting_approval",
]

log = logging.getLogger("firebreak.automation")

_ENDED_BADLY = ("failed", "rolled_back", "interrupted")


def secrets_of(runbook: RunbookConfig | None, params: Mapping[str, Any]) -> frozenset[str]:
    return secret_values(runbook, params) if runbook is not None else frozenset()


def _fields(execution: Execution, step: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "execution": execution.id,
        "runbook": execution.runbook,
        "trigger": execution.trigger,
        "dry_run": execution.dry_run,
        "alert": execution.alert_id,
    }
    if step is not None:
        found["step"] = step
    return found


def _name(execution: Execution) -> str:
    return f"execution {execution.id} of {execution.runbook}"


def _text(value: object, secrets: frozenset[str]) -> str:
    """Free text (an error, a reason) with secrets redacted, on one line."""
    return one_line(redact(str(value), secrets), 500)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 100 else f"{seconds:.0f}s"


def execution_created(
    execution: Execution, state: str, reason: str | None, secrets: frozenset[str]
) -> None:
    """A new execution: ``pending`` (it will start), ``skipped`` (storm control held it back)
    or ``failed`` (its parameters could not be filled)."""
    for_alert = f" for alert {execution.alert_id}" if execution.alert_id else ""
    how = execution.trigger + (f" by {execution.actor}" if execution.trigger != "auto" else "")
    how += ", dry run" if execution.dry_run else ""
    fields = _fields(execution)
    if state == "pending":
        log.info("%s created%s (%s)", _name(execution), for_alert, one_line(how), extra=fields)
    elif state == "skipped":
        log.warning(
            "%s held back%s: %s", _name(execution), for_alert, _text(reason, secrets), extra=fields
        )
    else:
        log.warning(
            "%s not started%s: %s",
            _name(execution),
            for_alert,
            _text(reason, secrets),
            extra=fields,
        )


def execution_started(execution: Execution) -> None:
    dry = " (dry run)" if execution.dry_run else ""
    log.info("%s started%s", _name(execution), dry, extra=_fields(execution))


def execution_ended(
    execution: Execution, state: str, now: datetime, error: str | None, secrets: frozenset[str]
) -> None:
    took = _seconds(max((now - execution.created_at).total_seconds(), 0.0))
    dry = " (dry run)" if execution.dry_run else ""
    line = f"{_name(execution)} {state}{dry} after {took}"
    if error:
        line += f": {_text(error, secrets)}"
    level = logging.WARNING if state in _ENDED_BADLY else logging.INFO
    log.log(level, "%s", line, extra={**_fields(execution), "state": state})


def step_starting(
    execution: Execution,
    step: str,
    kind: str,
    action: str,
    *,
    attempt: int = 0,
    attempts: int = 1,
    again: bool = False,
    approved_by: str | None = None,
) -> None:
    """A step about to act (``action`` from ``stepline``, its values already redacted), or in
    a dry run, what it would do."""
    fields = _fields(execution, step)
    if execution.dry_run:
        log.info("%s: step %s (%s) would %s", _name(execution), step, kind, action, extra=fields)
        return
    notes = []
    if attempt:
        notes.append(f"attempt {attempt + 1} of {attempts}")
    if again:
        notes.append("again: the process stopped while it ran")
    if approved_by:
        notes.append(f"approved by {one_line(approved_by)}")
    note = f" ({'; '.join(notes)})" if notes else ""
    log.info("%s: step %s (%s)%s: %s", _name(execution), step, kind, note, action, extra=fields)


def step_ended(
    execution: Execution,
    step: str,
    state: str,
    seconds: float,
    error: str | None,
    secrets: frozenset[str],
    detail: str | None = None,
) -> None:
    fields = {**_fields(execution, step), "state": state}
    line = f"{_name(execution)}: step {step} {state}"
    if state in ("succeeded", "failed", "interrupted"):
        line += f" in {_seconds(seconds)}"
    if error:
        line += f": {_text(error, secrets)}"
    elif detail:
        line += f": {_text(detail, secrets)}"
    level = logging.WARNING if state in _ENDED_BADLY else logging.INFO
    log.log(level, "%s", line, extra=fields)


def step_retrying(
    execution: Execution,
    step: str,
    error: str | None,
    delay: float,
    attempt: int,
    attempts: int,
    secrets: frozenset[str],
) -> None:
    log.warning(
        "%s: step %s failed, retrying in %s (attempt %d of %d): %s",
        _name(execution),
        step,
        _seconds(delay),
        attempt + 1,
        attempts,
        _text(error or "", secrets),
        extra=_fields(execution, step),
    )


def step_waiting_approval(execution: Execution, step: str, who: str, deadline: datetime) -> None:
    log.info(
        "%s: step %s waits for approval by %s until %s",
        _name(execution),
        step,
        one_line(who),
        deadline.isoformat(timespec="seconds"),
        extra=_fields(execution, step),
    )
