"""``firebreak maintenance ...``: maintenance windows listed, made and ended from a shell.

Like ``firebreak schedules``, the commands work on the store directly (whoever can read the
configuration and reach the database acts for themselves, ``cli:<user>``); a window made or
ended here is one audit row, like one made through the API. The serving process sees it at
its next look at the windows (each routing of alerts), and releases what an ended window held
at its next poll.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import datetime
from typing import Any

from receiver.audit import audited
from receiver.automation.definitions import Runbooks
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services, spelled
from receiver.config import Config
from receiver.maintenance import Maintenance
from receiver.views import window_json
from receiver.web.maintenance import MATCHERS_LIMIT, parse_window_request
from receiver.windows import MaintenanceWindow

# The API's names for what is wrong, as the command line spells them.
_ARGUMENTS = {
    "name": "NAME",
    "matchers": "--match",
    "reason": "--reason",
    "owner": "--owner",
    "start": "--start",
    "end": "--until",
    "duration": "--for",
    "rrule": "--rrule",
    "cron": "--cron",
    "time_zone": "--time-zone",
    "silence": "--silence",
    # The API names which matcher; the command line has one --match per matcher.
    **{f"matchers[{i}]": "--match" for i in range(MATCHERS_LIMIT)},
}


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak maintenance <command>``."""
    command = spelled(_command(args, loaded.config), _ARGUMENTS)
    return shell_command(f"maintenance {args.maintenance_command}", command)


async def _command(args: argparse.Namespace, config: Config) -> int:
    async with shell_services(config, Runbooks()) as shell:
        maintenance = shell.maintenance
        command = args.maintenance_command
        if command == "list":
            return await _list(args, maintenance)
        actor = f"cli:{getpass.getuser()}"
        if command == "end":
            async with audited(shell.audit, actor, "cli", "maintenance_end", args.name):
                ended = await maintenance.end(args.name, actor)
            print(f"ended maintenance window {ended.name}; what it held escalates from now")
            return 0
        body = {
            "name": args.name,
            "matchers": args.match,
            "reason": args.reason,
            "owner": args.owner or getpass.getuser(),
            "start": args.start,
            "end": args.until,
            "duration": args.duration,
            "rrule": args.rrule,
            "cron": args.cron,
            "time_zone": args.time_zone,
            "silence": True if args.silence else None,
        }
        window = parse_window_request(
            {k: v for k, v in body.items() if v is not None}, maintenance.now()
        )
        async with audited(shell.audit, actor, "cli", "maintenance_create", args.name):
            made = await maintenance.create(window, actor)
        if args.json:
            _print(window_json(made, maintenance.now()))
        else:
            print(_line(made, maintenance.now()))
        return 0


async def _list(args: argparse.Namespace, maintenance: Maintenance) -> int:
    now = maintenance.now()
    windows = await maintenance.windows(at=now)
    if args.json:
        _print([window_json(w, now) for w in windows])
        return 0
    if not windows:
        print("no maintenance windows open or planned")
    for window in windows:
        print(_line(window, now))
    return 0


def _line(window: MaintenanceWindow, now: datetime) -> str:
    current = window.occurrence_at(now)
    coming = current or window.next_occurrence(now)
    when = "closed for good"
    if coming is not None:
        state = "open until" if current is not None else "opens"
        when = f"{state} {_time(coming.end if current is not None else coming.start)}"
    rule = window.rrule or window.cron
    every = f" ({rule}, {window.time_zone})" if rule else ""
    matchers = ", ".join(window.matchers)
    return (
        f"{window.name}: {when}{every}; holds {{{matchers}}}; "
        f"{window.reason} (owner {window.owner}, {window.source})"
    )


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
