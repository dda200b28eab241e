"""An escalation's chain frozen into its timer jobs: a policy's tiers, delays, targets and
repeats as JSON, and back. An escalation follows the chain it started with to its end, whatever
a reload does to the policy (docs/escalation.md "Reloads and escalations in flight"); a tier's
people entries are frozen as entries (``{"schedule": ID}``) and resolved when the tier fires."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from receiver.config import (
    PEOPLE_KINDS,
    EscalationPolicyConfig,
    NotifyTarget,
    TierConfig,
)


def snapshot(policy: EscalationPolicyConfig) -> dict[str, Any]:
    """A policy's chain (its tiers' delays and targets, its repeats) as timer payload JSON:
    what an escalation follows to its end, whatever a reload does to the policy."""
    return {
        "repeat": policy.repeat,
        "tiers": [
            {
                "after": tier.after.total_seconds(),
                "notify": [_frozen(t) for t in tier.notify],
            }
            for tier in policy.tiers
        ],
    }


def thawed(chain: Mapping[str, Any]) -> EscalationPolicyConfig:
    """The policy a ``snapshot`` was taken of."""
    return EscalationPolicyConfig(
        tiers=tuple(
            TierConfig(
                after=timedelta(seconds=tier["after"]),
                notify=tuple(_thawed_target(entry) for entry in tier["notify"]),
            )
            for tier in chain["tiers"]
        ),
        repeat=chain["repeat"],
    )


def chain_digest(chain: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(chain, sort_keys=True).encode()).hexdigest()[:12]


def _frozen(target: NotifyTarget) -> list[str] | dict[str, str]:
    """A tier entry in a snapshot: ``[channel, target]``, or ``{"schedule": ID}`` for people
    (resolved when the tier fires, not when the chain is frozen)."""
    people = target.people
    if people is None:
        return [target.channel, target.target]
    return {people[0]: people[1]}


def _thawed_target(entry: Any) -> NotifyTarget:
    if isinstance(entry, dict):
        kind, ident = next(iter(entry.items()))
        if kind in PEOPLE_KINDS:
            return NotifyTarget(**{kind: str(ident)})
    channel, target = entry
    return NotifyTarget(channel, target)
