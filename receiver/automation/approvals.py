"""Approvals: which approval a step waits for, and who may give it.

An ``approval`` step waits for its own; a runbook with ``approval: {required: true}`` puts a
gate before the first mutating step of every execution that is not a dry run (automatic, by
hand or a live drill). Deciding is the service's (it records the decision and enqueues the
step again); waiting, and timing out, is the step job's. Who approves is compared as people
(``receiver.people``): one person through Slack and an API token is one approver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from receiver.automation.definitions import RunbookConfig, StepConfig
from receiver.model import Execution, Role


@dataclass(frozen=True, slots=True)
class Gate:
    """The approval a step waits for: an approval step's own, or the runbook's gate."""

    approvers: tuple[str, ...]
    timeout: timedelta
    is_gate: bool  # the step runs once approved (else approving completes it)
    four_eyes: bool = False  # the execution's actor may not approve


def gate_for(step: StepConfig, runbook: RunbookConfig, execution: Execution) -> Gate | None:
    policy = runbook.approval
    if step.approval is not None:
        return Gate(
            step.approval.approvers,
            step.approval.timeout,
            is_gate=False,
            four_eyes=step.approval.four_eyes or policy.four_eyes,
        )
    if (
        policy.required
        and execution.phase == "run"
        and execution.approved_by is None
        and step.is_mutating
    ):
        return Gate(policy.approvers, policy.timeout, is_gate=True, four_eyes=policy.four_eyes)
    return None


def may_approve(identities: frozenset[str], role: Role, approvers: list[str]) -> bool:
    """Responders and admins may approve; a step's ``approvers`` narrow that to people or
    names (``alice``), interface identities (``slack:U123``, ``api:alice``) or roles
    (``role:admin``). ``identities``: every spelling the approver is known by
    (``People.identities``)."""
    if role < Role.RESPONDER:
        return False
    if not approvers:
        return True
    for allowed in approvers:
        if allowed.startswith("role:"):
            wanted = allowed[5:].upper()
            if wanted in Role.__members__ and role >= Role[wanted]:
                return True
        elif allowed in identities:
            return True
    return False
