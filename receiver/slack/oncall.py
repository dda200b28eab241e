"""``/firebreak oncall [schedule | label=value ...]`` and ``/firebreak override <schedule>
@person <duration | until TIME>``: who is on call now and next (or, for an alert's labels, whom
its route's escalation reaches), and an override made from Slack.

``parse_*`` are pure (they run in Slack's three-second window); ``OnCallCommands`` asks the
schedules service. Names shown are escaped for mrkdwn and never @mention anyone: asking who
is on call should not page them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from receiver.alertmanager import parse_rfc3339
from receiver.config import Config
from receiver.config.oncall import check_id
from receiver.durations import parse_duration
from receiver.errors import InvalidInput
from receiver.notify.slack.mrkdwn import escape
from receiver.oncall import Shift
from receiver.oncall.checks import local_time
from receiver.oncall.times import instant
from receiver.people import People
from receiver.routing import Router
from receiver.schedules import Schedules
from receiver.slack.parse import Usage, parse_oncall
from receiver.slack.replies import oncall_text

OVERRIDE_USAGE: Final = "override <schedule> @person <duration | until HH:MM | until TIME>"
# <@U0123ABC> or <@U0123ABC|alice>: how Slack writes a mention in a command's text.
_MENTION: Final = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
_CLOCK: Final = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True, slots=True)
class OverrideArgs:
    schedule: str
    person: str  # a person id, or "slack:<user id>" from a mention, or "me"
    duration: timedelta | None = None
    until: datetime | None = None
    until_clock: time | None = None  # the next such time in the schedule's zone


def is_schedule_query(args: list[str]) -> bool:
    """``oncall`` with one word that is no ``label=value``: a schedule, not labels."""
    return len(args) <= 1 and all("=" not in a and "~" not in a for a in args)


def parse_oncall_query(args: list[str]) -> tuple[str | None, dict[str, str] | None]:
    """A schedule (or none: every schedule), or the labels of an alert to route."""
    if is_schedule_query(args):
        return parse_schedule(args), None
    return None, parse_oncall(args)


def parse_schedule(args: list[str]) -> str | None:
    if not args:
        return None
    if check_id(args[0]) is not None:
        raise Usage(
            f"expected a schedule id such as payments-primary, got `{escape(args[0][:64])}`"
        )
    return args[0]


def mentioned_user(text: str) -> str | None:
    """The Slack user id of a mention (``<@U0123ABC|alice>``), or None for anything else."""
    mention = _MENTION.fullmatch(text)
    return mention[1] if mention is not None else None


def parse_override(args: list[str]) -> OverrideArgs:
    usage = f"`{escape(OVERRIDE_USAGE)}`"
    if len(args) < 3:
        raise Usage(f"expected a schedule, a person and how long: {usage}")
    schedule, who, rest = args[0], args[1], args[2:]
    if check_id(schedule) is not None:
        raise Usage(f"expected a schedule id, got `{escape(schedule[:64])}`: {usage}")
    mention = _MENTION.fullmatch(who)
    if mention is not None:
        person = f"slack:{mention[1]}"
    elif check_id(who.removeprefix("@")) is None:
        person = who.removeprefix("@")
    else:
        raise Usage(f"expected @person or a person id, got `{escape(who[:64])}`: {usage}")
    if rest[0].lower() != "until":
        if len(rest) != 1:
            raise Usage(f"expected one duration such as 8h: {usage}")
        try:
            duration = parse_duration(rest[0])
        except ValueError:
            got = escape(rest[0][:64])
            raise Usage(f"expected a duration such as 8h, got `{got}`: {usage}") from None
        if duration <= timedelta(0):
            raise Usage(f"expected a duration above 0: {usage}")
        return OverrideArgs(schedule, person, duration=duration)
    if len(rest) != 2:
        raise Usage(f"expected `until` and one time: {usage}")
    clock = _CLOCK.fullmatch(rest[1])
    if clock is not None:
        return OverrideArgs(schedule, person, until_clock=time(int(clock[1]), int(clock[2])))
    try:
        return OverrideArgs(schedule, person, until=parse_rfc3339(rest[1]))
    except ValueError:
        raise Usage(
            f"expected HH:MM or an RFC 3339 time after `until`, got `{escape(rest[1][:64])}`: "
            f"{usage}"
        ) from None


class OnCallRoutes:
    """The routes and escalation policies of one configuration, for ``oncall label=value``."""

    def __init__(self, config: Config) -> None:
        self._router = Router(config)
        self._policies = config.escalation_policies
        self.has_schedules = bool(config.schedules)

    def text(self, labels: dict[str, str]) -> str:
        """The routes alerts with ``labels`` take, and the tiers of each one's policy."""
        return oncall_text(labels, self._router.route(labels), self._policies)


