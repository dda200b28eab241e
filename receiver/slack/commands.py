"""The ``/firebreak`` slash command and the message buttons, as a dispatch table.

Each subcommand has a pure ``parse`` (arguments → typed value, or ``Usage`` saying what was
expected), the role it needs, and a ``run`` that calls one service through its family's
commands (``alerts``, ``runbooks``, ``oncall``, ``pages``, ``maintenance``). ``prepare`` runs in
the 3-second window before Slack's acknowledgement, so it never touches the store or the
network; ``execute`` runs after it, through the ``gate`` (role, audit), and its answer goes back
through ``response_url``. The buttons are in ``buttons``.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from receiver.actions import AlertActions
from receiver.audit import Audit
from receiver.automation.service import AutomationService
from receiver.chatops import ChatOps
from receiver.config import Config
from receiver.errors import NotFound
from receiver.maintenance import Maintenance
from receiver.manual_pages import ManualPages
from receiver.matchers import Matcher
from receiver.metrics import Metrics
from receiver.model import Role
from receiver.notify.slack.mrkdwn import escape
from receiver.people import People
from receiver.schedules import Schedules
from receiver.slack.alerts import AlertCommands
from receiver.slack.buttons import Buttons
from receiver.slack.gate import Gate
from receiver.slack.maintenance import (
    MAINTENANCE_USAGE,
    MaintenanceArgs,
    MaintenanceCommands,
    maintenance_role,
    parse_maintenance,
)
from receiver.slack.oncall import (
    OVERRIDE_USAGE,
    OnCallCommands,
    OnCallRoutes,
    OverrideArgs,
    parse_oncall_query,
    parse_override,
)
from receiver.slack.pages import PageCommands
from receiver.slack.parse import (
    PAGE_USAGE,
    AlertArgs,
    PageArgs,
    SilenceArgs,
    Usage,
    parse_alert_note,
    parse_alerts,
    parse_execution,
    parse_none,
    parse_page,
    parse_run,
    parse_silence,
    parse_snooze,
)
from receiver.slack.replies import Reply
from receiver.slack.roles import SlackRoles, SlackUser
from receiver.slack.runbooks import RunbookCommands

__all__ = ["SUBCOMMANDS", "Prepared", "SlackCommands", "help_text"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed command, ready to authorise and run."""

    name: str
    args: Any


@dataclass(frozen=True, slots=True)
class _Subcommand:
    usage: str
    summary: str
    role: Role
    parse: Callable[[list[str]], Any]
    run: Callable[[SlackCommands, SlackUser, Any], Awaitable[Reply]]
    # The role by what was asked, where it depends on that (listing or changing).
    role_of: Callable[[Any], Role] | None = None

    def needs(self, args: Any) -> Role:
        return self.role if self.role_of is None else self.role_of(args)


# --- running: each subcommand's family of commands does the work ------------------------------


async def _run_help(commands: SlackCommands, user: SlackUser, _args: None) -> Reply:
    return Reply(help_text(commands.command))


async def _run_alerts(
    commands: SlackCommands, user: SlackUser, matchers: tuple[Matcher, ...]
) -> Reply:
    return await commands.alerts.firing(matchers)


