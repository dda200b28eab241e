"""Heartbeats: what Prometheus cannot scrape (cron jobs, batch runs, backups) reports in, and
Firebreak raises an alert when one goes quiet.

A beat (``POST /api/v1/heartbeats/{name}`` with the heartbeat's token) records its time and,
in the same transaction, enqueues the durable ``heartbeat`` check due when the heartbeat would
become missing: ``interval`` plus ``grace`` after it. Its idempotency key names that moment, so
a restart, a second replica or a repeated seed enqueues it once. When the check finds no later
beat, it raises ``HeartbeatMissing`` (labels from the configuration, ``heartbeat: <name>``)
through the ordinary ingest path, so it is routed and escalated like any alert; the next beat
enqueues a check due at once, which resolves it. Before its first beat a heartbeat is measured
from when Firebreak first knew of it (its row's ``registered_at``), which a restart keeps: a
restart neither forgets a deadline nor invents one.

A heartbeat may be fed by an alert instead (``alert``; the ``watchdog`` section is such a
heartbeat): each arrival of that alert firing is a beat, read from the alert's ``last_seen_at``
when the check runs. Arrivals enqueue nothing, so while such a heartbeat is missing its check
looks again every ``check_interval`` (in time slots, so a check run twice keeps one chain).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receiver.access.auth import secret_matches
from receiver.config.heartbeats import HEARTBEAT_LABEL, WATCHDOG_HEARTBEAT, HeartbeatConfig
from receiver.durations import format_duration
from receiver.errors import NotFound, Unauthenticated
from receiver.job_handlers import Done, Handler, JobContext, Outcome
from receiver.metrics import Metrics
from receiver.model import (
    HEARTBEAT_GROUP_KEY,
    WATCHDOG_GROUP_KEY,
    Alert,
    AlertSnapshot,
    AlertStatus,
    HeartbeatRecord,
    NewJob,
    Notification,
)
from receiver.pipeline import (
    fingerprint_of,
    notification,
    resolved_snapshot,
)
from receiver.store import Store
from receiver.views import ts

log = logging.getLogger("firebreak.heartbeats")

CHECK = "heartbeat"
RECEIVER = "firebreak"

Submit = Callable[[Notification], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HeartbeatStatus:
    """A heartbeat as the API, the console and the CLI show it.

    ``state``: ``new`` (no beat yet, not overdue), ``ok``, ``late`` (past its interval, within
    its grace) or ``missing`` (past both: its alert fires)."""

    name: str
    config: HeartbeatConfig
    state: str
    last_beat_at: datetime | None
    due_at: datetime  # the next beat is expected by then
    missing_at: datetime  # and counts as missing from then on
    beats: int
    last_message: str | None


def status_of(
    name: str, config: HeartbeatConfig, record: HeartbeatRecord | None, now: datetime
) -> HeartbeatStatus:
    """Where a heartbeat stands at ``now`` (one not registered yet counts from ``now``)."""
    last = record.last_beat_at if record is not None else None
    basis = last or (record.registered_at if record is not None else now)
    due_at = basis + config.interval
    missing_at = basis + config.overdue_after
    if now >= missing_at:
        state = "missing"
    elif now >= due_at:
        state = "late"
    else:
        state = "ok" if last is not None else "new"
    return HeartbeatStatus(
        name=name,
        config=config,
        state=state,
        last_beat_at=last,
        due_at=due_at,
        missing_at=missing_at,
        beats=record.beats if record is not None else 0,
        last_message=record.last_message if record is not None else None,
    )


def check_job(name: str, due_at: datetime, why: str = "due") -> NewJob:
    """The check of ``name`` at ``due_at``: one per heartbeat, moment and reason (``due``: its
    deadline; ``beat``: a beat of a missing heartbeat; ``recheck``: a beat during a check;
    ``gone``: no longer configured), whoever enqueues it. The reason keeps a check asked for
    at the very moment a deadline check ran from being taken for that one."""
    return NewJob(
        kind=CHECK,
        payload={"name": name},
        due_at=due_at,
        idempotency_key=f"{CHECK}:{name}:{why}:{due_at.timestamp():.6f}",
    )


def poll_job(name: str, config: HeartbeatConfig, now: datetime) -> NewJob:
    """The next look for an ``alert`` heartbeat's return: at the start of the next slot of
    ``check_interval``, keyed by the slot."""
    seconds = config.check_interval.total_seconds()
    slot = int(now.timestamp() // seconds) + 1
    return check_job(name, datetime.fromtimestamp(slot * seconds, UTC), "poll")


def alert_labels(name: str, config: HeartbeatConfig) -> dict[str, str]:
    return {
        "alertname": config.alertname,
        "severity": "warning",
        **config.labels,
        HEARTBEAT_LABEL: name,
    }


def _overdue_alert(status: HeartbeatStatus, registered_at: datetime) -> AlertSnapshot:
    config = status.config
    labels = alert_labels(status.name, config)
    since = (
        f"its last beat at {status.last_beat_at.isoformat()}"
        if status.last_beat_at is not None
        else f"Firebreak began watching it at {registered_at.isoformat()}"
    )
    description = config.description or (
        f"The heartbeat {status.name} is due every {format_duration(config.interval)} "
        f"(grace {format_duration(config.grace)}) and has not beaten since {since}: "
        "the job that sends it may have stopped, failed or lost its way here."
    )
    return AlertSnapshot(
        status=AlertStatus.FIRING,
        labels=labels,
        annotations={
            "summary": config.summary
            or f"No heartbeat from {status.name} for over {format_duration(config.overdue_after)}",
            "description": description,
        },
        # The moment it became missing: the same on every run, so one occurrence.
        starts_at=status.missing_at,
        ends_at=None,
        generator_url="",
        fingerprint=fingerprint_of(labels),
    )


class Heartbeats:
    """Beats, the durable checks behind them, and the heartbeats' state."""

    def __init__(
        self,
        config: Mapping[str, HeartbeatConfig],
        store: Store,
        metrics: Metrics,
        submit: Submit,
        wake: Callable[[], None],
    ) -> None:
        self._config = config
        self._store = store
        self._metrics = metrics
        self._submit = submit
        self._wake = wake

    def handlers(self) -> dict[str, Handler]:
        return {CHECK: self.check}

    def configured(self, name: str) -> HeartbeatConfig:
        config = self._config.get(name)
        if config is None:
            raise NotFound("no heartbeat of that name is configured")
        return config

    def authenticate(self, name: str, token: str | None) -> HeartbeatConfig:
        """The heartbeat ``name`` when ``token`` is its token: 404 for a name not configured,
        401 for a missing or wrong token."""
        config = self.configured(name)
        if config.token is None or not secret_matches(token, config.token):
            raise Unauthenticated("the heartbeat's token is required (Authorization: Bearer)")
        return config

    async def seed(self, now: datetime) -> None:
        """Register the configured heartbeats (a known one keeps its baseline), enqueue each
        one's check (and one now for each heartbeat whose alert fires, to resolve it if it is
        no longer configured or no longer missing), and show their state in the metrics."""
        raised = {
            a.labels.get(HEARTBEAT_LABEL, "")
            for a in await self._store.firing_occurrences(group_key=HEARTBEAT_GROUP_KEY)
        }
        if await self._store.firing_occurrences(group_key=WATCHDOG_GROUP_KEY):
            raised.add(WATCHDOG_HEARTBEAT)  # raised before the watchdog was a heartbeat
        # A look now at each heartbeat whose alert fires: it resolves what no longer should.
        gone = [
            check_job(name, now, "gone" if name not in self._config else "seed")
            for name in sorted(raised)
        ]
        arrivals = await self._arrivals()
        async with self._store.transaction() as conn:
            await self._store.heartbeats.register(conn, self._config, now)
            records = _merged(await self._store.heartbeats.all(conn), arrivals)
            statuses = [status_of(n, c, records.get(n), now) for n, c in self._config.items()]
            checks = [check_job(s.name, max(s.missing_at, now)) for s in statuses]
            await self._store.jobs.enqueue(conn, checks + gone, now)
        self._show_all(statuses)
        self._wake()

    async def beat(self, name: str, message: str | None, now: datetime) -> HeartbeatStatus:
        """Record a beat of ``name`` (authenticated already) and enqueue its next check; when
        the heartbeat is marked missing, a check at once too, which resolves its alert."""
        config = self.configured(name)
        async with self._store.transaction() as conn:
            record = await self._store.heartbeats.beat(conn, name, now, message)
            status = status_of(name, config, record, now)
            checks = [check_job(name, status.missing_at)]
            if record.missing_since is not None:
                checks.append(check_job(name, now, "beat"))
            await self._store.jobs.enqueue(conn, checks, now)
        self._metrics.heartbeat_last_beat.labels(name).set(now.timestamp())
        if record.missing_since is not None:
            log.info("heartbeat %s beats again", name)
            self._wake()
        return status

    async def statuses(self, now: datetime) -> list[HeartbeatStatus]:
        """Every configured heartbeat, by name."""
        arrivals = await self._arrivals()
        async with self._store.connection() as conn:
            records = _merged(await self._store.heartbeats.all(conn), arrivals)
        return [status_of(n, c, records.get(n), now) for n, c in sorted(self._config.items())]

    async def count_gauges(self, now: datetime) -> None:
        """Show every heartbeat's state in the metrics as the store has it now: an ``alert``
        heartbeat's arrivals enqueue no job, so the gauges are counted with the store's."""
        self._show_all(await self.statuses(now))

    async def status(self, name: str, now: datetime) -> HeartbeatStatus | None:
        """One configured heartbeat, or None."""
        return next((s for s in await self.statuses(now) if s.name == name), None)

    async def watchdog_status(self, now: datetime) -> dict[str, Any] | None:
        """The watchdog's heartbeat as /health/detailed shows it; None when not configured."""
        status = await self.status(WATCHDOG_HEARTBEAT, now)
        if status is None or status.config.alert is None:
            return None
        basis = status.missing_at - status.config.overdue_after
        return {
            "alertname": status.config.alert,
            "last_seen_at": status.last_beat_at,
            "age_seconds": round(max(0.0, (now - basis).total_seconds()), 3),
            "timeout_seconds": status.config.overdue_after.total_seconds(),
            "status": "missing" if status.state == "missing" else "ok",
        }

    async def check(self, ctx: JobContext) -> Outcome:
        name = str(ctx.job.payload.get("name", ""))
        config = self._config.get(name)
        async with self._store.connection() as conn:
            record = await self._store.heartbeats.get(conn, name)
        if record is not None and config is not None and config.alert is not None:
            record = _merged({name: record}, await self._arrivals())[name]
        open_ = await self._open_alerts(name)
        if config is None or record is None:
            # No longer configured: what it raised ends with it.
            await self._resolve(open_, ctx.now)
            return Done("unconfigured")
        status = status_of(name, config, record, ctx.now)
        self._show(status)
        if status.state != "missing":
            await self._resolve(open_, ctx.now)
            if record.missing_since is not None:
                async with self._store.transaction() as conn:
                    await self._store.heartbeats.clear_missing(conn, name)
            return Done(status.state, enqueue=[check_job(name, status.missing_at)])
        if not open_:
            log.error("heartbeat %s missing since %s", name, status.missing_at.isoformat())
            overdue = _overdue_alert(status, record.registered_at)
            await self._submit(
                notification(HEARTBEAT_GROUP_KEY, RECEIVER, AlertStatus.FIRING, [overdue])
            )
        # Arrivals of an alert enqueue nothing: look for its return every check_interval.
        follow = [poll_job(name, config, ctx.now)] if config.alert is not None else []
        if record.missing_since is None:
            async with self._store.transaction() as conn:
                latest = await self._store.heartbeats.mark_missing(conn, name, status.missing_at)
            if latest != record.last_beat_at:  # a beat came while this ran: look again
                follow.append(check_job(name, ctx.now, "recheck"))
        return Done("missing", enqueue=follow)

    async def _open_alerts(self, name: str) -> list[Alert]:
        # By the heartbeat label, not the fingerprint: the labels may have changed by reload.
        found = [
            a
            for a in await self._store.firing_occurrences(group_key=HEARTBEAT_GROUP_KEY)
            if a.labels.get(HEARTBEAT_LABEL) == name
        ]
        if name == WATCHDOG_HEARTBEAT:
            # Raised by releases before the watchdog was a heartbeat: it ends the same way.
            found += await self._store.firing_occurrences(group_key=WATCHDOG_GROUP_KEY)
        return found

    async def _arrivals(self) -> dict[str, datetime]:
        """When each ``alert`` heartbeat's alert last arrived firing."""
        found = {}
        for name, config in self._config.items():
            if config.alert is not None:
                last = await self._store.last_seen_firing(config.alert)
                if last is not None:
                    found[name] = last
        return found

    async def _resolve(self, open_: list[Alert], now: datetime) -> None:
        if open_:
            ended = [resolved_snapshot(a, now) for a in open_]
            await self._submit(
                notification(HEARTBEAT_GROUP_KEY, RECEIVER, AlertStatus.RESOLVED, ended)
            )

    def _show_all(self, statuses: list[HeartbeatStatus]) -> None:
        self._metrics.heartbeat_missing.clear()
        self._metrics.heartbeat_last_beat.clear()
        for status in statuses:
            self._show(status)

    def _show(self, status: HeartbeatStatus) -> None:
        self._metrics.heartbeat_missing.labels(status.name).set(
            1 if status.state == "missing" else 0
        )
        if status.last_beat_at is not None:
            self._metrics.heartbeat_last_beat.labels(status.name).set(
                status.last_beat_at.timestamp()
            )
        if status.name == WATCHDOG_HEARTBEAT and status.config.alert is not None:
            self._metrics.watchdog_missing.set(1 if status.state == "missing" else 0)
            if status.last_beat_at is not None:
                self._metrics.watchdog_last_seen.set(status.last_beat_at.timestamp())


def _merged(
    records: dict[str, HeartbeatRecord], arrivals: Mapping[str, datetime]
) -> dict[str, HeartbeatRecord]:
    """Records whose last beat is the later of their last request and their alert's arrival."""
    merged = dict(records)
    for name, arrived in arrivals.items():
        record = merged.get(name)
        if record is not None and (record.last_beat_at is None or arrived > record.last_beat_at):
            merged[name] = dataclasses.replace(record, last_beat_at=arrived)
    return merged


def heartbeat_json(status: HeartbeatStatus) -> dict[str, Any]:
    """A heartbeat as the API and the CLI show it; never its token."""
    config = status.config
    return {
        "name": status.name,
        "state": status.state,
        "last_beat_at": ts(status.last_beat_at),
        "due_at": ts(status.due_at),
        "missing_at": ts(status.missing_at),
        "interval_seconds": config.interval.total_seconds(),
        "grace_seconds": config.grace.total_seconds(),
        "beats": status.beats,
        "last_message": status.last_message,
        "alert": config.alert,
        "labels": alert_labels(status.name, config),
    }
