"""Domain types. Values only: nothing here performs I/O or imports the rest of the package."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Role(IntEnum):
    """What a caller may do; each role includes the ones below it."""

    VIEWER = 1
    RESPONDER = 2
    ADMIN = 3


class EventKind(StrEnum):
    """What happened to an alert occurrence; one row of its history each."""

    FIRED = "fired"
    RESOLVED = "resolved"  # Alertmanager said the alert ended
    ACKNOWLEDGED = "acknowledged"
    MANUALLY_RESOLVED = "manually_resolved"  # a person resolved it
    SNOOZED = "snoozed"  # a person put off the next escalation tier
    ESCALATED = "escalated"  # a tier of an escalation policy notified its targets
    NOTIFIED = "notified"  # a channel accepted a message about the alert
    RUNBOOK = "runbook"  # a runbook started for the alert, or was held back (and why)
    SILENCED = "silenced"  # a person created an Alertmanager silence covering the alert
    REFUSED = "refused"  # a person tried an action their role does not allow


@dataclass(frozen=True, slots=True)
class AlertSnapshot:
    """One alert as Alertmanager described it in one webhook."""

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None while firing (Alertmanager sends 0001-01-01T00:00:00Z)
    generator_url: str
    fingerprint: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields newer Alertmanagers add


@dataclass(frozen=True, slots=True)
class Notification:
    """One Alertmanager webhook (payload version 4)."""

    version: str
    group_key: str
    truncated_alerts: int
    status: AlertStatus
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[AlertSnapshot, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    """One stored alert occurrence: a fingerprint firing from one ``startsAt``."""

    id: int
    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_by: str | None
    generator_url: str
    group_key: str
    snoozed_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One entry of an alert's history."""

    id: int
    alert_id: int
    kind: EventKind
    at: datetime
    actor: str | None
    note: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for an action, and through which interface (api, slack, cli, alertmanager)."""

    name: str
    interface: str


SEVERITY_ORDER = ("critical", "error", "high", "warning", "medium", "low", "info", "none")
"""Values of the ``severity`` label, worst first (case aside); any other value ranks below all
of them. Notices name their worst severity and the console sorts by it in this order."""


def severity_rank(value: str) -> int:
    """Where a ``severity`` value stands in ``SEVERITY_ORDER``: 0 is the worst."""
    try:
        return SEVERITY_ORDER.index(value.lower())
    except ValueError:
        return len(SEVERITY_ORDER)


DRILL_LABEL = "firebreak_drill"
"""The label of a synthetic alert a drill injected (its value is the drill's id). Only an
alert whose id and labels match a drill recorded in the store is treated as one (its
notifications say so, it starts only the runbook being drilled); on any other alert it is an
ordinary label."""

Clock = Callable[[], datetime]
"""Returns the current aware UTC time; injected so tests can move time."""


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a configuration reload came to: in force (with the sections that wait for a
    restart), or refused with every problem."""

    ok: bool
    problems: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()


# Ids are 64-bit signed integers in both databases; a larger number names nothing.
MAX_ID = 2**63 - 1


def parse_id(raw: str | None) -> int | None:
    """A whole number written in ASCII digits that fits a database id, else None.

    ``str.isdigit`` alone is not enough: it accepts "²", which ``int`` refuses.
    """
    if raw is None or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= MAX_ID else None
