"""Hand-offs: when a schedule's people on call change, the incoming person gets a Slack direct
message (schedules with ``handoff_notify``), and the Slack user groups of the teams that follow
the schedule (``teams[].schedules``) are set to who is on call (``usergroups.users.update``).

Every step is a durable job, so a restart neither loses a hand-off nor sends one twice:

- ``handoff``    one timer chain per schedule: due at the schedule's next shift boundary, or at
                 the next quarter hour if that comes first (an override made meanwhile is seen
                 then); a run late by more than that looks at the present quarter hour. It
                 compares who is on call with who was at the last run and enqueues the
                 steps below. Its key names the schedule and due time, so the chain a start-up
                 seeds and the chain already running meet in one job instead of running twice.
- ``handoff_dm`` one direct message, keyed by schedule, person and shift start.
- ``user_group`` one update of a team's user group to who is on call when it runs (a retry
                 sets the latest membership), keyed by team and the moment of the change.

Each direct message and user-group update is audited (actor ``firebreak``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from receiver.audit import Audit
from receiver.config import Config, ScheduleConfig
from receiver.errors import NotFound
from receiver.job_handlers import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.model import NewJob
from receiver.notify.base import Channel, ChannelError, ChannelRejected, ChannelThrottled
from receiver.notify.slack import SlackChannel
from receiver.notify.slack.mrkdwn import escape
from receiver.oncall import OnCall
from receiver.schedules import Schedules

log = logging.getLogger("firebreak.handoffs")

# The longest a chain waits between two looks at a schedule.
_SLOT = timedelta(minutes=15)
# How far ahead the next shift boundary is looked for.
_AHEAD = timedelta(days=35)
_ACTOR = "firebreak"
_TICK = timedelta(microseconds=1)


def _slot_after(at: datetime) -> datetime:
    """The first quarter hour (UTC) after ``at``."""
    step = _SLOT.total_seconds()
    return datetime.fromtimestamp((at.timestamp() // step + 1) * step, UTC)


def _slot_of(at: datetime) -> datetime:
    """The quarter hour (UTC) ``at`` falls in."""
    step = _SLOT.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // step * step, UTC)


def handoff_job(schedule: str, due: datetime, on_call: Sequence[str] | None) -> NewJob:
    payload: dict[str, Any] = {"schedule": schedule}
    if on_call is not None:
        payload["on_call"] = sorted(on_call)
    return NewJob(
        kind="handoff",
        payload=payload,
        due_at=due,
        idempotency_key=f"handoff:{schedule}:{due.timestamp():.0f}",
    )


class Handoffs:
    """The ``handoff``, ``handoff_dm`` and ``user_group`` job handlers."""

    def __init__(
        self,
        config: Config,
        schedules: Schedules,
        channels: Mapping[str, Channel],
        audit: Audit,
    ) -> None:
        self._config = config
        self._schedules = schedules
        self._audit = audit
        slack = channels.get(config.paging.slack or "")
        self._slack = slack if isinstance(slack, SlackChannel) else None
        if self._slack is None and self._watched():
            log.warning("hand-offs need paging.slack, a slack channel to go through: none sent")
        self._people = {p.id: p for p in config.people}
        self._teams = {t.id: t for t in config.teams}

    def handlers(self) -> dict[str, Handler]:
        return {"handoff": self.handoff, "handoff_dm": self.direct, "user_group": self.user_group}

    def _watched(self) -> list[ScheduleConfig]:
        """Schedules whose hand-offs do something: a direct message, or a team's user group."""
        followed = {s for t in self._config.teams if t.slack_user_group for s in t.schedules}
        return [s for s in self._config.schedules if s.handoff_notify or s.id in followed]

    def seed(self, now: datetime) -> list[NewJob]:
        """Each watched schedule's chain, from the quarter hour now falls in (a chain already
        running has a job there, or passes it by without the seed adding a second)."""
        if self._slack is None:
            return []
        return [handoff_job(s.id, _slot_of(now), None) for s in self._watched()]

    async def handoff(self, ctx: JobContext) -> Outcome:
        schedule_id = ctx.job.payload["schedule"]
        schedule = next((s for s in self._watched() if s.id == schedule_id), None)
        if schedule is None or self._slack is None:
            return Done("not_watched")  # a reload took it off: the chain ends
        # A chain left behind while Firebreak was down looks at the present, not at each
        # quarter hour it missed: who came on call meanwhile and is on call still is told.
        at = max(ctx.job.due_at, _slot_of(ctx.now))
        engine = await self._schedules.engine(at - timedelta(days=1), at + _AHEAD)
        try:
            now_on = engine.who(schedule_id, at)
        except NotFound:
            return Done("not_watched")
        previous = ctx.job.payload.get("on_call")
        before = set(previous) if previous is not None else set(engine.who(schedule_id, at - _TICK))
        follow: list[NewJob] = []
        incoming = [p for p in now_on if p not in before]
        if schedule.handoff_notify:
            follow += [self._dm_job(engine, schedule, person, at) for person in incoming]
        if set(now_on) != before or previous is None:
            # Also when a chain starts: the group follows the configuration from the outset.
            follow += [
                NewJob(
                    kind="user_group",
                    payload={"team": team.id},
                    due_at=at,
                    idempotency_key=f"user_group:{team.id}:{at.timestamp():.0f}",
                    coalesce_key=f"user_group:{team.id}",
                )
                for team in self._config.teams
                if team.slack_user_group and schedule_id in team.schedules
            ]
        follow.append(handoff_job(schedule_id, _next(engine, schedule_id, at), now_on))
        return Done("changed" if set(now_on) != before else "same", enqueue=follow)

    def _dm_job(
        self, engine: OnCall, schedule: ScheduleConfig, person: str, at: datetime
    ) -> NewJob:
        shift = next(
            (s for s in engine.shifts(schedule.id, at, at + _AHEAD) if person in s.people), None
        )
        start = shift.start if shift is not None and shift.start <= at else at
        end = shift.end if shift is not None else None
        return NewJob(
            kind="handoff_dm",
            payload={
                "schedule": schedule.id,
                "person": person,
                "start": start.isoformat(),
                "end": end.isoformat() if end is not None else None,
            },
            due_at=at,
            idempotency_key=f"handoff_dm:{schedule.id}:{person}:{start.timestamp():.0f}",
        )

    async def direct(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        person = self._people.get(p["person"])
        schedule = next((s for s in self._config.schedules if s.id == p["schedule"]), None)
        if person is None or schedule is None or self._slack is None:
            return Done("gone")
        if not person.slack_user_id:
            return Done("no_slack_user")
        text = _handoff_text(schedule, p["start"], p["end"])
        # The direct message is read first (a rate-limited read) only where an earlier run may
        # have posted: one failed, was taken over, or ended in doubt; not one merely deferred.
        again = ctx.earlier_attempts()
        # Until Slack answers, the message may go out without this run knowing.
        ctx.in_doubt = True
        try:
            await self._slack.direct(person.slack_user_id, text, ctx.job.idempotency_key, again)
        except ChannelError as exc:
            if isinstance(exc, ChannelThrottled):
                ctx.in_doubt = exc.sent  # held back (paced, or 429) before it was posted
            return _failed(ctx, exc)
        await self._audit.record(
            actor=_ACTOR,
            interface="job",
            action="oncall.handoff_dm",
            target=f"{schedule.id}:{person.id}",
            outcome="ok",
            detail={"start": p["start"], "end": p["end"]},
        )
        return Done("sent")

    async def user_group(self, ctx: JobContext) -> Outcome:
        team = self._teams.get(ctx.job.payload["team"])
        if team is None or not team.slack_user_group or self._slack is None:
            return Done("gone")
        on_call: list[str] = []
        for schedule_id in team.schedules:
            try:
                on_call += await self._schedules.who(schedule_id, ctx.now)
            except NotFound:
                continue
        users = sorted(
            {
                user
                for person in on_call
                if (user := getattr(self._people.get(person), "slack_user_id", None))
            }
        )
        fields: dict[str, Any] = {
            "actor": _ACTOR,
            "interface": "job",
            "action": "oncall.user_group",
            "target": f"{team.id}:{team.slack_user_group}",
        }
        if not users:
            # Slack refuses an empty group: it keeps its members until somebody is on call.
            await self._audit.record(**fields, outcome="skipped", detail={"reason": "nobody"})
            return Done("nobody_on_call")
        try:
            await self._slack.set_user_group(team.slack_user_group, users)
        except ChannelError as exc:
            return _failed(ctx, exc)
        await self._audit.record(**fields, outcome="ok", detail={"users": users})
        return Done("updated")


def _next(engine: OnCall, schedule: str, at: datetime) -> datetime:
    """When the chain looks again: the next shift boundary, or the next quarter hour."""
    boundaries = [
        moment
        for shift in engine.shifts(schedule, at, at + _AHEAD)
        for moment in (shift.start, shift.end)
        if moment > at
    ]
    return min([*boundaries, _slot_after(at)])


def _failed(ctx: JobContext, exc: ChannelError) -> Outcome:
    if isinstance(exc, ChannelThrottled):
        return Defer(until=ctx.now + timedelta(seconds=exc.retry_after or 1.0), reason=str(exc))
    if isinstance(exc, ChannelRejected):
        return DeadLetter(str(exc))
    return Retry(str(exc))


def _handoff_text(schedule: ScheduleConfig, start: str, end: str | None) -> str:
    """The hand-off message: the schedule's name is configuration, escaped all the same."""
    from_ = _local(start, schedule.time_zone)
    until = f" until {_local(end, schedule.time_zone)}" if end else ""
    return (
        f":pager: You are on call for *{escape(schedule.title)}* from {from_}{until} "
        f"({escape(schedule.time_zone)}). Escalations that page this schedule reach you meanwhile."
    )


def _local(moment: str, zone: str) -> str:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")
