"""Escalation: who hears about an alert, when, and until when.

Every step is a durable job, so a restart loses no step and repeats none:

- ``route``    (enqueued by the webhook's own commit; escalation's part of it is ``on_new``, see
               ``receiver.reactions``) finds each new alert's routes and starts its escalation
               policy: an ``escalate`` job for tier 1, due at start + ``after``;
- ``escalate`` notifies a tier's targets (one ``notify`` job each) and schedules the next tier,
               or the policy's repeat; an acknowledged or resolved alert stops here, a snoozed
               one waits;
- ``notify``   sends one message per channel and target, taking along the notify jobs of the
               same Alertmanager group due within ``notifications.group_window``; past the
               channel's rate limit it becomes a ``digest``;
- ``digest``   sends everything the rate limit held back for a channel and target as one message;
- ``resolve``  (enqueued when Alertmanager or a person resolves an alert; ``on_resolved``)
               sends a resolved notice to every channel and target that was told the alert
               was firing;
- ``acknowledge`` (enqueued when a person acknowledges an alert) does the same with an
               acknowledged notice, for the channels that follow acknowledgements (PagerDuty).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.breaker import BreakerRegistry, BreakerState
from receiver.clock_skew import ClockSkew, escalation_start
from receiver.config import Config, EscalationPolicyConfig
from receiver.jobs import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Preload, Retry
from receiver.metrics import Metrics
from receiver.model import DRILL_LABEL, Alert, AlertStatus, EventKind
from receiver.notify.base import (
    Channel,
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Notice,
    NoticeAlert,
    NoticeKind,
    follows_acknowledgements,
)
from receiver.ratelimit import RateLimiters
from receiver.reactions import Reacted
from receiver.routing import Router
from receiver.store import Store
from receiver.store.drills import DrillSQL
from receiver.store.jobs import Job, NewJob
from receiver.store.messages import message_references
from receiver.store.store import AlertState

log = logging.getLogger("firebreak.escalation")

_ALERTS_PER_RUN = 500

# Alerts named in one digest message; the rest are counted.
_DIGEST_ALERTS = 50


def _route_row(alert_id: int, route: str, policy: str, at: datetime) -> dict[str, Any]:
    return {"alert_id": alert_id, "route": route, "escalation_policy": policy, "routed_at": at}


def _event(alert_id: int, kind: EventKind, at: datetime, note: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": kind.value,
        "at": at,
        "actor": "firebreak",
        "note": note,
        "request_id": None,
    }


def _notice_alert(alert: Alert) -> NoticeAlert:
    return NoticeAlert(
        id=alert.id,
        fingerprint=alert.fingerprint,
        status=alert.status.value,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        generator_url=alert.generator_url,
        first_seen_at=alert.first_seen_at,
    )


def _batch_job(kind: str, alert_ids: Sequence[int], now: datetime) -> NewJob:
    """A job over a batch of alerts, due now; one run may take along the others of its kind."""
    return NewJob(
        kind=kind,
        payload={"alert_ids": list(alert_ids)},
        due_at=now,
        idempotency_key=f"{kind}:{_ids_key(alert_ids)}",
        coalesce_key=kind,
    )


def route_job(alert_ids: Sequence[int], now: datetime) -> NewJob:
    """The job that starts escalation for newly stored alerts (one per ingest batch)."""
    return _batch_job("route", alert_ids, now)


def resolve_job(alert_ids: Sequence[int], now: datetime) -> NewJob:
    """The job that sends resolved notices for alerts that just ended."""
    return _batch_job("resolve", alert_ids, now)


def acknowledge_job(alert_ids: Sequence[int], now: datetime) -> NewJob:
    """The job that tells the channels following acknowledgements that alerts were acknowledged."""
    return _batch_job("acknowledge", alert_ids, now)


def _ids_key(alert_ids: Iterable[int]) -> str:
    """A short stable name for a set of alerts, for idempotency keys."""
    ids = sorted(set(alert_ids))
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    return f"{ids[0]}-{ids[-1]}-{len(ids)}-{digest}"


def _payload_ids(jobs: Iterable[Job]) -> list[int]:
    return sorted({i for j in jobs for i in j.payload["alert_ids"]})


class Escalation:
    """The job handlers of escalation and notification, over one configuration."""

    def __init__(
        self,
        config: Config,
        store: Store,
        channels: Mapping[str, Channel],
        breakers: BreakerRegistry,
        rate_limits: RateLimiters,
        metrics: Metrics,
        skew: ClockSkew | None = None,
    ) -> None:
        self._config = config
        self._skew = skew
        self._router = Router(config)
        self._store = store
        self._channels = channels
        self._breakers = breakers
        self._rate_limits = rate_limits
        self._metrics = metrics

    def horizons(self) -> dict[str, timedelta]:
        """How far ahead each kind's coalesced jobs may be due to join a message."""
        return {
            "route": timedelta(0),
            "resolve": timedelta(0),
            "acknowledge": timedelta(0),
            "escalate": timedelta(0),
            "notify": self._config.notifications.group_window,
            "digest": timedelta(days=3650),
        }

    @staticmethod
    def run_limit(job: Job) -> int:
        """Most jobs of ``job``'s coalesce key one run may take: about 500 alerts' worth, so a
        backlog is worked off in runs short enough not to hold webhooks up, while the small
        jobs of ordinary traffic still go many to a run."""
        if job.kind in ("route", "resolve", "acknowledge", "escalate"):
            return max(1, _ALERTS_PER_RUN // max(1, len(job.payload["alert_ids"])))
        return 1000

    def handlers(self) -> dict[str, Handler]:
        """Its own jobs; ``route`` and ``resolve`` are the reactions' (``on_new``,
        ``on_resolved``)."""
        return {
            "escalate": self.escalate,
            "notify": self.notify,
            "digest": self.digest,
            "acknowledge": self.acknowledge,
        }

    @staticmethod
    def inline() -> tuple[str, ...]:
        """Routing only reads the alerts and decides (its other reactions, runbook starts and
        annotations, only enqueue too): it runs inside the runner's turn, so an alert's first
        notification is claimed in the turn that routes it."""
        return ("route",)

    def preloads(self) -> dict[str, Preload]:
        """Notifications are the many small jobs: the runner reads their alerts for all of
        those claimed together in one query."""
        return {"notify": self._preload_alerts}

    async def _preload_alerts(self, conn: AsyncConnection, jobs: Sequence[Job]) -> dict[int, Alert]:
        return {a.id: a for a in await self._store.alerts_by_ids(conn, _payload_ids(jobs))}

    def _policy(self, name: str) -> EscalationPolicyConfig | None:
        return self._config.escalation_policies.get(name)

    async def _states(self, ids: Sequence[int]) -> dict[int, AlertState]:
        async with self._store.connection() as conn:
            return await self._store.alert_states(conn, ids)

    async def _alerts(self, ids: Sequence[int]) -> dict[int, Alert]:
        async with self._store.connection() as conn:
            return {a.id: a for a in await self._store.alerts_by_ids(conn, ids)}

    # -- route ----------------------------------------------------------------------------------

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """New alerts find their routes and start their policies (the ``route`` job's part)."""
        # Alerts of one group that take the same route and policy, due together, escalate
        # as one job: one timer row per group and tier, however large the storm.
        starting: dict[tuple[str, str, str, datetime], list[int]] = {}
        routes: list[dict[str, Any]] = []
        watchdog = self._config.watchdog
        for alert in alerts.values():
            if self._skew is not None:
                name = alert.labels.get("alertname", "")
                self._skew.observe(alert.id, name, alert.starts_at, alert.first_seen_at)
            if watchdog is not None and alert.labels.get("alertname") == watchdog.alertname:
                continue  # the dead man's switch: expected to fire always, never escalated
            matches = self._router.route(alert.labels)
            # Recorded for every new occurrence, escalated or not (one that arrived resolved,
            # or was acknowledged first), so reports by route count all of them.
            routes += [_route_row(alert.id, m.route, m.escalation_policy, ctx.now) for m in matches]
            if alert.status is not AlertStatus.FIRING or alert.acknowledged_at is not None:
                continue
            for match in matches:
                policy = self._policy(match.escalation_policy)
                if policy is None:
                    log.error(
                        "route %s names unknown policy %s", match.route, match.escalation_policy
                    )
                    continue
                # From when Firebreak first saw it if startsAt is ahead of that: an alert
                # from the future must not wait (or, in year 9999, overflow) to page.
                start = escalation_start(alert.starts_at, alert.first_seen_at)
                due = max(ctx.now, start + policy.tiers[0].after)
                key = (alert.group_key, match.route, match.escalation_policy, due)
                starting.setdefault(key, []).append(alert.id)
        follow: list[NewJob] = []
        events: list[dict[str, Any]] = []
        for (group_key, route, policy_name, due), ids in starting.items():
            policy = self._policy(policy_name)
            if due <= ctx.now and policy is not None:
                # The first tier is due already: reach it here rather than through a timer.
                more, reached = self._reach(
                    ids, group_key, route, policy_name, policy, 0, 0, ctx.now
                )
                follow += more
                events += reached
            else:
                follow.append(_escalate(ids, group_key, route, policy_name, 0, 0, due))
        return Reacted(enqueue=follow, events=events, routes=routes)

    # -- escalate -------------------------------------------------------------------------------

    async def escalate(self, ctx: JobContext) -> Outcome:
        # The runner hands over every timer of this group, route, policy and tier due now.
        p = ctx.job.payload
        group_key, route, policy_name = p["group_key"], p["route"], p["policy"]
        tier, repeat = p["tier"], p["repeat"]
        alerts = await self._states(_payload_ids(ctx.jobs))
        follow: list[NewJob] = []
        active: list[AlertState] = []
        snoozed: dict[datetime, list[int]] = {}
        for alert in alerts.values():
            if alert.status is not AlertStatus.FIRING or alert.acknowledged_at is not None:
                continue  # acknowledged or resolved: escalation stops here
            if alert.snoozed_until is not None and alert.snoozed_until > ctx.now:
                snoozed.setdefault(alert.snoozed_until, []).append(alert.id)
            else:
                active.append(alert)
        for until, ids in snoozed.items():
            follow.append(_escalate(ids, group_key, route, policy_name, tier, repeat, until))
        policy = self._policy(policy_name)
        if not active:
            return Done("stopped", enqueue=follow)
        if policy is None or tier >= len(policy.tiers):
            log.warning("escalation policy %s tier %d no longer exists", policy_name, tier)
            return Done("policy_gone", enqueue=follow)
        more, events = self._reach(
            [a.id for a in active], group_key, route, policy_name, policy, tier, repeat, ctx.now
        )
        return Done("escalated", enqueue=follow + more, events=events)

    def _reach(
        self,
        ids: list[int],
        group_key: str,
        route: str,
        policy_name: str,
        policy: EscalationPolicyConfig,
        tier: int,
        repeat: int,
        now: datetime,
    ) -> tuple[list[NewJob], list[dict[str, Any]]]:
        """Alerts reach a tier: a notify job per target, the timer of what comes next, and
        one history row each."""
        follow = [
            NewJob(
                kind="notify",
                payload={
                    "notice": NoticeKind.FIRING.value,
                    "alert_ids": ids,
                    "channel": t.channel,
                    "target": t.target,
                    "route": route,
                    "policy": policy_name,
                    "tier": tier,
                    "repeat": repeat,
                    "group_key": group_key,
                },
                due_at=now,
                idempotency_key=f"notify:{route}:{repeat}:{tier}:{t.channel}:{t.target}:"
                f"{_ids_key(ids)}",
                coalesce_key=f"firing:{group_key}:{policy_name}:{tier}:{t.channel}:{t.target}",
            )
            for t in policy.tiers[tier].notify
        ]
        if tier + 1 < len(policy.tiers):
            due = now + policy.tiers[tier + 1].after
            follow.append(_escalate(ids, group_key, route, policy_name, tier + 1, repeat, due))
        elif repeat < policy.repeat:
            # A repeat starts the policy over: its first tier waits its own delay again.
            due = now + policy.tiers[0].after
            follow.append(_escalate(ids, group_key, route, policy_name, 0, repeat + 1, due))
        self._metrics.escalations.labels(policy_name, str(tier + 1)).inc(len(ids))
        note = f"{policy_name} tier {tier + 1}" + (f", repeat {repeat}" if repeat else "")
        return follow, [_event(i, EventKind.ESCALATED, now, note) for i in ids]

    # -- notify and digest ----------------------------------------------------------------------

    async def notify(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        kind = NoticeKind(p["notice"])
        ids = _payload_ids(ctx.jobs)
        if ctx.preloaded is None:
            alerts = await self._alerts(ids)
        else:
            alerts = {i: ctx.preloaded[i] for i in ids if i in ctx.preloaded}
        if kind is NoticeKind.FIRING:
            # Somebody acted since the tier fired: they need no page about it.
            alerts = {
                i: a
                for i, a in alerts.items()
                if a.status is AlertStatus.FIRING and a.acknowledged_at is None
            }
            if not alerts:
                return Done("skipped")
        return await self._send(ctx, kind, list(alerts.values()), suppressed=0)

    async def digest(self, ctx: JobContext) -> Outcome:
        ids = _payload_ids(ctx.jobs)
        alerts = await self._alerts(ids[:_DIGEST_ALERTS])  # named; the rest are counted
        return await self._send(ctx, NoticeKind.DIGEST, list(alerts.values()), suppressed=len(ids))

    async def _send(
        self, ctx: JobContext, kind: NoticeKind, alerts: list[Alert], suppressed: int
    ) -> Outcome:
        p = ctx.job.payload
        channel_name, target = p["channel"], p["target"]
        channel = self._channels.get(channel_name)
        if channel is None:
            return DeadLetter(f"channel {channel_name!r} is not configured")
        breaker = self._breakers.get(channel_name, target)
        if not breaker.allow():
            return Defer(
                until=ctx.now + timedelta(seconds=breaker.retry_in()), reason="circuit breaker open"
            )
        bucket = self._rate_limits.get(channel_name)
        if not bucket.try_take():
            breaker.release()  # the probe slot it lent is not used
            until = ctx.now + timedelta(seconds=bucket.next_token_in())
            if kind in (NoticeKind.DIGEST, NoticeKind.ACKNOWLEDGED):
                # A digest shows no acknowledgement: an acknowledged notice waits its turn.
                return Defer(until=until, reason="rate limited")
            return Defer(
                until=until,
                reason="rate limited; held for a digest",
                kind="digest",
                coalesce_key=f"digest:{channel_name}:{target}",
            )
        references: tuple[str, ...] = ()
        if getattr(channel, "threads", False):  # it replies to and updates its earlier messages
            kin = [n for n, c in self._channels.items() if getattr(c, "kind", "") == channel.kind]
            async with self._store.connection() as conn:
                ids = [a.id for a in alerts]
                references = tuple(await message_references(conn, ids, kin))
        drill = False
        if any(DRILL_LABEL in a.labels for a in alerts):
            # Marked a drill only for a drill a person started: a label alone must not make
            # a real alert's page read "no action needed".
            async with self._store.connection() as conn:
                drill = bool(await DrillSQL().of_alerts(conn, ((a.id, a.labels) for a in alerts)))
        notice = Notice(
            kind=kind,
            idempotency_key=ctx.job.idempotency_key,
            alerts=tuple(_notice_alert(a) for a in alerts),
            group_key=p.get("group_key", ""),
            route=p.get("route", ""),
            escalation_policy=p.get("policy", ""),
            tier=p.get("tier"),
            repeat=p.get("repeat", 0),
            suppressed=suppressed,
            drill=drill,
            references=references,
            attempt=_attempts(ctx),
        )
        try:
            delivery = await channel.send(notice, target)
        except ChannelThrottled as exc:
            breaker.release()  # slowing down is not a failure of the target
            self._metrics.notifications.labels(channel_name, kind.value, "throttled").inc()
            return Defer(
                until=ctx.now + timedelta(seconds=exc.retry_after or 1.0),
                reason=f"throttled: {exc}",
            )
        except ChannelRejected as exc:
            breaker.release()  # the target answered: it is up, this notice is what is wrong
            self._metrics.notifications.labels(channel_name, kind.value, "rejected").inc()
            return DeadLetter(f"{channel_name} rejected the notice: {exc}")
        except ChannelError as exc:
            breaker.record_failure()
            self._metrics.notifications.labels(channel_name, kind.value, "failed").inc()
            if breaker.state is not BreakerState.CLOSED:
                # The target is down, not this notice: wait behind the breaker like the jobs
                # it holds back. Counted, each failed half-open probe would cost the job that
                # happened to probe an attempt, and an outage of max_attempts cool-downs would
                # dead-letter pages that the target takes once it is back.
                return Defer(
                    until=ctx.now + timedelta(seconds=breaker.retry_in()),
                    reason=f"circuit breaker open after: {exc}",
                )
            return Retry(f"{channel_name}: {exc}")
        breaker.record_success()
        self._metrics.notifications.labels(channel_name, kind.value, "sent").inc()
        sent_kind = kind.value
        rows = [
            {
                "alert_id": a.id,
                "channel": channel_name,
                "target": target,
                "kind": sent_kind,
                "tier": p.get("tier"),
                "idempotency_key": ctx.job.idempotency_key,
                "reference": delivery.reference,
                "sent_at": ctx.now,
            }
            for a in alerts
        ]
        follow: list[NewJob] = []
        if kind is NoticeKind.FIRING and follows_acknowledgements(channel):
            follow = await self._catch_up(ctx, [a.id for a in alerts], channel_name, target)
        # The notifications rows are the alert's record of what was sent where.
        return Done("sent", notifications=rows, enqueue=follow)

    async def _catch_up(
        self, ctx: JobContext, ids: list[int], channel: str, target: str
    ) -> list[NewJob]:
        """Alerts acknowledged or resolved while their page was on its way: the acknowledge
        and resolve jobs found no page to follow up then, so this target is told now (a
        duplicate of theirs changes nothing). Only for channels that follow acknowledgements,
        where a missed follow-up leaves someone being paged."""
        states = await self._states(ids)
        resolved = [i for i, a in states.items() if a.status is not AlertStatus.FIRING]
        acknowledged = [
            i
            for i, a in states.items()
            if a.status is AlertStatus.FIRING and a.acknowledged_at is not None
        ]
        group_key = ctx.job.payload.get("group_key", "")
        return [
            _notice_job(kind, found, channel, target, group_key, ctx.now)
            for kind, found in (
                (NoticeKind.RESOLVED, resolved),
                (NoticeKind.ACKNOWLEDGED, acknowledged),
            )
            if found
        ]

    # -- resolve --------------------------------------------------------------------------------

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """Ended alerts: a resolved notice to every channel and target told they were firing."""
        for alert in alerts.values():
            if alert.ends_at is not None:
                self._metrics.time_to_resolve.observe(
                    max(0.0, (alert.ends_at - alert.starts_at).total_seconds())
                )
        return Reacted(enqueue=await self._tell_notified(conn, ctx, alerts, NoticeKind.RESOLVED))

    async def acknowledge(self, ctx: JobContext) -> Outcome:
        async with self._store.connection() as conn:
            alerts = await self._store.alert_states(conn, _payload_ids(ctx.jobs))
            follow = await self._tell_notified(conn, ctx, alerts, NoticeKind.ACKNOWLEDGED)
        return Done("acknowledged", enqueue=follow)

    async def _tell_notified(
        self,
        conn: AsyncConnection,
        ctx: JobContext,
        alerts: Mapping[int, AlertState],
        kind: NoticeKind,
    ) -> list[NewJob]:
        """A ``kind`` notice for every channel and target a firing notice about the alerts
        reached; acknowledged notices only for channels that follow acknowledgements."""
        notices: dict[tuple[str, str, str], list[int]] = {}
        for alert in alerts.values():
            for channel, target, _ref in await self._store.notified_targets(conn, alert.id):
                if kind is NoticeKind.ACKNOWLEDGED and not self._follows_acks(channel):
                    continue
                notices.setdefault((alert.group_key, channel, target), []).append(alert.id)
        return [
            _notice_job(kind, ids, channel, target, group_key, ctx.now)
            for (group_key, channel, target), ids in notices.items()
        ]

    def _follows_acks(self, channel_name: str) -> bool:
        channel = self._channels.get(channel_name)
        return channel is not None and follows_acknowledgements(channel)


def _notice_job(
    kind: NoticeKind, ids: list[int], channel: str, target: str, group_key: str, now: datetime
) -> NewJob:
    """A resolved or acknowledged notice for alerts that a channel and target were paged about."""
    return NewJob(
        kind="notify",
        payload={
            "notice": kind.value,
            "alert_ids": ids,
            "channel": channel,
            "target": target,
            "group_key": group_key,
        },
        due_at=now,
        idempotency_key=f"{kind.value}:{channel}:{target}:{_ids_key(ids)}",
        coalesce_key=f"{kind.value}:{group_key}:{channel}:{target}",
    )


def _attempts(ctx: JobContext) -> int:
    """Earlier attempts of this send that may have gone out: the failed ones, and one more when
    the job was due a whole lease ago (a worker that took it died, perhaps after sending)."""
    taken_over = ctx.now - ctx.job.due_at >= ctx.runner.settings.lease
    return ctx.job.attempts + (1 if taken_over else 0)


def _escalate(
    alert_ids: Sequence[int],
    group_key: str,
    route: str,
    policy: str,
    tier: int,
    repeat: int,
    due: datetime,
) -> NewJob:
    """An escalation timer for alerts of one group. Its key names the due time too, so a
    snoozed timer set again for later is a new job; its coalesce key lets one run take every
    timer of the group, route, policy and tier that is due."""
    return NewJob(
        kind="escalate",
        payload={
            "alert_ids": list(alert_ids),
            "group_key": group_key,
            "route": route,
            "policy": policy,
            "tier": tier,
            "repeat": repeat,
        },
        due_at=due,
        idempotency_key=f"escalate:{route}:{repeat}:{tier}:{due.timestamp():.3f}:"
        f"{_ids_key(alert_ids)}",
        coalesce_key=f"escalate:{group_key}:{route}:{policy}:{tier}:{repeat}",
    )
