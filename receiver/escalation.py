"""Escalation: who hears about an alert, when, and until when.

Every step is a durable job, so a restart loses no step and repeats none:

- ``route``    (enqueued by the webhook's own commit; escalation's part of it is ``on_new``, see
               ``receiver.reactions``) finds each new alert's routes and starts its escalation
               policy: an ``escalate`` job for tier 1, due at start + ``after``;
- ``escalate`` notifies a tier's targets (one ``notify`` job each) and schedules the next tier,
               or the policy's repeat; an acknowledged or resolved alert stops here, a snoozed
               one waits;
- ``resolve``  (enqueued when Alertmanager or a person resolves an alert; ``on_resolved``)
               sends a resolved notice to every channel and target that was told the alert
               was firing.

The ``notify``, ``digest`` and ``acknowledge`` jobs that send the notices are
``receiver.delivery``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.breaker import BreakerRegistry
from receiver.chains import chain_digest, snapshot, thawed
from receiver.clock_skew import ClockSkew, escalation_start
from receiver.config import (
    Config,
    EscalationPolicyConfig,
    NotifyTarget,
    TierConfig,
)
from receiver.delivery import AfterSent, Delivery
from receiver.job_handlers import Done, Handler, JobContext, Outcome, Preload
from receiver.maintenance import Maintenance
from receiver.metrics import Metrics
from receiver.model import MANUAL_GROUP_KEY, AlertStatus, EventKind, Job, NewJob, PageTarget
from receiver.notify.base import (
    Channel,
    NoticeKind,
)
from receiver.oncall_gaps import GapAlerts, gap_job
from receiver.paging import Escalating, Paging, Resolved, gap_note
from receiver.pipeline import Submit
from receiver.ratelimit import RateLimiters
from receiver.reactions import Reacted, alert_ids, ids_key
from receiver.routing import Router
from receiver.schedules import Schedules
from receiver.store import Store
from receiver.store.store import AlertState

log = logging.getLogger("firebreak.escalation")

_ALERTS_PER_RUN = 500

# What happening to alerts (action, alert ids, now) enqueues besides (as ``actions.FollowUps``).
FollowUp = Callable[[str, Sequence[int], datetime], Sequence[NewJob]]


def _route_row(alert_id: int, route: str, policy: str, at: datetime) -> dict[str, Any]:
    return {"alert_id": alert_id, "route": route, "escalation_policy": policy, "routed_at": at}


def _event(alert_id: int, kind: EventKind, at: datetime, note: str) -> dict[str, Any]:
    return _events((alert_id,), kind, at, note)[0]


def _events(
    alert_ids: Sequence[int], kind: EventKind, at: datetime, note: str
) -> list[dict[str, Any]]:
    """One history row for each of ``alert_ids``, all alike but for the alert."""
    value = kind.value  # an enum's value is a property: read once, not for every alert
    return [
        {
            "alert_id": alert_id,
            "kind": value,
            "at": at,
            "actor": "firebreak",
            "note": note,
            "request_id": None,
        }
        for alert_id in alert_ids
    ]


def _batch_job(kind: str, alert_ids: Sequence[int], now: datetime) -> NewJob:
    """A job over a batch of alerts, due now; one run may take along the others of its kind."""
    return NewJob(
        kind=kind,
        payload={"alert_ids": list(alert_ids)},
        due_at=now,
        idempotency_key=f"{kind}:{ids_key(alert_ids)}",
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


class Escalation:
    """The job handlers of escalation, and of the delivery of its notices, over one
    configuration."""

    def __init__(
        self,
        config: Config,
        store: Store,
        channels: Mapping[str, Channel],
        breakers: BreakerRegistry,
        rate_limits: RateLimiters,
        metrics: Metrics,
        skew: ClockSkew | None = None,
        *,
        schedules: Schedules,
        submit: Submit,
        after_sent: Sequence[AfterSent] = (),
        maintenance: Maintenance | None = None,
        follow_ups: Sequence[FollowUp] = (),
    ) -> None:
        """``after_sent``: what a firing notice that went out sets off (graphs);
        ``follow_ups``: what an alert held back by a maintenance window sets off besides its
        timer (its Slack messages brought up to date)."""
        self._config = config
        # Alerts that are heartbeats' beats (the watchdog's): recorded, never escalated.
        self._beats = frozenset(
            hb.alert for hb in config.every_heartbeat.values() if hb.alert is not None
        )
        self._maintenance = maintenance
        self._follow_ups = tuple(follow_ups)
        self._skew = skew
        self._router = Router(config)
        self._store = store
        self._channels = channels
        self._metrics = metrics
        self._delivery = Delivery(
            store,
            channels,
            breakers,
            rate_limits,
            metrics,
            after_sent,
            tier_order_wait=config.notifications.tier_order_wait,
        )
        self._paging = Paging(config, channels, schedules)
        self._gaps = GapAlerts(schedules, store, submit, metrics)

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
            **self._delivery.handlers(),
            **self._gaps.handlers(),
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
        return {"notify": self._delivery.preload}

    def _policy(self, name: str) -> EscalationPolicyConfig | None:
        return self._config.escalation_policies.get(name)

    async def _states(self, ids: Sequence[int]) -> dict[int, AlertState]:
        async with self._store.connection() as conn:
            return await self._store.alert_states(conn, ids)

    # -- route ----------------------------------------------------------------------------------

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """New alerts find their routes and start their policies (the ``route`` job's part)."""
        # Alerts of one group that take the same route and policy, due together, escalate
        # as one job: one timer row per group and tier, however large the storm.
        starting: dict[tuple[str, str, str, datetime, str], list[int]] = {}
        policies: dict[tuple[str, str], EscalationPolicyConfig] = {}
        routes: list[dict[str, Any]] = []
        # Pages raised by hand for someone: recorded with the page, never read from labels.
        targets = await self._store.manual_pages.targets(
            conn, [a.id for a in alerts.values() if a.group_key == MANUAL_GROUP_KEY]
        )
        # Once for every new alert: what the loop looks up is looked up before it.
        now, skew, beats, routes_of, policy_of = (
            ctx.now,
            self._skew,
            self._beats,
            self._router.route,
            self._config.escalation_policies.get,
        )
        firing = AlertStatus.FIRING
        for alert in alerts.values():
            name = alert.labels.get("alertname")
            if skew is not None:
                skew.observe(alert.id, name or "", alert.starts_at, alert.first_seen_at)
            if name in beats:
                continue  # a heartbeat's beat (the dead man's switch): never escalated
            matches = routes_of(alert.labels)
            # Recorded for every new occurrence, escalated or not (one that arrived resolved,
            # or was acknowledged first), so reports by route count all of them.
            for m in matches:
                routes.append(_route_row(alert.id, m.route, m.escalation_policy, now))
            if alert.status is not firing or alert.acknowledged_at is not None:
                continue
            target = targets.get(alert.id)
            for match in matches:
                policy = policy_of(match.escalation_policy)
                if policy is None:
                    log.error(
                        "route %s names unknown policy %s", match.route, match.escalation_policy
                    )
                    continue
                aimed = ""
                if target is not None:
                    # The page's target first, at once, then the policy as for any alert;
                    # on the first route only, so that the target is paged once.
                    policy, aimed, target = _aimed_at(policy, target), str(target), None
                policies[(match.escalation_policy, aimed)] = policy
                # From when Firebreak first saw it if startsAt is ahead of that: an alert
                # from the future must not wait (or, in year 9999, overflow) to page.
                start = escalation_start(alert.starts_at, alert.first_seen_at)
                due = max(now, start + policy.tiers[0].after)
                key = (alert.group_key, match.route, match.escalation_policy, due, aimed)
                starting.setdefault(key, []).append(alert.id)
        follow: list[NewJob] = []
        events: list[dict[str, Any]] = []
        for (group_key, route, policy_name, due, aimed), ids in starting.items():
            policy = policies[(policy_name, aimed)]
            if due <= ctx.now and not _pages_people(policy.tiers[0]):
                # The first tier is due already: reach it here rather than through a timer
                # (one that pages people resolves them in its own job, which records pages).
                more, reached = self._reach(
                    ids, group_key, route, policy_name, policy, 0, 0, ctx.now
                )
                follow += more
                events += reached
            else:
                chain = snapshot(policy)  # the chain is frozen as it stands now
                follow.append(_escalate(ids, group_key, route, policy_name, 0, 0, due, chain))
        return Reacted(enqueue=follow, events=events, routes=routes)

    # -- escalate -------------------------------------------------------------------------------

    async def escalate(self, ctx: JobContext) -> Outcome:
        # The runner hands over every timer of this group, route, policy, tier and chain due now.
        p = ctx.job.payload
        group_key, route, policy_name = p["group_key"], p["route"], p["policy"]
        tier, repeat = p["tier"], p["repeat"]
        # The policy's chain as it stood when the escalation started; a timer set before
        # chains were frozen follows the policy as configured now.
        chain = p.get("chain")
        policy = thawed(chain) if chain is not None else self._policy(policy_name)
        alerts = await self._states(alert_ids(ctx.jobs))
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
            follow.append(_escalate(ids, group_key, route, policy_name, tier, repeat, until, chain))
        active, held, held_events = await self._held(active, ctx.now)
        for (window, until), ids in held.items():
            follow.append(
                _escalate(ids, group_key, route, policy_name, tier, repeat, until, chain, window)
            )
            follow += [j for f in self._follow_ups for j in f("held", ids, ctx.now)]
        if not active:
            if held_events:
                return Done("held", enqueue=follow, events=held_events)
            return Done("stopped", enqueue=follow)
        if policy is None or tier >= len(policy.tiers):
            log.warning("escalation policy %s tier %d no longer exists", policy_name, tier)
            return Done("policy_gone", enqueue=follow)
        ids = [a.id for a in active]
        pages: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        while True:
            # Resolved at the tier's due time: a retry or a restart pages the same people.
            resolved = await self._paging.resolve(policy.tiers[tier], ctx.job.due_at)
            falls = resolved.falls_through and tier + 1 < len(policy.tiers)
            more, reached = self._reach(
                ids, group_key, route, policy_name, policy, tier, repeat, ctx.now, resolved, falls
            )
            escalating = Escalating(ids, group_key, route, policy_name, tier, repeat)
            paged = self._paging.reach(escalating, resolved, ctx.now)
            follow += more + paged.jobs
            follow += [gap_job(s, ctx.job.due_at, policy_name, tier) for s in resolved.unstaffed]
            events += reached + paged.events
            pages += paged.pages
            if not falls:
                break
            tier += 1  # nobody was paged: the next tier now, not after its delay
        return Done("escalated", enqueue=follow, events=events + held_events, pages=pages)

    async def _held(
        self, active: list[AlertState], now: datetime
    ) -> tuple[list[AlertState], dict[tuple[str, datetime], list[int]], list[dict[str, Any]]]:
        """Of alerts about to reach a tier, those an open maintenance window holds: their timer
        is set again for the window's end, like a snooze's."""
        if self._maintenance is None or not active:
            return active, {}, []
        windows = await self._maintenance.open_at(now)
        if not windows.open:
            return active, {}, []
        async with self._store.connection() as conn:
            labelled = await self._store.alert_states(
                conn, [a.id for a in active], with_labels=True
            )
        free: list[AlertState] = []
        held: dict[tuple[str, datetime], list[int]] = {}
        events: list[dict[str, Any]] = []
        for alert in active:
            state = labelled.get(alert.id)
            hold = windows.hold(state.labels, state.group_key) if state is not None else None
            if hold is None:
                free.append(alert)
                continue
            held.setdefault((hold.window.name, hold.occurrence.end), []).append(alert.id)
            events.append(_event(alert.id, EventKind.HELD, now, hold.note))
        if events:
            self._maintenance.count_held(len(events))
        return free, held, events

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
        resolved: Resolved | None = None,
        falls: bool = False,
    ) -> tuple[list[NewJob], list[dict[str, Any]]]:
        """Alerts reach a tier: a notify job per channel target, the timer of what comes next
        (none when the tier ``falls`` through to the next at once), and one history row each.
        A target whose channel a reload removed since the chain was frozen is skipped, counted
        and noted; the rest of the chain goes on. The people it pages are ``Paging``'s."""
        targets = [t for t in policy.tiers[tier].notify if t.people is None]
        gone = [t for t in targets if t.channel not in self._channels]
        for t in gone:
            self._metrics.notifications.labels(t.channel, NoticeKind.FIRING.value, "skipped").inc()
            log.warning("escalation policy %s tier %d: channel %s is gone", policy_name, tier, t)
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
                f"{ids_key(ids)}",
                coalesce_key=f"firing:{group_key}:{policy_name}:{tier}:{t.channel}:{t.target}",
            )
            for t in targets
            if t not in gone
        ]
        chain = snapshot(policy)
        if falls:
            pass  # the next tier is reached now, by the caller
        elif tier + 1 < len(policy.tiers):
            due = now + policy.tiers[tier + 1].after
            follow.append(
                _escalate(ids, group_key, route, policy_name, tier + 1, repeat, due, chain)
            )
        elif repeat < policy.repeat:
            # A repeat starts the policy over: its first tier waits its own delay again.
            due = now + policy.tiers[0].after
            follow.append(_escalate(ids, group_key, route, policy_name, 0, repeat + 1, due, chain))
        self._metrics.escalations.labels(policy_name, str(tier + 1)).inc(len(ids))
        note = f"{policy_name} tier {tier + 1}" + (f", repeat {repeat}" if repeat else "")
        if gone:
            note += "; skipped " + ", ".join(map(str, gone)) + " (channel no longer configured)"
        if resolved is not None and resolved.gaps:
            note += "; " + gap_note(resolved)
            if falls:
                note += f"; on to tier {tier + 2} at once"
        return follow, _events(ids, EventKind.ESCALATED, now, note)

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
        return Reacted(
            enqueue=await self._delivery.follow_ups(conn, ctx, alerts, NoticeKind.RESOLVED)
        )


