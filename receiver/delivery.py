"""Delivery: notices sent through channels, behind circuit breakers and rate limits.

- ``notify``      sends one message per channel and target, taking along the notify jobs of the
                  same Alertmanager group due within ``notifications.group_window``; past the
                  channel's rate limit it becomes a ``digest``;
- ``digest``      sends everything the rate limit held back for a channel and target as one
                  message; while one waits, later notices to them join it rather than take
                  the token it waits for;
  A firing notice waits behind its alerts' notices of earlier tiers that are still on their
  way (retried, deferred, held for a digest): behind one to the same channel and target for as
  long as it takes (it could not get through first anyway), behind one to another channel or
  target for ``notifications.tier_order_wait`` at most (a dead channel must not hold the next
  tier's page back for good).
- ``acknowledge`` (enqueued when a person acknowledges an alert) tells the channels that follow
                  acknowledgements (PagerDuty) and were paged about it.

Escalation (``receiver.escalation``) decides who is told and when; this module tells them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.breaker import BreakerRegistry, BreakerState
from receiver.grafana_webhook import grafana_links
from receiver.job_handlers import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.metrics import Metrics
from receiver.model import DRILL_LABEL, Alert, AlertStatus, Job, NewJob
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
from receiver.ratelimit import UNLIMITED, RateLimiters
from receiver.reactions import alert_ids, ids_key
from receiver.store import Store
from receiver.store.drills import DrillSQL
from receiver.store.messages import message_references
from receiver.store.store import AlertState

log = logging.getLogger("firebreak.delivery")

# Alerts named in one digest message; the rest are counted.
_DIGEST_ALERTS = 50
# A notice waiting behind an earlier tier's is due this long after it, so that a claim takes
# the earlier one first (or with it, when it sees it running and waits again).
_BEHIND = timedelta(seconds=1)
# How soon a notice held back by a half-open breaker's probes looks again.
_PROBING = timedelta(seconds=1)


_STATUS_VALUES = {status: status.value for status in AlertStatus}


def notice_alert(alert: Alert) -> NoticeAlert:
    """An alert as a notice shows it."""
    # Positional, in NoticeAlert's field order: a quarter cheaper than keywords, once for every
    # alert of every notice.
    return NoticeAlert(
        alert.id,
        alert.fingerprint,
        _STATUS_VALUES[alert.status],
        alert.labels,
        alert.annotations,
        alert.starts_at,
        alert.ends_at,
        alert.generator_url,
        alert.first_seen_at,
        grafana_links(alert.extra),
    )


@dataclass(frozen=True, slots=True)
class Sent:
    """A firing notice a channel took, as what it sets off besides its record sees it (a
    graph in a new Slack message's thread)."""

    channel: str
    alerts: tuple[Alert, ...]
    reference: str | None  # where the channel put it (a Slack message: "channel:ts")
    earlier: tuple[str, ...]  # the references of the channel's messages about them before
    now: datetime

    @property
    def new_message(self) -> bool:
        """Whether the notice started a message of its own rather than replying in one."""
        return self.reference is not None and self.reference not in self.earlier


# The jobs a sent firing notice sets off, enqueued with its record.
AfterSent = Callable[[Sent], list[NewJob]]


@dataclass(frozen=True, slots=True)
class Preloaded:
    """What the runner reads once for all the notify jobs it claims in a turn."""

    alerts: Mapping[int, Alert]
    # Earlier tiers' notices not yet done that the later tiers' claimed notices may wait behind.
    ahead: list[Job]
    # The digests (their coalesce keys) waiting to go to the claimed notices' channels and
    # targets: a notice joins one rather than taking a token before it.
    digests: frozenset[str] = frozenset()


class Delivery:
    """The job handlers that send notices, over one configuration's channels."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        breakers: BreakerRegistry,
        rate_limits: RateLimiters,
        metrics: Metrics,
        after_sent: Sequence[AfterSent] = (),
        tier_order_wait: timedelta = timedelta(minutes=2),
    ) -> None:
        self._tier_order_wait = tier_order_wait
        self._store = store
        self._channels = channels
        self._breakers = breakers
        self._rate_limits = rate_limits
        self._metrics = metrics
        self._after_sent = tuple(after_sent)

    def handlers(self) -> dict[str, Handler]:
        return {"notify": self.notify, "digest": self.digest, "acknowledge": self.acknowledge}

    def preload(self, conn: Connection, jobs: Sequence[Job]) -> Preloaded:
        """The jobs' alerts, and the notices their later tiers wait behind, in a query each
        (the second only when a later tier is among them: first tiers wait for nothing). Run
        in the turn that claims the jobs (on SQLite, on the writer's thread with the claim)."""
        alerts = self._store.alerts_read_in(conn, alert_ids(jobs))
        later = [j for j in jobs if _rank(j.payload) > (0, 0)]
        ahead: list[Job] = []
        if later:
            groups = sorted({j.payload.get("group_key", "") for j in later})
            ahead = self._store.jobs.on_their_way_in(conn, groups)
        limited = {
            digest_key(j.payload["channel"], j.payload["target"])
            for j in jobs
            if self._rate_limits.get(j.payload["channel"]) is not UNLIMITED
        }
        digests = frozenset(self._store.jobs.keys_waiting(conn, limited))
        return Preloaded(alerts, ahead, digests)

    async def _states(self, ids: Sequence[int]) -> dict[int, AlertState]:
        async with self._store.connection() as conn:
            return await self._store.alert_states(conn, ids)

    async def _alerts(self, ids: Sequence[int]) -> dict[int, Alert]:
        async with self._store.connection() as conn:
            return {a.id: a for a in await self._store.alerts_by_ids(conn, ids)}

    async def notify(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        kind = NoticeKind(p["notice"])
        ids = alert_ids(ctx.jobs)
        preloaded = ctx.preloaded
        if not isinstance(preloaded, Preloaded):
            async with self._store.connection() as conn:
                preloaded = await conn.run_sync(self.preload, ctx.jobs)
        alerts = {i: preloaded.alerts[i] for i in ids if i in preloaded.alerts}
        if kind is NoticeKind.FIRING:
            # Somebody acted since the tier fired: they need no page about it.
            alerts = {
                i: a
                for i, a in alerts.items()
                if a.status is AlertStatus.FIRING and a.acknowledged_at is None
            }
            if not alerts:
                return Done("skipped")
            behind = _behind(ctx.jobs, preloaded.ahead, ctx.now, self._tier_order_wait)
            if behind.until is not None:
                # Delivered now, it could reach people before the earlier tier's notice.
                # A dead-lettered notice is done with: it holds nothing back.
                return Defer(until=behind.until, reason=behind.reason)
            for late in behind.overtaken:
                log.warning(
                    "%s tier %d notice to %s goes out before tier %d's to %s, still on its "
                    "way after %ss",
                    p.get("policy", ""),
                    p["tier"] + 1,
                    p["channel"],
                    late.payload["tier"] + 1,
                    late.payload["channel"],
                    int(self._tier_order_wait.total_seconds()),
                )
        digest_waiting = digest_key(p["channel"], p["target"]) in preloaded.digests
        return await self._send(
            ctx, kind, list(alerts.values()), suppressed=0, digest_waiting=digest_waiting
        )

    async def digest(self, ctx: JobContext) -> Outcome:
        ids = alert_ids(ctx.jobs)
        alerts = await self._alerts(ids[:_DIGEST_ALERTS])  # named; the rest are counted
        return await self._send(ctx, NoticeKind.DIGEST, list(alerts.values()), suppressed=len(ids))

    async def _send(
        self,
        ctx: JobContext,
        kind: NoticeKind,
        alerts: list[Alert],
        suppressed: int,
        digest_waiting: bool = False,
    ) -> Outcome:
        p = ctx.job.payload
        channel_name, target = p["channel"], p["target"]
        channel = self._channels.get(channel_name)
        if channel is None:
            return DeadLetter(f"channel {channel_name!r} is not configured")
        breaker = self._breakers.get(channel_name, target)
        if not breaker.allow():
            wait = timedelta(seconds=breaker.retry_in())
            reason = "circuit breaker open"
            if breaker.state is BreakerState.HALF_OPEN:
                # Its probes are out, and answer within a timeout: look again shortly rather
                # than when a probe that never answers would give its slot up (a whole
                # cool-down), or every notice but the probes waits out a second cool-down
                # after the outage ended, and later tiers wait behind them.
                wait, reason = min(wait, _PROBING), "circuit breaker probing"
            return Defer(until=ctx.now + wait, reason=reason)
        bucket = self._rate_limits.get(channel_name)
        # A digest shows no acknowledgement: an acknowledged notice, like a digest, waits its
        # turn rather than go into one.
        digestible = kind not in (NoticeKind.DIGEST, NoticeKind.ACKNOWLEDGED)
        # Notices held back for a digest go out first: a later one joins the digest rather
        # than take the token it waits for (and send the digest round for another).
        joins = digest_waiting and digestible
        if joins or not bucket.try_take():
            breaker.release()  # the probe slot it lent is not used
            until = ctx.now + timedelta(seconds=bucket.next_token_in())
            if not digestible:
                return Defer(until=until, reason="rate limited")
            return Defer(
                until=until,
                reason="held for the digest waiting"
                if joins
                else "rate limited; held for a digest",
                kind="digest",
                coalesce_key=digest_key(channel_name, target),
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
            alerts=tuple(notice_alert(a) for a in alerts),
            group_key=p.get("group_key", ""),
            route=p.get("route", ""),
            escalation_policy=p.get("policy", ""),
            tier=p.get("tier"),
            repeat=p.get("repeat", 0),
            suppressed=suppressed,
            drill=drill,
            references=references,
            attempt=_attempts(ctx),
            person=p.get("person", ""),
            contact=p.get("contact", ""),
        )
        # From here until the channel answers, the notice may go out without this run knowing:
        # if the run is cut off or the answer is lost, the next run asks the channel first.
        ctx.in_doubt = True
        try:
            delivery = await channel.send(notice, target)
        except ChannelThrottled as exc:
            # Held back before it was sent (paced) or refused (429); or after part went out.
            ctx.in_doubt = exc.sent
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
                "reference": delivery.alert_references.get(a.id, delivery.reference),
                "sent_at": ctx.now,
            }
            for a in alerts
        ]
        follow: list[NewJob] = []
        if kind is NoticeKind.FIRING and follows_acknowledgements(channel):
            follow = await self._catch_up(ctx, [a.id for a in alerts], channel_name, target)
        if kind is NoticeKind.FIRING and self._after_sent:
            sent = Sent(channel_name, tuple(alerts), delivery.reference, references, ctx.now)
            for hook in self._after_sent:
                follow += hook(sent)
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

    async def acknowledge(self, ctx: JobContext) -> Outcome:
        async with self._store.connection() as conn:
            alerts = await self._store.alert_states(conn, alert_ids(ctx.jobs))
            follow = await self.follow_ups(conn, ctx, alerts, NoticeKind.ACKNOWLEDGED)
        return Done("acknowledged", enqueue=follow)

    async def follow_ups(
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
        idempotency_key=f"{kind.value}:{channel}:{target}:{ids_key(ids)}",
        coalesce_key=f"{kind.value}:{group_key}:{channel}:{target}",
    )


def digest_key(channel: str, target: str) -> str:
    """The coalesce key of the digest jobs of ``channel`` and ``target``: the notices its rate
    limit held back, which go out together."""
    return f"digest:{channel}:{target}"


def _rank(payload: Mapping[str, Any]) -> tuple[int, int]:
    """Where a firing notice stands in its escalation, (repeat, tier); other notices (0, 0)."""
    if payload.get("notice") != NoticeKind.FIRING.value or payload.get("tier") is None:
        return (0, 0)
    return (payload.get("repeat", 0), payload["tier"])


@dataclass(frozen=True, slots=True)
class Behind:
    """What a firing notice waits behind: ``until`` when it is to be tried again (None: it goes
    now), and why; ``overtaken``, the earlier notices it no longer waits for (out of time)."""

    until: datetime | None
    reason: str = ""
    overtaken: tuple[Job, ...] = ()


def _behind(jobs: Sequence[Job], ahead: Sequence[Job], now: datetime, wait: timedelta) -> Behind:
    """Whether the firing notices ``jobs`` (one message's) wait behind notices of strictly
    earlier tiers than all of them (no two notices ever wait for each other) about any of their
    alerts, still on their way. One to the same channel and target is waited for until it is
    delivered or dead-lettered; one to another channel or target only until ``wait`` after
    these notices were made (when their tier fell due)."""
    rank = min(_rank(j.payload) for j in jobs)
    if rank == (0, 0):
        return Behind(None)
    own = {j.id for j in jobs}
    ids = set(alert_ids(jobs))
    place = (jobs[0].payload["channel"], jobs[0].payload["target"])
    deadline = min(j.created_at for j in jobs) + wait
    until: datetime | None = None
    reason = ""
    overtaken: list[Job] = []
    for job in ahead:
        p = job.payload
        if (
            job.id in own
            or p.get("notice") != NoticeKind.FIRING.value
            or _rank(p) >= rank
            or ids.isdisjoint(p.get("alert_ids", ()))
        ):
            continue
        again = max(job.due_at, now) + _BEHIND
        if (p.get("channel"), p.get("target")) != place:
            if deadline <= now:
                overtaken.append(job)
                continue
            again = min(again, deadline)
        if until is None or again < until:
            until = again
            reason = f"waiting behind tier {p['tier'] + 1}'s notice to {p.get('channel')}"
    if until is not None:
        return Behind(until, reason)
    return Behind(None, overtaken=tuple(overtaken))


def _attempts(ctx: JobContext) -> int:
    """Earlier attempts of this send that may have gone out (``JobContext.earlier_attempts``):
    a notice merely deferred before it was sent counts none, and the channel then posts without
    first asking whether it did (Slack's reads are rate-limited)."""
    return ctx.earlier_attempts()
