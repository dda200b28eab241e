"""Firebreak's own alert about a gap in on-call coverage, ``FirebreakOnCallGap``.

When a tier finds nobody on call for a schedule it names, escalation enqueues an
``oncall_gap`` job (keyed by schedule and moment, so a retry or a second replica raises it
once). The job raises the alert through ingest, like the dead man's switch
(``receiver.pipeline``): one occurrence per gap, labelled with the schedule, starting when the
gap started, so it is routed, escalated, shown and reported like any other alert. An
``oncall_gap_end`` job, looking again every five minutes (an override may end the gap early)
and when the gap ends, resolves it once somebody is on call again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from receiver.job_handlers import Defer, Done, Handler, JobContext, Outcome
from receiver.metrics import Metrics
from receiver.model import ONCALL_GAP_GROUP_KEY, AlertSnapshot, AlertStatus, NewJob
from receiver.oncall import Gap
from receiver.pipeline import Submit, fingerprint_of, notification, resolved_snapshot
from receiver.schedules import Schedules
from receiver.store import Store

log = logging.getLogger("firebreak.oncall")

GAP_ALERTNAME = "FirebreakOnCallGap"
GAP_GROUP_KEY = ONCALL_GAP_GROUP_KEY
# How far around a gap the engine is asked for its start and end.
_HORIZON = timedelta(days=7)
# How often a gap is looked at again: an override may end it before its scheduled end.
_RECHECK = timedelta(minutes=5)


def gap_job(schedule: str, at: datetime, policy: str, tier: int) -> NewJob:
    """Raise the gap alert for ``schedule``, found empty at ``at`` by ``policy``'s ``tier``."""
    return NewJob(
        kind="oncall_gap",
        payload={"schedule": schedule, "at": at.isoformat(), "policy": policy, "tier": tier},
        due_at=at,
        idempotency_key=f"oncall_gap:{schedule}:{at.timestamp():.3f}",
    )


def gap_labels(schedule: str) -> dict[str, str]:
    return {"alertname": GAP_ALERTNAME, "severity": "critical", "schedule": schedule}


class GapAlerts:
    """The ``oncall_gap`` and ``oncall_gap_end`` job handlers."""

    def __init__(
        self, schedules: Schedules, store: Store, submit: Submit, metrics: Metrics
    ) -> None:
        self._schedules = schedules
        self._store = store
        self._submit = submit
        self._metrics = metrics

    def handlers(self) -> dict[str, Handler]:
        return {"oncall_gap": self.raise_gap, "oncall_gap_end": self.end_gap}

    async def _gap(self, schedule: str, at: datetime) -> Gap:
        """The gap in ``schedule`` around ``at`` (``at`` alone when an override filled it)."""
        engine = await self._schedules.engine(at - _HORIZON, at + _HORIZON)
        for gap in engine.gaps(schedule, at - _HORIZON, at + _HORIZON):
            if gap.start <= at < gap.end:
                return gap
        return Gap(at, at)

    async def raise_gap(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        schedule, at = p["schedule"], datetime.fromisoformat(p["at"])
        gap = await self._gap(schedule, at)
        labels = gap_labels(schedule)
        tier = int(p["tier"]) + 1
        log.error(
            "nobody on call for schedule %s at %s (%s tier %d)", schedule, at, p["policy"], tier
        )
        self._metrics.oncall_gaps.labels(schedule).inc()
        alert = AlertSnapshot(
            status=AlertStatus.FIRING,
            labels=labels,
            annotations={
                "summary": f"Nobody is on call for schedule {schedule}",
                "description": f"Tier {tier} of escalation policy {p['policy']} found nobody "
                f"on call for {schedule} at {at.isoformat()} and went on to its next tier. "
                "Add an override or fix the rotation.",
            },
            starts_at=gap.start,  # the same for every tier that finds this gap: one occurrence
            ends_at=None,
            generator_url="",
            fingerprint=fingerprint_of(labels),
        )
        await self._submit(notification(GAP_GROUP_KEY, "firebreak", AlertStatus.FIRING, [alert]))
        end = NewJob(
            kind="oncall_gap_end",
            payload={"schedule": schedule},
            due_at=max(min(gap.end, ctx.now + _RECHECK), ctx.now),
            idempotency_key=f"oncall_gap_end:{schedule}:{gap.start.timestamp():.3f}",
        )
        return Done("raised", enqueue=[end])

    async def end_gap(self, ctx: JobContext) -> Outcome:
        schedule = ctx.job.payload["schedule"]
        if not await self._schedules.who(schedule, ctx.now):
            gap = await self._gap(schedule, ctx.now)
            until = min(gap.end, ctx.now + _RECHECK) if gap.end > ctx.now else ctx.now + _RECHECK
            return Defer(until=until, reason=f"nobody on call for {schedule} yet")
        fingerprint = fingerprint_of(gap_labels(schedule))
        open_ = [
            a
            for a in await self._store.firing_occurrences(group_key=GAP_GROUP_KEY)
            if a.fingerprint == fingerprint
        ]
        if open_:
            ended = [resolved_snapshot(a, ctx.now) for a in open_]
            await self._submit(
                notification(GAP_GROUP_KEY, "firebreak", AlertStatus.RESOLVED, ended)
            )
        return Done("resolved" if open_ else "gone")
