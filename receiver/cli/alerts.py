"""``firebreak alerts ...``: list, show, acknowledge, resolve and snooze alerts from a shell.

Like ``firebreak runbooks``, the commands work on the store directly (whoever can read the
configuration and reach the database acts as an admin) and go through the same actions as the
API: the same state rules, the same history rows (actor ``cli:<user>``), one audit row each.
The notices an acknowledge or resolve enqueues are sent by the serving process, which picks
them up within ``jobs.poll_interval``.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import datetime
from typing import Any

from multidict import MultiDict

from receiver.audit import audited
from receiver.automation.definitions import Runbooks
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services, spelled
from receiver.config import Config
from receiver.model import Actor, Alert, system_clock
from receiver.store import Store, open_store
from receiver.views import alert_json, event_json
from receiver.web.params import parse_alert_query, parse_snooze

_ACTIONS = {"ack": "acknowledge", "resolve": "resolve", "snooze": "snooze"}
# The API's names for what is wrong, as the command line spells them.
_ARGUMENTS = {
    "match[]": "MATCHER",
    "status": "--status",
    "acknowledged": "--acknowledged",
    "since": "--since",
    "limit": "--limit",
    "for": "DURATION",
}


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak alerts <command>``."""
    command = spelled(_command(args, loaded.config), _ARGUMENTS)
    return shell_command(f"alerts {args.alerts_command}", command)


async def _command(args: argparse.Namespace, config: Config) -> int:
    command = args.alerts_command
    if command in ("list", "show"):
        async with open_store(config.database) as store:
            return await (_list if command == "list" else _show)(args, store)
    user = getpass.getuser()
    actor = Actor(user, "cli")
    async with shell_services(config, Runbooks()) as shell:
        actions = shell.actions
        action = _ACTIONS[command]
        async with audited(shell.audit, f"cli:{user}", "cli", action, args.alert):
            if command == "ack":
                alert = await actions.acknowledge(args.alert, actor, args.note, None)
            elif command == "resolve":
                alert = await actions.resolve(args.alert, actor, args.note, None)
            else:
                duration = parse_snooze(args.duration)
                alert = await actions.snooze(args.alert, duration, actor, args.note, None)
    print(_line(alert, system_clock()))
    return 0


async def _list(args: argparse.Namespace, store: Store) -> int:
    params: MultiDict[str] = MultiDict(limit=args.limit)
    for name in ("status", "acknowledged", "since"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.matchers:
        params["match[]"] = ",".join(args.matchers)
    now = system_clock()
    page = await store.list_alerts(parse_alert_query(params, now))
    if args.json:
        _print([alert_json(a) for a in page.alerts])
        return 0
    print(f"{'ID':>7}  {'STATUS':<8} {'SINCE':<20} {'SEVERITY':<9} {'ALERTNAME':<28} STATE")
    for alert in page.alerts:
        print(_line(alert, now))
    if page.next_cursor is not None:
        print("(more: raise --limit, or narrow with matchers, --status or --since)")
    return 0


async def _show(args: argparse.Namespace, store: Store) -> int:
    alert = await store.get_alert(args.alert)
    events = await store.alert_events(args.alert)
    if args.json:
        _print({**alert_json(alert), "events": [event_json(e) for e in events]})
        return 0
    print(_line(alert, system_clock()))
    for name, value in sorted(alert.labels.items()):
        print(f"  {name}={json.dumps(value)}")
    for name, value in sorted(alert.annotations.items()):
        print(f"  @{name}: {value}")
    print("history:")
    for event in events:
        note = f"  {event.note}" if event.note else ""
        print(f"  {_time(event.at)}  {event.kind.value:<13} {event.actor or '-'}{note}")
    return 0


def _line(alert: Alert, now: datetime) -> str:
    """One alert as a row: id, status, start, severity, name, and who owns it."""
    state = []
    if alert.acknowledged_at is not None:
        state.append(f"acknowledged by {alert.acknowledged_by}")
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        state.append(f"snoozed until {_time(alert.snoozed_until)}")
    if alert.resolved_by is not None:
        state.append(f"resolved by {alert.resolved_by}")
    severity = alert.labels.get("severity", "-")
    name = alert.labels.get("alertname", "-")
    return (
        f"{alert.id:>7}  {alert.status.value:<8} {_time(alert.starts_at):<20} {severity:<9} "
        f"{name:<28} {', '.join(state) or '-'}"
    )


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))
