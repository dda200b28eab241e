"""The arguments of ``firebreak alerts``, ``runbooks``, ``drill`` and ``automation``: argparse
only, so that building the command line imports nothing heavy (``check-config`` starts fast);
what runs the commands is imported when one runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def add_alerts_parsers(commands: Any, with_config: WithConfig) -> None:
    alerts = commands.add_parser("alerts", help="list, acknowledge, resolve and snooze alerts")
    sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="COMMAND")
    listing = with_config(sub.add_parser("list", help="stored alerts, newest first"))
    listing.add_argument(
        "matchers",
        nargs="*",
        metavar="MATCHER",
        help='label matchers, all of which must match: severity=critical alertname=~"Disk.*"',
    )
    listing.add_argument("--status", help="firing or resolved")
    listing.add_argument("--acknowledged", help="true or false")
    listing.add_argument("--since", help="started within a duration (1h) or since a time")
    listing.add_argument("--limit", default="100", help="at most this many (1-1000)")
    listing.add_argument("--json", action="store_true", help="the API's JSON")
    show = with_config(sub.add_parser("show", help="one alert with its history"))
    show.add_argument("alert", type=int)
    show.add_argument("--json", action="store_true", help="the API's JSON")
    for name, text in (("ack", "acknowledge an alert"), ("resolve", "resolve an alert")):
        act = with_config(sub.add_parser(name, help=text))
        act.add_argument("alert", type=int)
        act.add_argument("--note", help="written into the alert's history")
    snooze = with_config(sub.add_parser("snooze", help="put off an alert's next tier"))
    snooze.add_argument("alert", type=int)
    snooze.add_argument("duration", help="for how long, up to 7d: 30m, 2h")
    snooze.add_argument("--note", help="written into the alert's history")


def add_automation_parsers(commands: Any, with_config: WithConfig) -> None:
    runbooks = commands.add_parser("runbooks", help="list, run and steer runbook executions")
    sub = runbooks.add_subparsers(dest="runbooks_command", required=True, metavar="COMMAND")
    with_config(sub.add_parser("list", help="the runbooks defined"))
    show = with_config(sub.add_parser("show", help="one runbook, as JSON"))
    show.add_argument("runbook")
    run = with_config(sub.add_parser("run", help="start a runbook by hand"))
    run.add_argument("runbook")
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="trigger_context"
    )
    run.add_argument("--alert", type=int, help="run it for this stored alert")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="render and record what each step would do, change nothing; shows it when done",
    )
    run.add_argument("--wait", action="store_true", help="wait for the execution to end")
    run.add_argument(
        "--override-breaker",
        action="store_true",
        help="run it although its breaker stopped automatic runs",
    )
    status = with_config(sub.add_parser("status", help="an execution, its steps and events"))
    status.add_argument("execution", type=int)
    status.add_argument("--json", action="store_true")
    cancel = with_config(sub.add_parser("cancel", help="stop an execution between steps"))
    cancel.add_argument("execution", type=int)
    cancel.add_argument("--reason")
    for name in ("approve", "reject"):
        decide = with_config(sub.add_parser(name, help=f"{name} the step that waits"))
        decide.add_argument("execution", type=int)
    drill = with_config(
        commands.add_parser(
            "drill",
            help="inject a synthetic alert through the running server and time each stage",
        )
    )
    drill.add_argument("runbook")
    drill.add_argument("--replay", type=int, metavar="ALERT_ID", help="replay a stored alert")
    drill.add_argument("--label", action="append", default=[], metavar="NAME=VALUE")
    drill.add_argument("--live", action="store_true", help="run the steps for real")
    drill.add_argument("--budget", type=float, default=120.0, help="seconds for the whole drill")
    automation = commands.add_parser("automation", help="the automation kill switch")
    switch = automation.add_subparsers(dest="automation_command", required=True, metavar="CMD")
    pause = with_config(switch.add_parser("pause", help="stop automatic runs everywhere"))
    pause.add_argument("--reason")
    with_config(switch.add_parser("resume", help="let automatic runs start again"))
    with_config(switch.add_parser("status", help="paused or not"))
