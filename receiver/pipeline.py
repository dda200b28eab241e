"""Guarding the path alerts come by: reconciling with Alertmanager.

Each check is a periodic durable job: a run enqueues the next under an idempotency key named by
its time slot, so any number of replicas (and restarts) keep exactly one chain going. What a
check finds goes in through the ordinary ingest path, so it is stored, routed and escalated
like any webhook — and an alert it raises is re-raised identically if the job runs again.

- ``watchdog``: retired. The dead man's switch is the heartbeat ``watchdog`` now
  (``receiver.heartbeats``); a ``watchdog`` job a previous release left pending ends its chain.
- ``reconcile``: Firebreak's firing alerts are compared with Alertmanager's active ones. An
  alert Alertmanager holds that Firebreak never stored (a lost webhook) is ingested; one that
  Alertmanager no longer holds is resolved, after a grace period and only by an Alertmanager
  that has been up that long (one just restarted has not heard from Prometheus yet).
- ``fetch_group``: a webhook that Alertmanager cut short (``truncatedAlerts``) is followed by a
  read of the whole group from Alertmanager's API, so no alert of it is missed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from receiver.alertmanager_api import (
    AlertmanagerClient,
    AlertmanagerRejected,
    AlertmanagerUnavailable,
)
from receiver.config import Config
from receiver.job_handlers import Done, Handler, JobContext, Outcome, Retry
from receiver.metrics import Metrics
from receiver.model import (
    FIREBREAK_FINGERPRINT_PREFIX,
    WATCHDOG_GROUP_KEY,
    Alert,
    AlertSnapshot,
    AlertStatus,
    NewJob,
    Notification,
    held_by_alertmanager,
)
from receiver.store import Store

log = logging.getLogger("firebreak.pipeline")

RECONCILE_GROUP_KEY = "firebreak:reconcile"

Submit = Callable[[Notification], Awaitable[None]]


def periodic_job(kind: str, every: timedelta, now: datetime, *, first: bool = False) -> NewJob:
    """The run of ``kind`` for the time slot after ``now`` (the one holding ``now`` when
    ``first``). Keys name the slot, so replicas and restarts enqueue each run once; a late run
    schedules from the present, so chains started in different slots merge."""
    seconds = every.total_seconds()
    slot = int(now.timestamp() // seconds) + (0 if first else 1)
    return NewJob(
        kind=kind,
        payload={},
        due_at=datetime.fromtimestamp(slot * seconds, UTC),
        idempotency_key=f"{kind}:{slot}",
    )


def notification(
    group_key: str, receiver: str, status: AlertStatus, alerts: Sequence[AlertSnapshot]
) -> Notification:
    """A webhook as Alertmanager would have sent it, for alerts Firebreak learnt of itself."""
    return Notification(
        version="4",
        group_key=group_key,
        truncated_alerts=0,
        status=status,
        receiver=receiver,
        group_labels={},
        common_labels={},
        common_annotations={},
        external_url="",
        alerts=tuple(alerts),
    )


class PipelineGuard:
    """The job handlers that watch the alert pipeline itself."""

    def __init__(
        self,
        config: Config,
        store: Store,
        metrics: Metrics,
        submit: Submit,
        alertmanager: AlertmanagerClient | None,
        started_at: datetime,
    ) -> None:
        self._config = config
        self._store = store
        self._metrics = metrics
        self._submit = submit
        self._alertmanager = alertmanager
        self._started_at = started_at

    def handlers(self) -> dict[str, Handler]:
        return {
            "watchdog": self.watchdog,
            "reconcile": self.reconcile,
            "fetch_group": self.fetch_group,
        }

    def seed(self, now: datetime) -> list[NewJob]:
        """The first runs of the periodic checks that are configured."""
        seeds = []
        am = self._config.alertmanager
        if am is not None and am.reconcile_interval > timedelta(0):
            seeds.append(periodic_job("reconcile", am.reconcile_interval, now, first=True))
        return seeds

    # -- the dead man's switch, retired ---------------------------------------------------------

    async def watchdog(self, ctx: JobContext) -> Outcome:
        """A check a previous release enqueued: the heartbeat ``watchdog`` does its work."""
        return Done("moved")

    # -- reconciliation ---------------------------------------------------------------------------

    async def reconcile(self, ctx: JobContext) -> Outcome:
        am = self._config.alertmanager
        if am is None or self._alertmanager is None or am.reconcile_interval <= timedelta(0):
            return Done("disabled")
        follow = [periodic_job("reconcile", am.reconcile_interval, ctx.now)]
        try:
            uptime = await self._alertmanager.uptime(ctx.now)
            held = await self._alertmanager.alerts(receiver=am.receiver)
        except (AlertmanagerUnavailable, AlertmanagerRejected) as exc:
            # Not retried: the next run is one interval away, and it is only a cross-check.
            outcome = "rejected" if isinstance(exc, AlertmanagerRejected) else "unavailable"
            self._metrics.reconcile_runs.labels(outcome).inc()
            log.warning("cannot reconcile with Alertmanager: %s", exc)
            return Done(outcome, enqueue=follow)
        held_keys = {(a.snapshot.fingerprint, _ms(a.snapshot.starts_at)) for a in held}
        # Lost webhooks: alerts Alertmanager notifies about (not silenced or inhibited).
        lost = [
            snap
            for snap, known in await self._align([a.snapshot for a in held if a.state == "active"])
            if not known
        ]
        # Gone from Alertmanager: resolved there, and the resolved webhook never came.
        firing = await self._store.firing_occurrences(exclude_group_keys=(WATCHDOG_GROUP_KEY,))
        settled = uptime >= am.resolve_grace
        gone = [
            resolved_snapshot(a, ctx.now)
            for a in firing
            if held_by_alertmanager(a.group_key)
            and (a.fingerprint, _ms(a.starts_at)) not in held_keys
            and ctx.now - a.last_seen_at >= am.resolve_grace
            and settled
        ]
        if lost:
            log.warning("ingesting %d alerts Alertmanager holds but never sent", len(lost))
            await self._submit(
                notification(RECONCILE_GROUP_KEY, am.receiver, AlertStatus.FIRING, lost)
            )
            self._metrics.reconciled_alerts.labels("ingested").inc(len(lost))
        if gone:
            log.warning("resolving %d alerts Alertmanager no longer holds", len(gone))
            await self._submit(
                notification(RECONCILE_GROUP_KEY, am.receiver, AlertStatus.RESOLVED, gone)
            )
            self._metrics.reconciled_alerts.labels("resolved").inc(len(gone))
        self._metrics.reconcile_runs.labels("ok").inc()
        return Done("ok", enqueue=follow)

    async def fetch_group(self, ctx: JobContext) -> Outcome:
        """Read the whole group of a truncated webhook from Alertmanager and ingest it."""
        p = ctx.job.payload
        if self._alertmanager is None:
            return Done("no_alertmanager")
        try:
            groups = await self._alertmanager.groups(p["receiver"])
        except AlertmanagerUnavailable as exc:
            return Retry(f"Alertmanager: {exc}")
        except AlertmanagerRejected as exc:
            return Done(f"rejected: {exc}"[:64])
        wanted = p["group_labels"]
        fetched = [
            a.snapshot
            for g in groups
            if dict(g.labels) == wanted
            for a in g.alerts
            if a.state == "active"
        ]
        if not fetched:
            return Done("gone")
        alerts = [snap for snap, _known in await self._align(fetched)]
        await self._submit(notification(p["group_key"], p["receiver"], AlertStatus.FIRING, alerts))
        self._metrics.reconciled_alerts.labels("fetched").inc(len(alerts))
        return Done("fetched")

    async def _align(self, snaps: Sequence[AlertSnapshot]) -> list[tuple[AlertSnapshot, bool]]:
        """Alertmanager's API gives times to the millisecond, its webhooks to the nanosecond:
        an API alert whose occurrence is stored takes the stored startsAt (so it is the same
        occurrence), and says so."""
        stored = await self._store.occurrence_starts(s.fingerprint for s in snaps)
        aligned = []
        for snap in snaps:
            same = next(
                (t for t in stored.get(snap.fingerprint, ()) if _ms(t) == _ms(snap.starts_at)),
                None,
            )
            if same is None:
                aligned.append((snap, False))
            else:
                aligned.append((dataclasses.replace(snap, starts_at=same), True))
        return aligned


def fetch_group_job(n: Notification, now: datetime) -> NewJob:
    """Fetch the rest of a group Alertmanager truncated; one job per group and webhook time."""
    digest = hashlib.sha256(f"{n.receiver}\0{n.group_key}".encode()).hexdigest()[:24]
    return NewJob(
        kind="fetch_group",
        payload={
            "receiver": n.receiver,
            "group_key": n.group_key,
            "group_labels": dict(n.group_labels),
        },
        due_at=now,
        idempotency_key=f"fetch_group:{digest}:{now.timestamp():.3f}",
        coalesce_key=f"fetch_group:{digest}",
    )


def _ms(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """The fingerprint of an alert Firebreak raises itself, from its labels: with a prefix no
    webhook may send, so only Firebreak resolves it. (Releases before migration 0018 gave
    ``fb`` and the same 14 hex digits, which a webhook could send.)"""
    text = "\0".join(f"{k}\0{v}" for k, v in sorted(labels.items()))
    return FIREBREAK_FINGERPRINT_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:14]


def resolved_snapshot(alert: Alert, now: datetime) -> AlertSnapshot:
    """A stored firing occurrence as Alertmanager would describe it once it ended."""
    return AlertSnapshot(
        status=AlertStatus.RESOLVED,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=now,
        generator_url=alert.generator_url,
        fingerprint=alert.fingerprint,
    )
