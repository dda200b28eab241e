"""The runbook subcommands of ``/firebreak``: list, run, approve, cancel and status, through the
automation service. Runs and decisions are made as ``slack:<user id>``, the form a step's
``approvers`` name Slack users in; ``slack.runbook_approvers`` narrows who may approve a
runbook's steps from Slack further."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from receiver.automation.service import AutomationService
from receiver.chatops import ChatOps
from receiver.errors import Forbidden, NotFound
from receiver.notify.slack.mrkdwn import escape
from receiver.slack.replies import mention
from receiver.slack.roles import SlackRoles, SlackUser

__all__ = ["NO_RUNBOOKS", "RunbookCommands"]

NO_RUNBOOKS: Final = "No runbooks are configured"
_STEPS_SHOWN: Final = 20


def runbook_actor(user: SlackUser) -> str:
    return f"slack:{user.id}"


class RunbookCommands:
    """What the runbook subcommands do; each answer is (text, shown to the channel)."""

    def __init__(
        self,
        automation: Callable[[], AutomationService | None],
        roles: SlackRoles,
        approvers: dict[str, tuple[str, ...]],
        chatops: ChatOps,
        command: str,
    ) -> None:
        self._automation = automation
        self._roles = roles
        self._approvers = approvers
        self._chatops = chatops
        self._command = command

    def _service(self) -> AutomationService | None:
        """The automation service in force (a reload replaces it), if it has runbooks."""
        service = self._automation()
        if service is None or not service.list_runbooks():
            return None
        return service

    def list(self) -> tuple[str, bool]:
        service = self._service()
        if service is None:
            return f"{NO_RUNBOOKS}.", False
        lines = ["*Runbooks*"]
        for runbook in sorted(service.list_runbooks(), key=lambda r: r.id):
            how = "automatic" if runbook.automatic and runbook.match else "by hand"
            lines.append(f"• `{escape(runbook.id)}` — {escape(runbook.title)} ({how})")
        return "\n".join(lines), False

    async def run(self, user: SlackUser, name: str, params: dict[str, str]) -> tuple[str, bool]:
        service = self._service()
        if service is None:
            return f"{NO_RUNBOOKS}, so there is no runbook `{escape(name)}` to run.", False
        execution = await service.run(name, runbook_actor(user), trigger_context=params)
        return (
            f"{mention(user)} started runbook `{escape(name)}`: execution {execution.id} "
            f"({execution.state}).",
            True,
        )

    async def start(self, user: SlackUser, name: str, alert_id: int) -> str:
        """A Run button: run ``name`` for an alert unless an execution of it for the alert has
        not ended (then that one is reported, and the alert's history says nothing started)."""
        service = self._service()
        if service is None:
            raise NotFound(f"{NO_RUNBOOKS}, so there is no runbook {name}")
        execution, started = await service.start(
            name, runbook_actor(user), alert_id=alert_id, once=True
        )
        what = f"execution {execution.id} ({execution.state})"
        if started:
            return (
                f"You started runbook `{escape(name)}` for alert {alert_id}: {what}. "
                f"Its steps follow in the message's thread; `{self._command} status "
                f"{execution.id}` shows them too."
            )
        await self._chatops.pressed_while_running(alert_id, user.actor, name, execution.id)
        return (
            f"Runbook `{escape(name)}` is already running for alert {alert_id}: {what}; "
            "nothing new was started."
        )

    async def approve(self, user: SlackUser, execution_id: int) -> tuple[str, bool]:
        service = self._service()
        if service is None:
            return f"{NO_RUNBOOKS}, so there is no execution {execution_id}.", False
        record = await service.status(execution_id)
        runbook = record.execution.runbook
        allowed = self._approvers.get(runbook)
        if allowed and not await self._roles.is_member(user.id, allowed):
            raise Forbidden(f"slack.runbook_approvers does not name you for runbook {runbook}")
        role = await self._roles.role_of(user.id)
        assert role is not None  # the subcommand's own role was checked first
        execution = await service.approve(execution_id, runbook_actor(user), role)
        return (
            f"{mention(user)} approved execution {execution_id} of `{escape(runbook)}`; "
            f"it is {execution.state}.",
            True,
        )

    async def cancel(
        self, user: SlackUser, execution_id: int, reason: str | None
    ) -> tuple[str, bool]:
        service = self._service()
        if service is None:
            return f"{NO_RUNBOOKS}, so there is no execution {execution_id}.", False
        execution = await service.cancel(execution_id, runbook_actor(user), reason)
        return (
            f"{mention(user)} cancelled execution {execution_id} of `{escape(execution.runbook)}`.",
            True,
        )

    async def status(self, execution_id: int) -> tuple[str, bool]:
        service = self._service()
        if service is None:
            return f"{NO_RUNBOOKS}, so there is no execution {execution_id}.", False
        record = await service.status(execution_id)
        execution = record.execution
        lines = [
            f"*Execution {execution.id} of `{escape(execution.runbook)}`: {execution.state}*"
            + (" (dry run)" if execution.dry_run else ""),
            f"Started {execution.trigger} by {escape(execution.actor)}"
            + (f" for alert {execution.alert_id}" if execution.alert_id else ""),
        ]
        for step in record.steps[:_STEPS_SHOWN]:
            line = f"• `{escape(step.step_id)}` ({step.type}, {step.phase}): {step.state}"
            if step.decided_by:
                line += f", {step.decision} by {escape(step.decided_by)}"
            if step.error:
                line += f" — {escape(step.error[:200])}"
            lines.append(line)
        if execution.error:
            lines.append(f"Error: {escape(execution.error[:300])}")
        return "\n".join(lines), False
