"""The sample alert a dry run by hand renders with when nobody named a real one: without it, a
runbook's templates (``annotations.summary``, ``labels.service``) have nothing to read, and the
dry run fails on what any real alert would have given.

The sample is built from the runbook alone, the same way each time, so the execution's
parameters (filled when it is created) and its steps (rendered later, by whichever process
runs them) see the same alert. It is never stored, and never used for a run that acts."""

from __future__ import annotations

from datetime import datetime

from receiver.automation.definitions import RunbookConfig
from receiver.matchers import MatchOp
from receiver.model import Alert, AlertStatus

__all__ = ["SAMPLE_ALERTNAME", "sample_alert", "uses_sample"]

SAMPLE_ALERTNAME = "SampleAlert"  # when the runbook's matchers do not name one


def sample_alert(runbook: RunbookConfig, at: datetime) -> Alert:
    """A firing alert with the labels the runbook's ``=`` matchers ask for (and an
    ``alertname``), a placeholder summary, starting ``at``."""
    labels = {m.name: m.value for m in runbook.matchers() if m.op is MatchOp.EQ}
    labels.setdefault("alertname", SAMPLE_ALERTNAME)
    return Alert(
        id=0,
        fingerprint="sample",
        status=AlertStatus.FIRING,
        labels=labels,
        annotations={"summary": f"sample alert for a dry run of {runbook.id}"},
        starts_at=at,
        ends_at=None,
        first_seen_at=at,
        last_seen_at=at,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_by=None,
        generator_url="",
        group_key="sample",
    )


def uses_sample(dry_run: bool, alert_id: int | None, trigger: str) -> bool:
    """Whether an execution renders with the sample alert: a dry run started by hand (or
    through the API, the console, chat) for no alert."""
    return dry_run and alert_id is None and trigger not in ("auto", "drill")
