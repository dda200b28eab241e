"""The ``/firebreak`` slash command and the message buttons, as a dispatch table.

Each subcommand has a pure ``parse`` (arguments → typed value, or ``Usage`` saying what was
expected), the role it needs, and a ``run`` that calls one service. ``prepare`` runs in the
3-second window before Slack's acknowledgement, so it never touches the store or the network;
``execute`` runs after it and its answer goes back through ``response_url``.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from receiver.actions import AlertActions, not_acknowledged
from receiver.alertmanager import format_rfc3339
from receiver.alertmanager_api import AlertmanagerRejected, AlertmanagerUnavailable
from receiver.audit import Audit
from receiver.automation.service import AutomationService
from receiver.chatops import ChatOps
from receiver.config import Config
from receiver.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreUnavailable
from receiver.maintenance import Maintenance
from receiver.manual_pages import ManualPages
from receiver.matchers import Matcher, format_matchers
from receiver.metrics import Metrics
from receiver.model import Role
from receiver.notify.slack.blocks import (
    ACTION_ACK,
    ACTION_RESOLVE,
    ACTION_SILENCE,
    alert_ids_from_value,
    escape,
    runbook_from_action,
)
from receiver.people import PERSON, People
from receiver.routing import Router
from receiver.schedules import Schedules
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
    OverrideArgs,
    is_schedule_query,
    mentioned_user,
    parse_override,
    parse_schedule,
)
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
    parse_oncall,
    parse_page,
    parse_run,
    parse_silence,
    parse_snooze,
)
from receiver.slack.replies import describe, firing_list, mention, oncall_text
from receiver.slack.roles import SlackRoles, SlackUser, audit
from receiver.slack.runbooks import RunbookCommands

__all__ = ["Prepared", "Reply", "SlackCommands", "Usage", "help_text"]

LISTED: Final = 15  # alerts listed by `alerts`; the rest are counted
_SCANNED: Final = 1000  # alerts counted at most for "and N more"
_BUTTON_SILENCE: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to show: to the user only, or to the whole channel."""

    text: str
    public: bool = False


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


# --- running ---------------------------------------------------------------------------------


async def _run_help(commands: SlackCommands, user: SlackUser, _args: None) -> Reply:
    return Reply(help_text(commands.command))


async def _run_alerts(
    commands: SlackCommands, user: SlackUser, matchers: tuple[Matcher, ...]
) -> Reply:
    return await commands.list_firing(matchers)


