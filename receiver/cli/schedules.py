"""``firebreak schedules ...``: who is on call, the shifts ahead, overrides, and the check of
coverage, from a shell.

Like ``firebreak alerts``, the commands work on the store directly (whoever can read the
configuration and reach the database acts for themselves, ``cli:<user>``); an override made or
deleted here is one audit row, like one made through the API.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from receiver.audit import Audit, audited
from receiver.automation.definitions import Runbooks
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services, spelled
from receiver.config import Config
from receiver.errors import InvalidInput
from receiver.oncall import Shift
from receiver.oncall.checks import coverage_problems, local_time
from receiver.oncall.feed import feed_path
from receiver.oncall.views import override_json, schedule_json, shift_json
from receiver.schedules import Schedules, parse_instant, parse_window

# The API's names for what is wrong, as the command line spells them.
_ARGUMENTS = {
    "start": "--start",
    "end": "--until",
    "duration": "--for",
    "at": "--at",
    "from": "--from",
    "to": "--days",
}


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak schedules <command>``."""
    command = spelled(_command(args, loaded.config), _ARGUMENTS)
    return shell_command(f"schedules {args.schedules_command}", command)


async def _command(args: argparse.Namespace, config: Config) -> int:
    async with shell_services(config, Runbooks()) as shell:
        schedules = shell.schedules
        command = args.schedules_command
        if command == "list":
            return await _list(args, schedules)
        if command == "oncall":
            return await _oncall(args, schedules)
        if command == "shifts":
            return await _shifts(args, schedules)
        if command == "check":
            return await _check(args, schedules)
        if command == "feed":
            return _feed(args, schedules)
        return await _change(args, schedules, shell.audit)


async def _list(args: argparse.Namespace, schedules: Schedules) -> int:
    engine = await schedules.engine()
    now = schedules.now()
    rows = [(s, engine.who(s.id, now)) for s in engine.schedules]
    if args.json:
        _print([{**schedule_json(s), "on_call": list(people)} for s, people in rows])
        return 0
    print(f"{'SCHEDULE':<24} {'ZONE':<22} {'SOURCE':<7} ON CALL NOW")
    for schedule, people in rows:
        source = "ical" if schedule.ical else f"{len(schedule.layers)} layer(s)"
        print(f"{schedule.id:<24} {schedule.time_zone:<22} {source:<7} {_names(people)}")
    return 0


async def _oncall(args: argparse.Namespace, schedules: Schedules) -> int:
    at = parse_instant(args.at, "at", schedules.now())
    found = await schedules.now_and_next(args.schedule, at)
    people = {p.id: p for p in schedules.config.people}
    zone = ZoneInfo(found.schedule.time_zone)
    if args.json:
        _print(
            {
                "schedule": found.schedule.id,
                "shift": shift_json(found.current, people) if found.current else None,
                "next": shift_json(found.following, people) if found.following else None,
            }
        )
        return 0
    if found.current is None:
        print(f"{found.schedule.title}: nobody on call at {local_time(at, zone)}")
    else:
        print(f"{found.schedule.title}: {_shift_line(found.current, zone)}")
    if found.following is not None:
        print(f"next: {_shift_line(found.following, zone)}")
    return 0


async def _shifts(args: argparse.Namespace, schedules: Schedules) -> int:
    start = parse_instant(args.start, "from", schedules.now())
    rota = await schedules.rota(args.schedule, start, start + timedelta(days=args.days))
    people = {p.id: p for p in schedules.config.people}
    if args.json:
        _print([shift_json(s, people) for s in rota.shifts])
        return 0
    zone = ZoneInfo(rota.schedule.time_zone)
    pieces: list[tuple[datetime, str]] = [(s.start, _shift_line(s, zone)) for s in rota.shifts]
    pieces += [
        (g.start, f"{local_time(g.start, zone)} → {local_time(g.end, zone)}  NOBODY (gap)")
        for g in rota.gaps
    ]
    for _, line in sorted(pieces):
        print(line)
    return 0


async def _check(args: argparse.Namespace, schedules: Schedules) -> int:
    engine = await schedules.engine()
    start = schedules.now()
    names = tuple(args.schedule) or None
    if names is not None:
        for name in names:
            engine.schedule(name)
    problems = coverage_problems(
        engine,
        start,
        start + timedelta(weeks=args.weeks),
        schedules.calendars.unknown_names,
        names,
    )
    status = schedules.calendars.status()
    for entry in status["calendars"] if status else []:
        if entry["error"] is not None:
            problems.append(f"schedule {entry['schedule']}: calendar not read: {entry['error']}")
    for problem in problems:
        print(problem)
    checked = len(names) if names else len(engine.schedules)
    print(
        f"{checked} schedule(s), {args.weeks} week(s) ahead: "
        + (f"{len(problems)} problem(s)" if problems else "covered"),
        file=sys.stderr,
    )
    return 1 if problems else 0


async def _change(args: argparse.Namespace, schedules: Schedules, audit: Audit) -> int:
    user = getpass.getuser()
    actor = f"cli:{user}"
    if args.schedules_command == "delete-override":
        async with audited(audit, actor, "cli", "schedule_override_delete", args.schedule):
            deleted = await schedules.delete_override(args.schedule, args.override)
        print(f"deleted override {deleted.id}")
        return 0
    start, end = parse_window(
        schedules.now(), start=args.start, end=args.until, duration=args.duration
    )
    async with audited(audit, actor, "cli", "schedule_override", args.schedule):
        made = await schedules.add_override(args.schedule, args.person, start, end, actor)
    zone = next(ZoneInfo(s.time_zone) for s in schedules.config.schedules if s.id == made.schedule)
    print(
        f"override {made.id}: {made.person} on call for {made.schedule} from "
        f"{local_time(made.start, zone)} to {local_time(made.end, zone)}"
    )
    if args.json:
        _print(override_json(made))
    return 0


def _feed(args: argparse.Namespace, schedules: Schedules) -> int:
    """The feed's path: the calendar app needs Firebreak's address in front of it."""
    secret = schedules.config.oncall.feed_secret
    if not secret:
        raise InvalidInput("oncall.feed_secret", "is not set, so calendar feeds are off")
    if (args.schedule is None) == (args.person is None):
        raise InvalidInput("schedule", "give a schedule or --person (exactly one)")
    if args.person is not None:
        if not any(p.id == args.person for p in schedules.config.people):
            raise InvalidInput("--person", "expected the id of a person in people")
        print(feed_path(secret, "person", args.person))
    else:
        print(feed_path(secret, "schedule", schedules.schedule(args.schedule).id))
    return 0


def _shift_line(shift: Shift, zone: ZoneInfo) -> str:
    marker = {"layer": f"layer {shift.layer}", "override": f"override {shift.override}"}
    return (
        f"{local_time(shift.start, zone)} → {local_time(shift.end, zone)}  "
        f"{_names(shift.people)}  ({marker.get(shift.source, shift.source)})"
    )


def _names(people: tuple[str, ...]) -> str:
    return ", ".join(people) or "NOBODY (gap)"


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))