class OnCallCommands:
    """What the two subcommands do, over the schedules the application runs now; ``people``
    and ``routes`` are those of the configuration in force."""

    def __init__(
        self,
        schedules: Callable[[], Schedules],
        people: Callable[[], People],
        routes: Callable[[], OnCallRoutes],
    ) -> None:
        self._schedules = schedules
        self._people = people
        self._routes = routes

    async def ask(self, schedule_id: str | None, labels: dict[str, str] | None) -> str:
        """``oncall``: a schedule's (or every schedule's) on-call, or the routes for labels;
        with no schedules configured, plain ``oncall`` answers with the routes."""
        routes = self._routes()
        if labels is not None:
            return routes.text(labels)
        if schedule_id is None and not routes.has_schedules:  # nothing to ask: the routes, then
            return routes.text({})
        return await self.oncall(schedule_id)

    async def oncall(self, schedule_id: str | None) -> str:
        schedules = self._schedules()
        if schedule_id is None:
            ids = [s.id for s in schedules.config.schedules]
            if not ids:
                return "No schedules are configured (schedules in firebreak.yml)."
        else:
            ids = [schedule_id]
        return "\n".join([await self._one(schedules, sid) for sid in ids])

    async def _one(self, schedules: Schedules, schedule_id: str) -> str:
        found = await schedules.now_and_next(schedule_id)
        zone = ZoneInfo(found.schedule.time_zone)
        title = f"*{escape(found.schedule.title)}*"
        if found.current is None:
            line = f"{title}: nobody is on call now"
        else:
            line = (
                f"{title}: {self._names(found.current)} until {local_time(found.current.end, zone)}"
            )
        if found.following is not None:
            line += (
                f"; next {self._names(found.following)} from "
                f"{local_time(found.following.start, zone)}"
            )
        return line

    async def override(self, args: OverrideArgs, caller: str, actor: str) -> str:
        """Make the override for ``caller`` (a Slack user id), recorded as made by ``actor``."""
        schedules = self._schedules()
        person = self._person(args.person, caller)
        now = schedules.now()
        engine = await schedules.engine(now, now + timedelta(seconds=1))
        schedule = engine.schedule(args.schedule)
        zone = ZoneInfo(schedule.time_zone)
        end = self._end(args, now, zone)
        made = await schedules.add_override(schedule.id, person, now, end, actor)
        name = self._people().get(person)
        shown = escape(name.name or name.id) if name is not None else escape(person)
        return (
            f"{shown} is on call for *{escape(schedule.title)}* until {local_time(made.end, zone)} "
            f"(override {made.id})."
        )

    def _person(self, written: str, caller: str) -> str:
        if written == "me":
            found = self._people().by_slack(caller)
            if found is None:
                raise InvalidInput("person", "you are not in people (no slack_user_id of yours)")
            return found.id
        if written.startswith("slack:"):
            found = self._people().by_slack(written.removeprefix("slack:"))
            if found is None:
                raise InvalidInput("person", "that Slack user is not in people (slack_user_id)")
            return found.id
        return written

    @staticmethod
    def _end(args: OverrideArgs, now: datetime, zone: ZoneInfo) -> datetime:
        if args.duration is not None:
            return now + args.duration
        if args.until is not None:
            return args.until
        assert args.until_clock is not None
        wall = datetime.combine(now.astimezone(zone).date(), args.until_clock)
        end = instant(wall, zone)
        return end if end > now else instant(wall + timedelta(days=1), zone)

    def _names(self, shift: Shift) -> str:
        names = []
        for person_id in shift.people:
            person = self._people().get(person_id)
            names.append(escape(person.name or person_id) if person else escape(person_id))
        return ", ".join(names) or "nobody"