async def _run_ack(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    return await commands.alerts.acknowledge(user, args)


async def _run_resolve(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    return await commands.alerts.resolve(user, args)


async def _run_snooze(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    return await commands.alerts.snooze(user, args)


async def _run_silence(commands: SlackCommands, user: SlackUser, args: SilenceArgs) -> Reply:
    return await commands.alerts.silence(user, args.matchers, args.duration, args.comment)


async def _run_runbooks(commands: SlackCommands, user: SlackUser, _args: None) -> Reply:
    return Reply(*commands.runbooks.list())


async def _run_run(
    commands: SlackCommands, user: SlackUser, args: tuple[str, dict[str, str]]
) -> Reply:
    return Reply(*await commands.runbooks.run(user, args[0], args[1]))


async def _run_approve(commands: SlackCommands, user: SlackUser, args: tuple[int, Any]) -> Reply:
    return Reply(*await commands.runbooks.approve(user, args[0]))


async def _run_cancel(commands: SlackCommands, user: SlackUser, args: tuple[int, Any]) -> Reply:
    return Reply(*await commands.runbooks.cancel(user, args[0], args[1]))


async def _run_status(commands: SlackCommands, user: SlackUser, args: tuple[int, Any]) -> Reply:
    return Reply(*await commands.runbooks.status(args[0]))


async def _run_oncall(
    commands: SlackCommands, user: SlackUser, args: tuple[str | None, dict[str, str] | None]
) -> Reply:
    return Reply(await commands.rota.ask(*args))


async def _run_override(commands: SlackCommands, user: SlackUser, args: OverrideArgs) -> Reply:
    actor = commands.gate.person_actor(user)
    return Reply(await commands.rota.override(args, user.id, actor), public=True)


async def _run_page(commands: SlackCommands, user: SlackUser, args: PageArgs) -> Reply:
    return await commands.pages.page(user, args)


async def _run_maintenance(
    commands: SlackCommands, user: SlackUser, args: MaintenanceArgs
) -> Reply:
    actor = commands.gate.person_actor(user)
    text, public = await commands.maintenance.run(args, user.name or user.id, actor)
    return Reply(text, public=public)


SUBCOMMANDS: Final[dict[str, _Subcommand]] = {
    "help": _Subcommand("help", "this list", Role.VIEWER, parse_none, _run_help),
    "alerts": _Subcommand(
        "alerts [matchers]", "firing alerts, newest first", Role.VIEWER, parse_alerts, _run_alerts
    ),
    "ack": _Subcommand(
        "ack <alert-id> [note]",
        "acknowledge an alert (stops its escalation)",
        Role.RESPONDER,
        parse_alert_note("ack <alert-id> [note]"),
        _run_ack,
    ),
    "resolve": _Subcommand(
        "resolve <alert-id> [note]",
        "resolve an alert by hand",
        Role.RESPONDER,
        parse_alert_note("resolve <alert-id> [note]"),
        _run_resolve,
    ),
    "snooze": _Subcommand(
        "snooze <alert-id> <duration>",
        "put off the next escalation tier (at most 7d)",
        Role.RESPONDER,
        parse_snooze,
        _run_snooze,
    ),
    "silence": _Subcommand(
        "silence <matchers> <duration> [comment]",
        "create an Alertmanager silence",
        Role.RESPONDER,
        parse_silence,
        _run_silence,
    ),
    "runbooks": _Subcommand(
        "runbooks", "the runbooks you can run", Role.VIEWER, parse_none, _run_runbooks
    ),
    "run": _Subcommand(
        "run <runbook> [key=value ...]", "start a runbook", Role.RESPONDER, parse_run, _run_run
    ),
    "approve": _Subcommand(
        "approve <execution-id>",
        "approve a waiting runbook step",
        Role.RESPONDER,
        parse_execution("approve <execution-id>"),
        _run_approve,
    ),
    "cancel": _Subcommand(
        "cancel <execution-id> [reason]",
        "stop a runbook execution",
        Role.RESPONDER,
        parse_execution("cancel <execution-id> [reason]"),
        _run_cancel,
    ),
    "status": _Subcommand(
        "status <execution-id>",
        "where a runbook execution stands",
        Role.VIEWER,
        parse_execution("status <execution-id>"),
        _run_status,
    ),
    "oncall": _Subcommand(
        "oncall [schedule | label=value ...]",
        "who is on call now and next (every schedule, or one); with labels, who gets the next "
        "escalation for such alerts",
        Role.VIEWER,
        parse_oncall_query,
        _run_oncall,
    ),
    "page": _Subcommand(
        PAGE_USAGE,
        "page a schedule's on-call, a person or a team (then the route's escalation)",
        Role.RESPONDER,
        lambda words: parse_page(" ".join(words)),
        _run_page,
    ),
    "override": _Subcommand(
        OVERRIDE_USAGE,
        "put someone on call for a schedule (@person, a person id, or me)",
        Role.RESPONDER,
        parse_override,
        _run_override,
    ),
    "maintenance": _Subcommand(
        MAINTENANCE_USAGE,
        "maintenance windows: matching alerts are recorded but not escalated while one is open "
        "(listing needs viewer, start and end responder)",
        Role.RESPONDER,
        parse_maintenance,
        _run_maintenance,
        maintenance_role,
    ),
}


def _no_maintenance() -> Maintenance:
    raise NotFound("maintenance windows are not available here")


def _no_schedules() -> Schedules:
    raise NotFound("schedules are not available here")


def _following(config: Callable[[], Config], build: Callable[[Config], T]) -> Callable[[], T]:
    """``build`` of the configuration in force, made again only once a reload replaced it."""
    made: list[tuple[Config, T]] = []

    def current() -> T:
        now = config()
        if not made or made[0][0] is not now:
            made[:] = [(now, build(now))]
        return made[0][1]

    return current


def help_text(command: str) -> str:
    lines = [f"*{command}* — Firebreak from Slack. Subcommands:"]
    lines += [f"• `{command} {escape(s.usage)}` — {s.summary}" for s in SUBCOMMANDS.values()]
    lines.append(
        'Matchers use Alertmanager syntax: `alertname=DiskFull` `severity=~"crit.*"`. '
        "Durations: `30m`, `2h`, `1h30m`."
    )
    return "\n".join(lines)


class SlackCommands:
    """Runs slash commands and button presses for Slack users, checking their roles."""

    def __init__(
        self,
        config: Config,
        actions: AlertActions,
        chatops: ChatOps,
        roles: SlackRoles,
        metrics: Metrics | None = None,
        automation: Callable[[], AutomationService | None] | None = None,
        audit: Audit | None = None,
        schedules: Callable[[], Schedules] | None = None,
        pages: ManualPages | None = None,
        maintenance: Callable[[], Maintenance] | None = None,
        in_force: Callable[[], Config] | None = None,
    ) -> None:
        """``config`` is the configuration started with (its ``slack`` section is read only at
        start); ``in_force`` the one in force, which a reload replaces (routes, people), and
        ``automation`` the automation service of that one."""
        assert config.slack is not None
        self.command = config.slack.command
        current = in_force or (lambda: config)
        people = _following(current, lambda c: People(c.people, c.api.tokens, c.teams))
        self.gate = Gate(roles, chatops, people, audit, metrics)
        self.alerts = AlertCommands(actions, chatops)
        self.runbooks = RunbookCommands(
            automation or (lambda: None),
            roles,
            dict(config.slack.runbook_approvers),
            chatops,
            self.command,
        )
        routes = _following(current, OnCallRoutes)
        self.rota = OnCallCommands(schedules or _no_schedules, people, routes)
        self.pages = PageCommands(pages, people)
        self.maintenance = MaintenanceCommands(maintenance or _no_maintenance)
        needs = {name: sub.role for name, sub in SUBCOMMANDS.items()}
        self.buttons = Buttons(self.gate, actions, self.alerts, self.runbooks, needs)

    def prepare(self, text: str, trigger_id: str = "") -> Prepared | Reply:
        """Parse the command text; a ``Reply`` (help, or what was expected) ends it here.
        ``trigger_id`` is Slack's name for this one request."""
        head, _, rest = text.strip().partition(" ")
        if head.lower() == "page":
            try:
                return Prepared("page", parse_page(rest, trigger_id))
            except Usage as exc:
                return Reply(f"`{self.command} page`: {exc}")
        try:
            words = shlex.split(text)
        except ValueError as exc:
            return Reply(f"Could not read the command ({exc}); check the quotes.")
        if not words or words[0] == "help":
            return Reply(help_text(self.command))
        name, args = words[0].lower(), words[1:]
        sub = SUBCOMMANDS.get(name)
        if sub is None:
            return Reply(
                f"Unknown subcommand `{escape(words[0])}`; expected one of "
                f"{', '.join(SUBCOMMANDS)}.\n" + help_text(self.command)
            )
        try:
            return Prepared(name, sub.parse(args))
        except Usage as exc:
            return Reply(f"`{self.command} {name}`: {exc}")

    async def execute(self, user: SlackUser, prepared: Prepared) -> Reply:
        """Authorise and run a prepared command; every attempt leaves an audit line."""
        sub = SUBCOMMANDS[prepared.name]
        alert_id = prepared.args.alert_id if isinstance(prepared.args, AlertArgs) else None
        refusal = await self.gate.authorise(
            user, prepared.name, sub.needs(prepared.args), [alert_id] if alert_id else []
        )
        if refusal is not None:
            return refusal
        # What the command is about, for its audit row (an alert's id is recorded as that).
        target = getattr(prepared.args, "schedule", None) or getattr(prepared.args, "target", None)
        if isinstance(prepared.args, MaintenanceArgs):
            target = prepared.args.name
        fields = {"target": target} if target else {}
        work = sub.run(self, user, prepared.args)
        return await self.gate.run(user, prepared.name, alert_id, work, **fields)

    async def press(self, user: SlackUser, action_id: str, value: str) -> Reply | None:
        """A button on an alert message; the answer (if any) is shown to the presser only."""
        return await self.buttons.press(user, action_id, value)
