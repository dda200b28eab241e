"""The alert subcommands of ``/firebreak``: ``alerts`` (what is firing), ``ack``, ``resolve``,
``snooze`` and ``silence``, through the alert actions and the chat operations. Acknowledging,
resolving and silencing are answered to the whole channel, naming who did it."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from receiver.actions import AlertActions
from receiver.alertmanager import format_rfc3339
from receiver.chatops import ChatOps
from receiver.matchers import Matcher, format_matchers
from receiver.notify.slack.mrkdwn import escape
from receiver.slack.parse import AlertArgs
from receiver.slack.replies import Reply, describe, firing_list, mention
from receiver.slack.roles import SlackUser

__all__ = ["LISTED", "AlertCommands"]

LISTED: Final = 15  # alerts listed by `alerts`; the rest are counted
_SCANNED: Final = 1000  # alerts counted at most for "and N more"


class AlertCommands:
    """What the alert subcommands do; each answer is a ``Reply``."""

    def __init__(self, actions: AlertActions, chatops: ChatOps) -> None:
        self._actions = actions
        self._chatops = chatops

    async def firing(self, matchers: tuple[Matcher, ...]) -> Reply:
        alerts, more = await self._chatops.firing(matchers, _SCANNED)
        return Reply(firing_list(alerts, more, matchers, LISTED))

    async def acknowledge(self, user: SlackUser, args: AlertArgs) -> Reply:
        alert = await self._actions.acknowledge(args.alert_id, user.actor, args.note, None)
        return Reply(f"{mention(user)} acknowledged {describe(alert)}.", public=True)

    async def resolve(self, user: SlackUser, args: AlertArgs) -> Reply:
        alert = await self._actions.resolve(args.alert_id, user.actor, args.note, None)
        return Reply(f"{mention(user)} resolved {describe(alert)}.", public=True)

    async def snooze(self, user: SlackUser, args: AlertArgs) -> Reply:
        assert args.duration is not None
        alert = await self._actions.snooze(
            args.alert_id, args.duration, user.actor, args.note, None
        )
        until = format_rfc3339(alert.snoozed_until) if alert.snoozed_until else "later"
        return Reply(f"{mention(user)} snoozed {describe(alert)} until {until}.", public=True)

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

    async def silence_alert(self, user: SlackUser, alert_id: int, duration: timedelta) -> Reply:
        """A silence for the labels of one alert (its Silence button)."""
        matchers = await self._chatops.matchers_of(alert_id)
        comment = f"From Slack for alert {alert_id}"
        return await self.silence(user, matchers, duration, comment)
