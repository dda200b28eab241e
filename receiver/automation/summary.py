"""An execution as text for a terminal (``firebreak runbooks status``, ``run --wait``,
``run --dry-run``): its state, marked when it is a dry run, the sample alert a dry run by hand
rendered with, and each step with what it did or, in a dry run, would do — the request, the
argv, the query — as recorded (secrets redacted when they were stored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.automation.definitions import RunbookConfig
from receiver.automation.params import shown_inputs
from receiver.automation.sample import sample_alert, uses_sample
from receiver.automation.service import ExecutionRecord
from receiver.automation.stepline import one_line, quoted, step_line, word
from receiver.model import Execution, StepRun

__all__ = ["execution_line", "execution_lines", "sample_labels", "step_action"]

_INDENT = " " * 11


def execution_line(execution: Execution) -> str:
    """``execution 12: pending (dry run)``."""
    dry = " (dry run)" if execution.dry_run else ""
    return f"execution {execution.id}: {execution.state}{dry}"


def sample_labels(execution: Execution, runbook: RunbookConfig | None) -> dict[str, str] | None:
    """The labels of the sample alert the execution rendered with, if it did."""
    if runbook is None or not uses_sample(execution.dry_run, execution.alert_id, execution.trigger):
        return None
    return dict(sample_alert(runbook, execution.created_at).labels)


def step_action(step: StepRun) -> str | None:
    """What a step did (from its recorded inputs) or would do (a dry run's ``would``)."""
    output = step.output if isinstance(step.output, Mapping) else {}
    would = output.get("would")
    if output.get("dry_run") and isinstance(would, Mapping):
        return "would " + step_line(step.type, would)
    if "skipped" in output:
        return f"skipped: when {one_line(output['skipped'])} is false"
    if isinstance(step.inputs, Mapping) and step.inputs:
        return step_line(step.type, step.inputs)
    return None


def execution_lines(record: ExecutionRecord, runbook: RunbookConfig | None) -> list[str]:
    ex = record.execution
    dry = " (dry run)" if ex.dry_run else ""
    lines = [
        f"execution {ex.id} of {ex.runbook}: {ex.state}{dry}",
        f"  trigger: {ex.trigger} by {one_line(ex.actor)}, started {format_rfc3339(ex.created_at)}",
    ]
    sample = sample_labels(ex, runbook)
    if sample is not None:
        shown = " ".join(f"{name}={quoted(value)}" for name, value in sorted(sample.items()))
        lines.append(
            f"  sample alert: {shown} (no alert was given: labels from the runbook's = "
            "matchers, a placeholder summary)"
        )
    elif ex.alert_id is not None:
        lines.append(f"  alert: {ex.alert_id}")
    params, _context = shown_inputs(runbook, ex.params, ex.trigger_context)
    if params:
        lines.append("  params: " + " ".join(f"{k}={_value(v)}" for k, v in params.items()))
    if ex.error:
        lines.append(f"  error: {one_line(ex.error, 500)}")
    for step in record.steps:
        took = step.duration_seconds
        timing = f" {took:.2f}s" if took is not None else ""
        lines.append(f"  {step.phase:8} {step.step_id:24} {step.state:16}{timing}")
        action = step_action(step)
        if action:
            lines.append(f"{_INDENT}{action}")
        output = step.output if isinstance(step.output, Mapping) else {}
        if output.get("when"):
            lines.append(f"{_INDENT}when: {one_line(output['when'], 300)}")
        if step.error:
            lines.append(f"{_INDENT}{one_line(step.error, 500)}")
    return lines


def _value(value: Any) -> str:
    return word(value) if isinstance(value, str) else one_line(value)
