"""The buttons on alert messages: Acknowledge, Resolve, Silence and a runbook's Run, each
with the role, audit and history of the subcommand it stands for. The answer, when there is
one, is shown to the presser only; a successful acknowledge or resolve needs none, as the
message itself changes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from receiver.actions import AlertActions, not_acknowledged
from receiver.errors import StoreUnavailable
from receiver.model import Role
from receiver.notify.slack.blocks import (
    ACTION_ACK,
    ACTION_RESOLVE,
    ACTION_SILENCE,
    alert_ids_from_value,
    escape,
    runbook_from_action,
)
from receiver.slack.alerts import AlertCommands
from receiver.slack.gate import Gate
from receiver.slack.replies import Reply
from receiver.slack.roles import SlackUser
from receiver.slack.runbooks import RunbookCommands

__all__ = ["BUTTONS", "Buttons"]

# Each button as the subcommand whose role and history it shares.
BUTTONS: Final = {ACTION_ACK: "ack", ACTION_RESOLVE: "resolve", ACTION_SILENCE: "silence"}
_SILENCE: Final = timedelta(hours=1)
_OUTDATED: Final = "This button is not one Firebreak knows; the message may be outdated."


class Buttons:
    """Button presses; ``needs`` is the role of each subcommand a button stands for."""

    def __init__(
        self,
        gate: Gate,
        actions: AlertActions,
        alerts: AlertCommands,
        runbooks: RunbookCommands,
        needs: Mapping[str, Role],
    ) -> None:
        self._gate = gate
        self._actions = actions
        self._alerts = alerts
        self._runbooks = runbooks
        self._needs = needs

    async def press(self, user: SlackUser, action_id: str, value: str) -> Reply | None:
        runbook = runbook_from_action(action_id)
        if runbook is not None:
            return await self._press_runbook(user, runbook, alert_ids_from_value(value))
        name = BUTTONS.get(action_id)
        ids = alert_ids_from_value(value)
        if name is None or not ids:
            return Reply(_OUTDATED)
        refusal = await self._gate.authorise(user, name, self._needs[name], ids)
        if refusal is not None:
            return refusal
        if name == "ack":
            return await self._press_ack(user, list(dict.fromkeys(ids)))
        run = self._gate.run
        replies = [await run(user, name, i, self._press_one(user, name, i)) for i in ids]
        texts = [r.text for r in replies if r.text]
        return Reply("\n".join(texts)) if texts else None

    async def _press_ack(self, user: SlackUser, ids: list[int]) -> Reply | None:
        """Acknowledge: every alert the button names at once (one statement, one job telling
        the channels, so a group's message is updated once), an audit row for each, and a line
        for each that could not be acknowledged, as pressing it alone says it."""
        try:
            changed, found = await self._actions.acknowledge_many(
                ids, user.actor, "from a Slack button", None
            )
        except StoreUnavailable:
            failed: dict[str, object] = {"reason": "store unavailable"}
            self._gate.audit_many(user, "ack", [("failed", {"alert_id": i, **failed}) for i in ids])
            return Reply("Could not ack: Firebreak's database is unavailable; try again.")
        refused = not_acknowledged(ids, changed, found)
        self._gate.audit_many(
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
            return Reply(_OUTDATED)
        refusal = await self._gate.authorise(user, "run", self._needs["run"], ids)
        if refusal is not None:
            return refusal
        replies = [
            await self._gate.run(user, "run", i, self._start(user, runbook, i), runbook=runbook)
            for i in ids
        ]
        return Reply("\n".join(r.text for r in replies))

    async def _start(self, user: SlackUser, runbook: str, alert_id: int) -> Reply:
        return Reply(await self._runbooks.start(user, runbook, alert_id))

    async def _press_one(self, user: SlackUser, name: str, alert_id: int) -> Reply:
        if name == "resolve":
            await self._actions.resolve(alert_id, user.actor, "from a Slack button", None)
            return Reply("")
        return await self._alerts.silence_alert(user, alert_id, _SILENCE)