def _escalate(
    alert_ids: Sequence[int],
    group_key: str,
    route: str,
    policy: str,
    tier: int,
    repeat: int,
    due: datetime,
    chain: Mapping[str, Any] | None,
    held_by: str | None = None,
) -> NewJob:
    """An escalation timer for alerts of one group, carrying the policy's frozen ``chain``.
    Its key names the due time too, so a snoozed timer set again for later is a new job; its
    coalesce key lets one run take every timer of the group, route, policy, tier and chain
    that is due (escalations started before and after a reload keep their own chains)."""
    payload: dict[str, Any] = {
        "alert_ids": list(alert_ids),
        "group_key": group_key,
        "route": route,
        "policy": policy,
        "tier": tier,
        "repeat": repeat,
    }
    if held_by is not None:
        payload["held_by"] = held_by  # ending the window early makes it due at once
    coalesce_key = f"escalate:{group_key}:{route}:{policy}:{tier}:{repeat}"
    if chain is not None:
        payload["chain"] = dict(chain)
        coalesce_key += f":{chain_digest(chain)}"
    return NewJob(
        kind="escalate",
        payload=payload,
        due_at=due,
        idempotency_key=f"escalate:{route}:{repeat}:{tier}:{due.timestamp():.3f}:"
        f"{ids_key(alert_ids)}",
        coalesce_key=coalesce_key,
    )


def _aimed_at(policy: EscalationPolicyConfig, target: PageTarget) -> EscalationPolicyConfig:
    """``policy`` with a first tier that pages a manual page's ``target`` at once; the
    policy's own tiers follow it, each after its own delay."""
    first = TierConfig(after=timedelta(0), notify=(NotifyTarget(**{target.kind: target.id}),))
    return EscalationPolicyConfig(tiers=(first, *policy.tiers), repeat=policy.repeat)


def _pages_people(tier: TierConfig) -> bool:
    return any(t.people is not None for t in tier.notify)