async def _run_ack(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    alert = await commands.actions.acknowledge(args.alert_id, user.actor, args.note, None)
    return Reply(f"{mention(user)} acknowledged {describe(alert)}.", public=True)


async def _run_resolve(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    alert = await commands.actions.resolve(args.alert_id, user.actor, args.note, None)
    return Reply(f"{mention(user)} resolved {describe(alert)}.", public=True)


async def _run_snooze(commands: SlackCommands, user: SlackUser, args: AlertArgs) -> Reply:
    assert args.duration is not None
    alert = await commands.actions.snooze(args.alert_id, args.duration, user.actor, args.note, None)
    until = format_rfc3339(alert.snoozed_until) if alert.snoozed_until else "later"
    return Reply(f"{mention(user)} snoozed {describe(alert)} until {until}.", public=True)


async def _run_silence(commands: SlackCommands, user: SlackUser, args: SilenceArgs) -> Reply:
    return await commands.silence(user, args.matchers, args.duration, args.comment)


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
    schedule, labels = args
    if labels is not None:
        return commands.oncall(labels)
    if schedule is None and not commands.has_schedules:  # nothing to ask: the routes, then
        return commands.oncall({})
    return Reply(await commands.rota.oncall(schedule))


def _parse_oncall(args: list[str]) -> tuple[str | None, dict[str, str] | None]:
    """A schedule (or none: every schedule), or the labels of an alert to route."""
    if is_schedule_query(args):
        return parse_schedule(args), None
    return None, parse_oncall(args)


async def _run_override(commands: SlackCommands, user: SlackUser, args: OverrideArgs) -> Reply:
    actor = commands.person_actor(user)
    return Reply(await commands.rota.override(args, user.id, actor), public=True)


async def _run_page(commands: SlackCommands, user: SlackUser, args: PageArgs) -> Reply:
    if commands.pages is None:
        raise NotFound("paging by hand is not available here")
    # Slack's trigger_id is one per command typed: the same request again is the same page.
    request = f"slack:{user.id}:{args.request}" if args.request else ""
    page = commands.pages.from_message(
        commands.page_target(args.target), args.message, request=request
    )
    alert, created = await commands.pages.raise_page(page, user.actor)
    if not created:
        return Reply(f"That page was raised already: {describe(alert)}.")
    whom = escape(str(page.target))
    return Reply(f"{mention(user)} paged {whom} about {describe(alert)}.", public=True)


async def _run_maintenance(
    commands: SlackCommands, user: SlackUser, args: MaintenanceArgs
) -> Reply:
    actor = commands.person_actor(user)
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
        _parse_oncall,
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

# Buttons on alert messages, as the subcommand whose role and history they share.
_BUTTONS: Final = {ACTION_ACK: "ack", ACTION_RESOLVE: "resolve", ACTION_SILENCE: "silence"}


def _no_maintenance() -> Maintenance:
    raise NotFound("maintenance windows are not available here")


def _no_schedules(config: Config) -> Callable[[], Schedules]:
    def refuse() -> Schedules:
        raise NotFound("schedules are not available here")

    return refuse


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
        automation: AutomationService | None = None,
        audit: Audit | None = None,
        schedules: Callable[[], Schedules] | None = None,
        pages: ManualPages | None = None,
        maintenance: Callable[[], Maintenance] | None = None,
    ) -> None:
        assert config.slack is not None
        self._audit_trail = audit
        self.pages = pages
        self.command = config.slack.command
        self._config = config
        self.actions = actions
        self._chatops = chatops
        self._roles = roles
        self._metrics = metrics
        self.runbooks = RunbookCommands(
            automation, roles, dict(config.slack.runbook_approvers), chatops, self.command
        )
        self._router = Router(config)
        self._people = People(config.people, config.api.tokens, config.teams)
        self.has_schedules = bool(config.schedules)
        self.rota = OnCallCommands(schedules or _no_schedules(config), self._people)
        self.maintenance = MaintenanceCommands(maintenance or _no_maintenance)

    def person_actor(self, user: SlackUser) -> str:
        """The actor a change by ``user`` is recorded under: their person, else the user."""
        person = self._people.slack_actor(user.id)
        return person if person.startswith(PERSON) else f"slack:{user.actor_name}"

    def page_target(self, written: str) -> str:
        """A page's target as typed, a mention of a person's Slack user (``@alice``) read as
        that person."""
        user = mentioned_user(written)
        if user is None:
            return written
        person = self._people.by_slack(user)
        if person is None:
            raise InvalidInput(
                "target", "that Slack user is not in people (by slack_user_id); name a person id"
            )
        return f"person:{person.id}"

    def _audit(self, user: SlackUser, action: str, outcome: str, **fields: object) -> None:
        self._audit_many(user, action, [(outcome, fields)])

    def _audit_many(
        self, user: SlackUser, action: str, outcomes: Sequence[tuple[str, dict[str, object]]]
    ) -> None:
        """An audit row (and log line) for each (outcome, fields), the rows in one INSERT."""
        if self._audit_trail is None:
            for outcome, fields in outcomes:
                audit(user, action, outcome, **fields)
        else:
            person = self._people.slack_actor(user.id)
            # The person the Slack user is in the people directory, else as Slack names them.
            actor = person if person.startswith(PERSON) else user.actor_name
            entries = []
            for outcome, fields in outcomes:
                target = (
                    fields.get("alert_id") or fields.get("execution_id") or fields.get("target")
                )
                entries.append(
                    {
                        "actor": actor,
                        "interface": "slack",
                        "action": action,
                        "outcome": outcome,
                        "target": None if target is None else str(target),
                        "detail": {
                            "slack_user_id": user.id,
                            "slack_user_name": user.name,
                            **fields,
                        },
                    }
                )
            self._audit_trail.record_many_soon(entries)
        if self._metrics is not None:
            for outcome, _fields in outcomes:
                self._metrics.slack_actions.labels(action, outcome).inc()

    # -- the slash command --------------------------------------------------------------------

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
        refusal = await self._authorise(
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
        return await self._run(user, prepared.name, alert_id, work, **fields)

    async def _run(
        self,
        user: SlackUser,
        action: str,
        alert_id: int | None,
        work: Awaitable[Reply],
        **fields: object,
    ) -> Reply:
        try:
            reply = await work
        except (
            NotFound,
            Conflict,
            Forbidden,
            InvalidInput,  # e.g. a runbook parameter that is not settable, or of the wrong type
            AlertmanagerRejected,
            AlertmanagerUnavailable,
        ) as exc:
            self._audit(user, action, "failed", alert_id=alert_id, reason=str(exc), **fields)
            return Reply(f"Could not {action}: {escape(str(exc))}.")
        except StoreUnavailable:
            reason = "store unavailable"
            self._audit(user, action, "failed", alert_id=alert_id, reason=reason, **fields)
            return Reply(f"Could not {action}: Firebreak's database is unavailable; try again.")
        self._audit(user, action, "ok", alert_id=alert_id, **fields)
        return reply

    async def _authorise(
        self, user: SlackUser, action: str, needed: Role, alert_ids: Sequence[int]
    ) -> Reply | None:
        """None when the user may; else the refusal, audited and written into the history of
        each alert involved."""
        role = await self._roles.role_of(user.id)
        if role is not None and role >= needed:
            return None
        has = role.name.lower() if role is not None else "no role"
        wanted = needed.name.lower()
        self._audit(user, action, "refused", required=wanted, role=has, alert_ids=list(alert_ids))
        await self._chatops.refused(alert_ids, user.actor, action, wanted, has)
        return Reply(
            f"Sorry, `{action}` needs the {wanted} role in Firebreak and you have {has}. "
            "An admin can grant it in firebreak.yml (slack.users or slack.user_groups)."
        )

    # -- buttons ------------------------------------------------------------------------------

    async def press(self, user: SlackUser, action_id: str, value: str) -> Reply | None:
        """A button on an alert message; the answer (if any) is shown to the presser only.
        A successful acknowledge or resolve needs none: the message itself changes."""
        runbook = runbook_from_action(action_id)
        if runbook is not None:
            return await self._press_runbook(user, runbook, alert_ids_from_value(value))
        name = _BUTTONS.get(action_id)
        ids = alert_ids_from_value(value)
        if name is None or not ids:
            return Reply("This button is not one Firebreak knows; the message may be outdated.")
        refusal = await self._authorise(user, name, SUBCOMMANDS[name].role, ids)
        if refusal is not None:
            return refusal
        if name == "ack":
            return await self._press_ack(user, list(dict.fromkeys(ids)))
        replies = [await self._run(user, name, i, self._press_one(user, name, i)) for i in ids]
        texts = [r.text for r in replies if r.text]
        return Reply("\n".join(texts)) if texts else None

    async def _press_ack(self, user: SlackUser, ids: list[int]) -> Reply | None:
        """Acknowledge: every alert the button names at once (one statement, one job telling
        the channels, so a group's message is updated once), an audit row for each, and a line
        for each that could not be acknowledged, as pressing it alone says it."""
        try:
            changed, found = await self.actions.acknowledge_many(
                ids, user.actor, "from a Slack button", None
            )
        except StoreUnavailable:
            failed: dict[str, object] = {"reason": "store unavailable"}
            self._audit_many(user, "ack", [("failed", {"alert_id": i, **failed}) for i in ids])
            return Reply("Could not ack: Firebreak's database is unavailable; try again.")
        refused = not_acknowledged(ids, changed, found)
        self._audit_many(
            user,
            "ack",
            [
                ("failed", {"alert_id": i, "reason": str(refused[i])})
                if i in refused
                else ("ok", {"alert_id": i})
                for i in ids
            ],
        )
        texts = [f"Could not ack: {escape(str(refused[i]))}." for i in ids if i in refused]
        return Reply("\n".join(texts)) if texts else None

    async def _press_runbook(self, user: SlackUser, runbook: str, ids: list[int]) -> Reply:
        """A Run button: ``run`` for each alert it names, with that subcommand's role and
        audit; an execution of the runbook for an alert that has not ended is reported, not
        started again (a double press, an older copy of the message)."""
        if not ids:
            return Reply("This button is not one Firebreak knows; the message may be outdated.")
        refusal = await self._authorise(user, "run", SUBCOMMANDS["run"].role, ids)
        if refusal is not None:
            return refusal
        replies = [
            await self._run(user, "run", i, self._start(user, runbook, i), runbook=runbook)
            for i in ids
        ]
        return Reply("\n".join(r.text for r in replies))

    async def _start(self, user: SlackUser, runbook: str, alert_id: int) -> Reply:
        return Reply(await self.runbooks.start(user, runbook, alert_id))

    async def _press_one(self, user: SlackUser, name: str, alert_id: int) -> Reply:
        actor = user.actor
        if name == "resolve":
            await self.actions.resolve(alert_id, actor, "from a Slack button", None)
            return Reply("")
        matchers = await self._chatops.matchers_of(alert_id)
        comment = f"From Slack for alert {alert_id}"
        return await self.silence(user, matchers, _BUTTON_SILENCE, comment)

    # -- services the subcommands call ---------------------------------------------------------

    async def list_firing(self, matchers: tuple[Matcher, ...]) -> Reply:
        alerts, more = await self._chatops.firing(matchers, _SCANNED)
        return Reply(firing_list(alerts, more, matchers, LISTED))

    async def silence(
        self,
        user: SlackUser,
        matchers: tuple[Matcher, ...],
        duration: timedelta,
        comment: str | None,
    ) -> Reply:
        comment = comment or f"Silenced from Slack by {user.actor_name}"
        silenced = await self._chatops.silence(
            matchers, duration, user.actor, user.actor_name, comment
        )
        if silenced is None:
            return Reply("No Alertmanager is configured (alertmanager.url), so I cannot silence.")
        until = format_rfc3339(silenced.ends_at)
        return Reply(
            f"{mention(user)} created silence `{escape(silenced.silence_id)}` until {until} for "
            f"`{escape(format_matchers(matchers))}` ({silenced.covered} firing alert(s) covered).",
            public=True,
        )

    def oncall(self, labels: dict[str, str]) -> Reply:
        matches = self._router.route(labels)
        return Reply(oncall_text(labels, matches, self._config.escalation_policies))
