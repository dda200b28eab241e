"""Domain types. Values only: nothing here performs I/O or imports the rest of the package (one
annotation names ``matchers.Matcher``, under ``TYPE_CHECKING``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receiver.matchers import Matcher


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
    PAGED = "paged"  # a tier paged a person (directly, through a schedule or a team)
    HELD = "held"  # a maintenance window held it back from escalation and runbooks, or let go


@dataclass(frozen=True, slots=True)
class Page:
    """A tier of an escalation paged a person about an alert: who, when, by which tier and
    through which entry of it (``person:ID``, ``schedule:ID``, ``team:ID``)."""

    alert_id: int
    person: str
    paged_at: datetime
    policy: str
    route: str
    tier: int  # 0-based
    repeat: int
    via: str
    contacts: tuple[str, ...]  # the contact kinds the page went to: slack, email, pagerduty


@dataclass(frozen=True, slots=True)
class HeartbeatRecord:
    """What the store knows of a heartbeat: when Firebreak first knew of it, its last beat
    (with the sender's message), how many beats came, and since when its alert fires."""

    name: str
    registered_at: datetime
    last_beat_at: datetime | None
    beats: int
    last_message: str | None
    missing_since: datetime | None


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


# Grafana's webhook group keys are stored with this prefix, so they never pass for Alertmanager's.
GRAFANA_GROUP_PREFIX = "grafana:"
# And its alerts' fingerprints: Grafana hashes labels as Alertmanager does, so the same labels
# from both would otherwise be one occurrence, and either source's resolve would end the other's.
GRAFANA_FINGERPRINT_PREFIX = "grafana:"
# The fingerprints of pages raised by hand (``ManualPage.fingerprint``).
MANUAL_FINGERPRINT_PREFIX = "manual-"
# The fingerprints of alerts Firebreak raises itself (heartbeats, on-call gaps): not hex, so no
# webhook's alert can pass for one and resolve it.
FIREBREAK_FINGERPRINT_PREFIX = "firebreak:"
# Fingerprints only Firebreak gives: Alertmanager's may not start so (its own are hex digits).
RESERVED_FINGERPRINT_PREFIXES = (
    GRAFANA_FINGERPRINT_PREFIX,
    MANUAL_FINGERPRINT_PREFIX,
    FIREBREAK_FINGERPRINT_PREFIX,
)
# The group of alerts raised by hand (POST /api/v1/alerts).
MANUAL_GROUP_KEY = "firebreak:manual"
# The group of alerts Firebreak raises for heartbeats gone quiet (receiver/heartbeats.py).
HEARTBEAT_GROUP_KEY = "firebreak:heartbeats"
# The group of alerts Firebreak raises for gaps in on-call coverage (receiver/oncall_gaps.py).
ONCALL_GAP_GROUP_KEY = "firebreak:oncall_gap"
# The group MonitoringPipelineBroken was raised in before the watchdog was a heartbeat: the
# watchdog heartbeat still ends what it finds there, so no webhook may put an alert in it.
WATCHDOG_GROUP_KEY = "firebreak:watchdog"


@dataclass(frozen=True, slots=True)
class PageTarget:
    """Who a page raised by hand is for: one person, whoever a schedule has on call, or a
    team's members, each by its id in the configuration."""

    kind: str  # person, schedule or team
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class ManualPage:
    """A page raised by hand, as asked for and checked."""

    key: str
    title: str
    details: str
    severity: str
    labels: Mapping[str, str]
    target: PageTarget | None = None

    @property
    def fingerprint(self) -> str:
        return MANUAL_FINGERPRINT_PREFIX + hashlib.sha256(self.key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RaisedPage:
    """A page raised by hand as recorded: by whom and when (the alert's start)."""

    page: ManualPage
    raised_by: str
    raised_at: datetime


def source_actor(notification: Notification) -> str:
    """Who an alert's history says fired it: ``grafana``, the person who raised it by hand
    (``api:alice``), ``firebreak`` for its own (heartbeats, on-call gaps), else
    ``alertmanager``."""
    if notification.group_key == MANUAL_GROUP_KEY:
        return notification.receiver
    if notification.group_key.startswith(GRAFANA_GROUP_PREFIX):
        return "grafana"
    if notification.group_key in (HEARTBEAT_GROUP_KEY, ONCALL_GAP_GROUP_KEY):
        return "firebreak"
    return "alertmanager"


def held_by_alertmanager(group_key: str) -> bool:
    """Whether alerts of ``group_key`` came from Alertmanager, whose API can be asked about them
    (reconciling, fetching a truncated group); Grafana's and those raised by hand are not there
    to be found, nor are those Firebreak raised itself (a quiet heartbeat, a gap in on-call
    coverage)."""
    return not group_key.startswith(GRAFANA_GROUP_PREFIX) and group_key not in (
        MANUAL_GROUP_KEY,
        HEARTBEAT_GROUP_KEY,
        ONCALL_GAP_GROUP_KEY,
        WATCHDOG_GROUP_KEY,
    )


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
    # Fields of the first webhook beyond Alertmanager's own (Grafana's links and values).
    extra: Mapping[str, Any] = field(default_factory=dict)


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


# -- jobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    payload: dict[str, Any]
    due_at: datetime
    idempotency_key: str
    coalesce_key: str | None = None


# The outcome a job not finished yet carries once a run of it ended in doubt (``Job.in_doubt``);
# marking it done or dead replaces it.
IN_DOUBT = "in_doubt"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    state: str
    due_at: datetime
    attempts: int
    last_error: str | None
    outcome: str | None
    idempotency_key: str
    coalesce_key: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    started_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    claims: int = 0  # times workers claimed it, this claim included

    @property
    def claimed_before(self) -> bool:
        """Whether an earlier run may have started this job's side effect: it was cut off,
        taken over from a worker that died, deferred or retried."""
        return self.claims > 1

    @property
    def in_doubt(self) -> bool:
        """Whether an earlier run began this job's side effect and ended without knowing what
        came of it (cut off at shutdown with a request out, or deferred or retried after one
        went unanswered): the next run looks before doing it again. Narrower than
        ``claimed_before``, which a run deferred before it began sets too."""
        return self.outcome == IN_DOUBT


# -- runbook executions ----------------------------------------------------------------------------


FINAL_STATES = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")


ACTIVE_STATES = ("pending", "running", "waiting_approval")


@dataclass(frozen=True, slots=True)
class Execution:
    id: int
    runbook: str
    alert_id: int | None
    fingerprint: str | None
    trigger: str
    dry_run: bool
    state: str
    actor: str
    params: dict[str, Any]
    trigger_context: dict[str, Any]
    start_key: str
    phase: str
    position: int
    rollback_plan: list[int] | None
    approved_by: str | None
    cancel_reason: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class StepRun:
    id: int
    execution_id: int
    phase: str
    position: int
    step_id: str
    type: str
    state: str
    attempt: int
    job_id: int | None
    inputs: Any
    output: Any
    error: str | None
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    id: int
    execution_id: int
    at: datetime
    from_state: str | None
    to_state: str
    actor: str | None
    note: str | None


# The states an execution may be in, the active ones first.
EXECUTION_STATES = (*ACTIVE_STATES, *FINAL_STATES)


# -- alert listings --------------------------------------------------------------------------------


class AlertOrder(StrEnum):
    """The order of a listing."""

    RECEIVED = "received"  # newest first as Firebreak first stored them: the API's, cursor an id
    NEWEST = "newest"  # by start time, newest first
    OLDEST = "oldest"  # by start time, oldest first
    SEVERITY = "severity"  # worst first (SEVERITY_ORDER), newest first within a severity


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_KEY = re.compile(r"([0-9]{1,2})\.(-?[0-9]{1,20})\.([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class SortKey:
    """Where a page of a listing in an order other than RECEIVED stopped: its last alert's
    severity rank (SEVERITY only, else 0), start time and id. Written as three whole numbers,
    ``rank.microseconds.id``, so a cursor carries nothing but numbers."""

    rank: int
    starts_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.starts_at - _EPOCH) // timedelta(microseconds=1)
        return f"{self.rank}.{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> SortKey | None:
        """The key ``encode`` wrote, or None for anything else."""
        found = _KEY.fullmatch(text)
        if found is None:
            return None
        rank, micros, alert_id = (int(part) for part in found.groups())
        if rank > len(SEVERITY_ORDER) or alert_id > MAX_ID:
            return None
        try:
            starts_at = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None
        return cls(rank, starts_at, alert_id)


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Filters of ``GET /api/v1/alerts`` and the console, and the order of the listing.

    The cursor is ``before_id`` in the RECEIVED order and ``after`` in the others. ``snoozed``
    keeps the alerts snoozed (or not snoozed) at ``now``.
    """

    status: AlertStatus | None = None
    acknowledged: bool | None = None
    matchers: tuple[tuple[Matcher, ...], ...] = ()  # any group may match, all in a group must
    since: datetime | None = None
    limit: int = 100
    before_id: int | None = None
    order: AlertOrder = AlertOrder.RECEIVED
    after: SortKey | None = None
    snoozed: bool | None = None
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.snoozed is not None and self.now is None:
            raise ValueError("an AlertQuery on snoozed needs the time it is judged at (now)")


@dataclass(frozen=True, slots=True)
class AlertPage:
    """A page of a listing and where the next one starts: ``next_cursor`` in the RECEIVED
    order, ``next_key`` in the others; None when this is the last page."""

    alerts: tuple[Alert, ...]
    next_cursor: int | None
    next_key: SortKey | None = None


@dataclass(frozen=True, slots=True)
class AlertCounts:
    """How many alerts a filter selects, by severity (worst first) and by state. Acknowledged,
    unacknowledged and snoozed count firing alerts only. ``partial`` when the filter's label
    matchers could not be counted in SQL and only the newest ``COUNT_BUDGET`` alerts the rest
    of the filter selects were looked at: the figures are then lower bounds."""

    severities: tuple[tuple[str, int], ...]
    firing: int
    acknowledged: int
    unacknowledged: int
    snoozed: int
    resolved: int
    partial: bool = False

    @property
    def total(self) -> int:
        return self.firing + self.resolved
