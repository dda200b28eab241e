"""Every table Firebreak keeps, defined once (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# Names for constraints so alembic migrations are stable across SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL so later queries can look inside labels; JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


# Stored times each SQLite column keeps parsed (see UTCDateTime.result_processor).
_RECENT_TIMES = 256


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them as text without an offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times must be aware UTC")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return sqlite_time_reader()

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def sqlite_time_reader() -> Callable[[str | None], datetime | None]:
    """What reads a time SQLite keeps as text (see ``UTCDateTime``) into an aware UTC time.

    One parse straight to an aware time, rather than the driver type's parse and then
    ``process_result_value``, on every time of every row read. The alerts of a batch share
    their arrival and often their startsAt, so the times last read are kept (immutable values;
    a race between threads costs a parse)."""
    recent: dict[str, datetime] = {}

    def read(value: str | None) -> datetime | None:
        if value is None:
            return None
        found = recent.get(value)
        if found is not None:
            return found
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if len(recent) >= _RECENT_TIMES:
            recent.clear()
        recent[value] = parsed
        return parsed

    return read


alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("fingerprint", String(128), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("alertname", String(256), nullable=False, server_default=""),
    Column("severity", String(64), nullable=False, server_default=""),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("generator_url", Text, nullable=False, server_default=""),
    Column("group_key", Text, nullable=False, server_default=""),
    Column("extra", Json),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime()),
    Column("acknowledged_by", String(256)),
    Column("resolved_by", String(256)),
    Column("snoozed_until", UTCDateTime()),
    # One occurrence is one fingerprint firing from one startsAt, however often it is re-sent.
    UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_occurrence"),
    Index("ix_alerts_status_id", "status", "id"),
    Index("ix_alerts_starts_at", "starts_at"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(256)),
    Column("note", Text),
    Column("request_id", String(128)),
    Index("ix_alert_events_alert_id", "alert_id", "id"),
)

# One row per accepted webhook: when it came, for which group, and what Alertmanager said
# about the group (truncated alerts, fields newer Alertmanagers add). The group's common
# labels and annotations are not kept: every alert row has its own.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("request_id", String(128)),
    Column("receiver", String(256), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("truncated_alerts", Integer, nullable=False),
    Column("group_labels", Json, nullable=False),
    Column("external_url", Text, nullable=False),
    Column("extra", Json),
    Index("ix_webhooks_received_at", "received_at"),
)


# Every side effect and every timer is a job: claimed by a worker, leased, retried with
# backoff, dead-lettered when it keeps failing. ``idempotency_key`` makes enqueueing the same
# job twice a no-op and is handed to the side effect, so a retried send can be recognised.
# ``coalesce_key`` groups jobs that one worker may send as one message (an alert group, a digest).
class GroupKeyOf(FunctionElement[str]):
    """The ``group_key`` a job's payload names, written as the index on it is (a path in the
    SQL text, not a bound parameter, or neither database would match the index)."""

    type = String()
    name = "group_key_of"
    inherit_cache = True


@compiles(GroupKeyOf, "sqlite")
def _group_key_of_sqlite(element: GroupKeyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.group_key')"


@compiles(GroupKeyOf, "postgresql")
def _group_key_of_postgresql(element: GroupKeyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} ->> 'group_key')"


# Notices not delivered yet (pending, running, or held back for a digest): what a later tier's
# notice about the same alerts waits behind. Written out as SQL so that a query saying the same
# (``JobQueue.on_their_way``) is seen by both databases to be covered by the partial index.
NOTICES_ON_THEIR_WAY = "kind IN ('notify', 'digest') AND state IN ('pending', 'running')"

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("state", String(16), nullable=False),  # pending | running | done | dead
    Column("due_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    # What came of it once done or dead; before that, "in_doubt" when a run began its side
    # effect and ended without knowing what came of it (``Job.in_doubt``).
    Column("outcome", String(64)),
    Column("idempotency_key", String(512), nullable=False),
    Column("coalesce_key", String(512)),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime()),
    Column("started_at", UTCDateTime()),  # when a worker last claimed it
    # How many times workers claimed it: above 1, an earlier run may have had its side effect
    # (cut off, taken over, deferred or retried) and the handler looks before doing it again.
    Column("claims", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    UniqueConstraint("idempotency_key", name="uq_jobs_idempotency_key"),
    Index("ix_jobs_state_due_at", "state", "due_at"),
    Index("ix_jobs_coalesce_key_state", "coalesce_key", "state"),
)
# Only the few notices on their way, by alert group: the jobs table holds every timer and every
# finished job besides.
Index(
    "ix_jobs_notices_on_their_way",
    GroupKeyOf(jobs.c.payload),
    sqlite_where=text(NOTICES_ON_THEIR_WAY),
    postgresql_where=text(NOTICES_ON_THEIR_WAY),
)

# One row per message a channel accepted: what was sent for which alert, where, and the
# channel's reference (to thread updates and to send resolved notices to the same places).
notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("target", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tier", Integer),
    Column("idempotency_key", String(512), nullable=False),
    Column("reference", String(512)),
    Column("sent_at", UTCDateTime(), nullable=False),
    Index("ix_notifications_alert_id", "alert_id"),
    # The alerts of a Slack message (a button press) or a PagerDuty incident (its webhook).
    Index("ix_notifications_reference", "reference"),
)

# One row per person a tier paged about an alert, written with the notices that page them:
# who was paged, when, by which tier and through which entry (a person, a schedule, a team).
# Reports count pages per person from it. A tier run again after a crash adds nothing.
pages = Table(
    "pages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("person", String(128), nullable=False),
    Column("paged_at", UTCDateTime(), nullable=False),
    Column("policy", String(128), nullable=False),
    Column("route", String(256), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("via", String(256), nullable=False),
    Column("contacts", Json, nullable=False),
    UniqueConstraint(
        "alert_id", "route", "policy", "repeat", "tier", "person", name="uq_pages_alert_tier_person"
    ),
    Index("ix_pages_person_paged_at", "person", "paged_at"),
)

# One row per page raised by hand, written before its alert is ingested: the client's key (one
# page however often it is sent), who raised it and when (the alert's startsAt), whom it is for
# (``schedule:ID``, ``person:ID``, ``team:ID``, or empty) and what it said. Escalation reads the
# target from here, never from the alert's labels.
manual_pages = Table(
    "manual_pages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(128), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("raised_at", UTCDateTime(), nullable=False),
    Column("raised_by", String(256), nullable=False),
    Column("target", String(256), nullable=False, server_default=""),
    Column("title", String(256), nullable=False),
    Column("details", Text, nullable=False, server_default=""),
    Column("severity", String(16), nullable=False),
    Column("labels", Json, nullable=False),
    UniqueConstraint("key", name="uq_manual_pages_key"),
    Index("ix_manual_pages_fingerprint", "fingerprint"),
)

# The routes each occurrence took (several with ``continue: true``) and the escalation policy
# each led to, written when the route job first sees the occurrence: reports group response
# times by route. One row per (occurrence, route), however often routing runs again.
alert_routes = Table(
    "alert_routes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("route", String(256), nullable=False),
    Column("escalation_policy", String(128), nullable=False),
    Column("routed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("alert_id", "route", name="uq_alert_routes_alert_route"),
)

# Runbook automation. One row per execution of a runbook (automatic, manual or a drill), one
# per step run (and per rollback step), and every state transition, for the audit trail.
# ``start_key`` makes starting the same execution twice (a re-run start job) a no-op.
executions = Table(
    "executions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("runbook", String(128), nullable=False),
    Column("alert_id", Id),
    Column("fingerprint", String(128)),
    Column("trigger", String(16), nullable=False),  # auto | manual | drill
    Column("dry_run", Boolean, nullable=False, server_default=false()),
    Column("state", String(24), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("params", Json, nullable=False),
    Column("trigger_context", Json, nullable=False),
    Column("start_key", String(512), nullable=False),
    Column("phase", String(16), nullable=False),  # run | rollback
    Column("position", Integer, nullable=False, server_default="0"),
    Column("rollback_plan", Json),  # run positions to roll back, in order
    Column("approved_by", String(256)),  # who let an automatic run past its approval gate
    Column("cancel_reason", Text),
    Column("error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    UniqueConstraint("start_key", name="uq_executions_start_key"),
    Index("ix_executions_runbook_state", "runbook", "state"),
    Index("ix_executions_fingerprint", "fingerprint", "runbook"),
    Index("ix_executions_alert_id", "alert_id", "id"),
)

execution_steps = Table(
    "execution_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("execution_id", Id, ForeignKey("executions.id", ondelete="CASCADE"), nullable=False),
    Column("phase", String(16), nullable=False),  # run | rollback
    Column("position", Integer, nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    # pending | running | waiting | waiting_approval | retrying | succeeded | failed |
    # skipped | interrupted
    Column("state", String(24), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("job_id", Id),  # the job running it: a re-claimed job finding its own step died
    Column("inputs", Json),  # rendered, secrets redacted
    Column("output", Json),
    Column("error", Text),
    Column("decision", String(16)),  # approved | rejected, for approvals and approval gates
    Column("decided_by", String(256)),
    Column("decided_at", UTCDateTime()),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("duration_seconds", Float),
    UniqueConstraint("execution_id", "phase", "position", name="uq_execution_steps_position"),
)

execution_events = Table(
    "execution_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("execution_id", Id, ForeignKey("executions.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24), nullable=False),
    Column("actor", String(256)),
    Column("note", Text),
    Index("ix_execution_events_execution_id", "execution_id", "id"),
)

# Drills people asked for (API, CLI), recorded before their synthetic alert is injected: the
# routing of an alert carrying ``firebreak_drill=<id>`` starts a drill only when this table
# holds that id with exactly the alert's labels, and reads the runbook and live flag here,
# never from labels. The first alert that starts it is bound to it.
drills = Table(
    "drills",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("runbook", String(128), nullable=False),
    Column("live", Boolean, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("labels", Json, nullable=False),
    Column("alert_id", Id),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
)

# Switches shared by every replica: the automation kill switch, runbook breaker resets.
automation_settings = Table(
    "automation_settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(256)),
)

# The audit trail: one append-only row per action by a person or a token (acknowledge,
# resolve, snooze, silence, runbook runs and decisions, automation pause and resume, reload,
# job retry), allowed or refused, from any interface.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("interface", String(32), nullable=False),  # api, slack, cli, signal
    Column("action", String(64), nullable=False),
    Column("target", String(256)),
    Column("outcome", String(32), nullable=False),  # ok, refused, rejected, failed
    Column("status", Integer),  # the HTTP status, when it came over HTTP
    Column("request_id", String(128)),
    Column("detail", Json),
    Index("ix_audit_log_at", "at"),
)

# PagerDuty v3 webhook events already received, by PagerDuty's event id: a delivery of one of
# them again (a replay, or PagerDuty's own retry of one answered already) changes nothing.
# ``window_ends_at`` is when a copy of the event would be refused as stale anyway; the row is
# purged after that (and after ``retention.period``).
pagerduty_events = Table(
    "pagerduty_events",
    metadata,
    Column("event_id", String(256), primary_key=True),
    Column("event_type", String(128), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("window_ends_at", UTCDateTime(), nullable=False),
    Column("outcome", String(32), nullable=False),
    Index("ix_pagerduty_events_window_ends_at", "window_ends_at"),
)

# On-call overrides made at run time (API, Slack, console, CLI): ``person`` is on call for
# ``schedule`` from ``starts_at`` to ``ends_at`` over whatever the schedule's layers say. The
# schedule is an id of the configuration; an override of a schedule no longer configured is
# kept and shown, and does nothing.
oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule", String(64), nullable=False),
    Column("person", String(64), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_oncall_overrides_schedule", "schedule", "ends_at"),
)

# Maintenance windows made at run time (API, Slack, console, CLI); those of the configuration
# file are not stored. A one-off window has ``starts_at`` … ``ends_at``; a recurring one an
# ``rrule`` or ``cron`` with ``duration_seconds`` in ``time_zone`` (``starts_at`` its first).
# Ending one early sets ``ended_at``; rows are kept for the record.
maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("matchers", Json, nullable=False),
    Column("reason", Text, nullable=False),
    Column("owner", String(256), nullable=False),
    Column("starts_at", UTCDateTime()),
    Column("ends_at", UTCDateTime()),
    Column("rrule", Text),
    Column("cron", String(128)),
    Column("duration_seconds", Integer),
    Column("time_zone", String(64), nullable=False),
    Column("silence", Boolean, nullable=False, server_default=false()),
    Column("created_by", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("ended_by", String(256)),
    Index("ix_maintenance_windows_name", "name"),
)


# Heartbeats (configured in firebreak.yml) as they stand: when Firebreak first knew of each
# (the baseline before its first beat), its last beat, and since when its alert fires. A row
# of a heartbeat no longer configured is kept, and does nothing.
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("last_beat_at", UTCDateTime(), nullable=True),
    Column("beats", BigInteger, nullable=False),
    Column("last_message", Text, nullable=True),
    Column("missing_since", UTCDateTime(), nullable=True),
)

# The signed Slack requests (slash commands, button presses) received while their timestamp is
# inside Slack's five-minute window, so that a captured request sent again within it, to this
# replica or another, is refused. A row goes once its request is outside the window anyway.
slack_requests = Table(
    "slack_requests",
    metadata,
    Column("signature", String(128), primary_key=True),  # "v0=" and a hex HMAC-SHA256
    Column("signed_at", UTCDateTime(), nullable=False),  # X-Slack-Request-Timestamp
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_slack_requests_expires_at", "expires_at"),
)
