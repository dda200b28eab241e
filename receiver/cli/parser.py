"""The ``firebreak`` command line: argparse only, so that building it imports nothing heavy
(``check-config`` starts fast). Each command names what runs it (``module:function``, see
``receiver/cli/main.py``); that module is imported only when the command runs.

To add a command: its parser here, with ``set_defaults(run="receiver.cli.<module>:<function>")``,
and the function ``(args, loaded) -> exit status`` in that module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from receiver import __version__
from receiver.durations import parse_duration

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firebreak",
        description="Durable Alertmanager receiver: records, escalates, remediates.",
    )
    parser.add_argument("--version", action="version", version=f"firebreak {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config",
            help="configuration file (default: $FIREBREAK_CONFIG, else ./firebreak.yml, else "
            "/etc/firebreak/firebreak.yml)",
        )
        return sub

    serve = with_config(commands.add_parser("serve", help="run the receiver"))
    serve.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="address to serve on, instead of $FIREBREAK_LISTEN or the configuration's listen",
    )
    serve.set_defaults(run="receiver.cli.serve:serve")
    check = with_config(
        commands.add_parser("check-config", help="validate a configuration file (exit 0 or 1)")
    )
    check.set_defaults(run="receiver.cli.check:check_config")
    templates = commands.add_parser("templates", help="preview message templates")
    templates.set_defaults(run="receiver.cli.templates:run")
    templates_commands = templates.add_subparsers(
        dest="templates_command", required=True, metavar="ACTION"
    )
    render = with_config(
        templates_commands.add_parser(
            "render", help="print exactly what a channel would send for an alert"
        )
    )
    render.add_argument("--channel", required=True, help="a channel of the configuration")
    render.add_argument(
        "--alert",
        required=True,
        help="a JSON file: one alert as Alertmanager posts it, or a whole webhook payload",
    )
    render.add_argument(
        "--kind", choices=("firing", "resolved"), default=None, help="default: from the alert"
    )
    routes = commands.add_parser("routes", help="escalation routes")
    routes.set_defaults(run="receiver.cli.check:routes_test")
    routes_commands = routes.add_subparsers(
        dest="routes_command", required=True, metavar="ROUTES_COMMAND"
    )
    routes_test = with_config(
        routes_commands.add_parser(
            "test",
            help="show where alerts with the given labels go (like amtool config routes test)",
            description="Print the routes an alert with these labels matches, one per line as "
            "ROUTE -> POLICY, each followed by the policy's tiers.",
        )
    )
    routes_test.add_argument(
        "--verify-policy",
        metavar="NAME",
        help="exit 1 unless the first matching route leads to this escalation policy",
    )
    routes_test.add_argument(
        "labels",
        nargs="*",
        metavar="LABEL",
        help='the alert\'s labels as name=value or name="value", e.g. alertname=DiskFull',
    )
    add_alerts_parsers(commands, with_config)
    add_page_parser(commands)
    add_schedules_parsers(commands, with_config)
    add_heartbeats_parsers(commands, with_config)
    add_maintenance_parsers(commands, with_config)
    add_automation_parsers(commands, with_config)
    db = commands.add_parser("db", help="database schema")
    db.set_defaults(run="receiver.cli.db:run")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    with_config(db_commands.add_parser("upgrade", help="apply schema migrations"))
    with_config(db_commands.add_parser("current", help="print the schema revision"))
    backup = with_config(
        db_commands.add_parser(
            "backup",
            help="take a consistent online backup of the SQLite database",
            description="Copy the SQLite database to PATH while the receiver keeps running "
            "(SQLite's online backup: a consistent snapshot). For PostgreSQL it explains "
            "pg_dump and a standby instead.",
        )
    )
    backup.add_argument("path", metavar="PATH", help="the backup file to write (must not exist)")
    restore = with_config(
        db_commands.add_parser(
            "restore",
            help="restore the SQLite database from a backup (receiver stopped)",
            description="Replace the configured SQLite database with the backup at PATH. "
            "Stop the receiver first. Refuses to overwrite a database holding alerts "
            "unless --force is given.",
        )
    )
    restore.add_argument("path", metavar="PATH", help="a file written by 'firebreak db backup'")
    restore.add_argument("--force", action="store_true", help="overwrite a non-empty database")
    return parser


def add_maintenance_parsers(commands: Any, with_config: WithConfig) -> None:
    maintenance = commands.add_parser(
        "maintenance", help="maintenance windows: list, make, end early"
    )
    maintenance.set_defaults(run="receiver.cli.maintenance:run")
    sub = maintenance.add_subparsers(dest="maintenance_command", required=True, metavar="COMMAND")
    listing = with_config(sub.add_parser("list", help="the windows open or planned"))
    listing.add_argument("--json", action="store_true", help="print the windows as JSON")
    create = with_config(
        sub.add_parser(
            "create",
            help="make a window: matching alerts are held back from escalation and runbooks",
            description="One-off: --for or --until (and --start, default now). Recurring: "
            "--rrule or --cron, with --for and --time-zone.",
        )
    )
    create.add_argument("name", help="letters, digits, . _ -")
    create.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="MATCHER",
        help='an Alertmanager matcher such as service="db"; repeat for more (all must match)',
    )
    create.add_argument("--reason", required=True)
    create.add_argument("--owner", help="who answers for it (default: you)")
    create.add_argument("--for", dest="duration", help="a duration such as 2h")
    create.add_argument("--until", help="an RFC 3339 time")
    create.add_argument("--start", help="an RFC 3339 time (default now)")
    create.add_argument("--rrule", help="an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=SU;BYHOUR=2")
    create.add_argument("--cron", help="five cron fields such as '0 2 * * 0'")
    create.add_argument("--time-zone", help="the zone --rrule and --cron count in (default UTC)")
    create.add_argument(
        "--silence",
        action="store_true",
        help="also an Alertmanager silence for each occurrence (needs the alertmanager section)",
    )
    create.add_argument("--json", action="store_true", help="print the window as JSON")
    end = with_config(sub.add_parser("end", help="end a window now; what it held escalates"))
    end.add_argument("name")


def add_schedules_parsers(commands: Any, with_config: WithConfig) -> None:
    schedules = commands.add_parser(
        "schedules", help="who is on call, shifts, overrides, and gaps in coverage"
    )
    schedules.set_defaults(run="receiver.cli.schedules:run")
    sub = schedules.add_subparsers(dest="schedules_command", required=True, metavar="COMMAND")
    listing = with_config(sub.add_parser("list", help="the schedules, and who is on call now"))
    listing.add_argument("--json", action="store_true", help="print JSON")
    oncall = with_config(sub.add_parser("oncall", help="who is on call, and who is next"))
    oncall.add_argument("schedule")
    oncall.add_argument("--at", help="an RFC 3339 time (default now)")
    oncall.add_argument("--json", action="store_true", help="print JSON")
    shifts = with_config(sub.add_parser("shifts", help="the shifts ahead, with their gaps"))
    shifts.add_argument("schedule")
    shifts.add_argument("--from", dest="start", help="an RFC 3339 time (default now)")
    shifts.add_argument("--days", type=int, default=14, help="how many days (default 14)")
    shifts.add_argument("--json", action="store_true", help="print JSON")
    override = with_config(
        sub.add_parser(
            "override",
            help="put a person on call for a schedule",
            description="Give --for or --until. The override wins over every layer.",
        )
    )
    override.add_argument("schedule")
    override.add_argument("person", help="a person id of people")
    override.add_argument("--for", dest="duration", help="a duration such as 8h")
    override.add_argument("--until", help="an RFC 3339 time")
    override.add_argument("--start", help="an RFC 3339 time (default now)")
    override.add_argument("--json", action="store_true", help="print the override as JSON")
    delete = with_config(sub.add_parser("delete-override", help="delete an override"))
    delete.add_argument("schedule")
    delete.add_argument("override", type=int, help="the override's id")
    feed = with_config(
        sub.add_parser(
            "feed",
            help="the path of a calendar feed (oncall.feed_secret), for a schedule or --person",
        )
    )
    feed.add_argument("schedule", nargs="?", help="a schedule id")
    feed.add_argument("--person", help="a person id instead: their shifts on every schedule")
    check = with_config(
        sub.add_parser(
            "check",
            help="name every gap in coverage, and layers that never apply (exit 1 if any)",
        )
    )
    check.add_argument("schedule", nargs="*", help="the schedules to check (default all)")
    check.add_argument("--weeks", type=_weeks, default=4, help="how far ahead (default 4)")


def _weeks(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 13:
        raise argparse.ArgumentTypeError("expected a number of weeks from 1 to 13")
    return int(text)


def add_heartbeats_parsers(commands: Any, with_config: WithConfig) -> None:
    listing = with_config(
        commands.add_parser("heartbeats", help="the heartbeats, their state and last beat")
    )
    listing.set_defaults(run="receiver.cli.heartbeats:list_heartbeats")
    listing.add_argument("--json", action="store_true", help="as the API answers")
    beat = commands.add_parser(
        "heartbeat",
        help="send a beat to a running Firebreak (for cron; needs no configuration file)",
        description="The token is read from $FIREBREAK_HEARTBEAT_TOKEN or --token-file, "
        "never from the command line. Exit status 0 once the beat is recorded, 1 when it was "
        "refused or Firebreak could not be reached, 2 without a token or an http(s) address.",
        # Else --token would pass for --token-file, and a token typed there be taken for a path.
        allow_abbrev=False,
    )
    beat.set_defaults(run="receiver.cli.heartbeats:beat", without_config=True)
    beat.add_argument("name", help="the heartbeat's name in heartbeats")
    beat.add_argument(
        "--url", help="Firebreak's address (default: $FIREBREAK_URL, else http://127.0.0.1:9095)"
    )
    beat.add_argument("--token-file", help="a file holding the heartbeat's token")
    beat.add_argument("--message", help="what the run reports (at most 1000 characters)")
    beat.add_argument("--ca-file", help="CA bundle for an HTTPS address with a private CA")
    beat.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    beat.add_argument(
        "--attempts",
        type=_attempts,
        default=3,
        help="tries when Firebreak cannot be reached or answers 5xx, 1s, 2s… apart (default 3)",
    )
    beat.add_argument("--quiet", action="store_true", help="print nothing when it succeeds")


def _attempts(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10:
        raise argparse.ArgumentTypeError("expected a number of tries from 1 to 10")
    return int(text)


def add_page_parser(commands: Any) -> None:
    page = commands.add_parser(
        "page",
        help="page a schedule's on-call, a person or a team through Firebreak's API",
        description="Raise an alert by hand through a running Firebreak (POST /api/v1/alerts) "
        "with the responder token in $FIREBREAK_TOKEN; no configuration file is read.",
    )
    page.set_defaults(run="receiver.cli.page:run", without_config=True)
    page.add_argument(
        "target", metavar="TARGET", help="schedule:ID, person:ID, team:ID, or an id only one has"
    )
    page.add_argument("message", nargs="+", metavar="MESSAGE", help="what is wrong")
    page.add_argument("--url", help="Firebreak's URL (default: $FIREBREAK_URL)")
    page.add_argument("--key", help="the page's key; the same key again raises nothing new")
    page.add_argument("--severity", choices=("critical", "warning", "info"))
    page.add_argument(
        "--label", action="append", default=[], metavar="NAME=VALUE", help="for routes to match"
    )
    page.add_argument("--json", action="store_true", help="the API's JSON")


def add_alerts_parsers(commands: Any, with_config: WithConfig) -> None:
    alerts = commands.add_parser("alerts", help="list, acknowledge, resolve and snooze alerts")
    alerts.set_defaults(run="receiver.cli.alerts:run")
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


def _duration(text: str) -> float:
    """A Prometheus-style duration argument, in seconds."""
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_automation_parsers(commands: Any, with_config: WithConfig) -> None:
    runbooks = commands.add_parser("runbooks", help="list, run and steer runbook executions")
    runbooks.set_defaults(run="receiver.cli.runbooks:run")
    sub = runbooks.add_subparsers(dest="runbooks_command", required=True, metavar="COMMAND")
    with_config(sub.add_parser("list", help="the runbooks defined"))
    show = with_config(sub.add_parser("show", help="one runbook, as JSON"))
    show.add_argument("runbook")
    run = with_config(sub.add_parser("run", help="start a runbook by hand"))
    run.add_argument("runbook")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter the runbook lets a person set, or context for its templates (repeat it)",
    )
    run.add_argument(
        "--alert",
        type=int,
        metavar="ID",
        help="run it for this stored alert (its ID in alerts list)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="render and record what each step would do, change nothing; shows it when done",
    )
    run.add_argument("--wait", action="store_true", help="wait for the execution to end")
    run.add_argument(
        "--timeout",
        type=_duration,
        metavar="DURATION",
        help="give up waiting after this long (30s, 5m); exit 1 if it has not ended "
        "(default: none with --wait, the job poll interval + 10s with --dry-run)",
    )
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
    drill.set_defaults(run="receiver.cli.runbooks:run")
    drill.add_argument("runbook")
    drill.add_argument("--replay", type=int, metavar="ALERT_ID", help="replay a stored alert")
    drill.add_argument("--label", action="append", default=[], metavar="NAME=VALUE")
    drill.add_argument("--live", action="store_true", help="run the steps for real")
    drill.add_argument("--budget", type=float, default=120.0, help="seconds for the whole drill")
    automation = commands.add_parser("automation", help="the automation kill switch")
    automation.set_defaults(run="receiver.cli.runbooks:run")
    switch = automation.add_subparsers(dest="automation_command", required=True, metavar="CMD")
    pause = with_config(switch.add_parser("pause", help="stop automatic runs everywhere"))
    pause.add_argument("--reason")
    with_config(switch.add_parser("resume", help="let automatic runs start again"))
    with_config(switch.add_parser("status", help="paused or not"))
