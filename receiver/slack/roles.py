"""Who may do what from Slack: roles by user id and by user group (``slack.users``,
``slack.user_groups``, ``slack.default_role``), and the audit line every attempt leaves.

Group membership comes from ``usergroups.users.list`` (usergroups:read scope) and is trusted for
``slack.group_cache``; when Slack cannot be asked, the group grants nothing (fail closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from receiver.config import SlackConfig
from receiver.model import Actor, Role

__all__ = ["SlackRoles", "SlackUser", "audit"]

log = logging.getLogger("firebreak.slack")
audit_log = logging.getLogger("firebreak.audit")


@dataclass(frozen=True, slots=True)
class SlackUser:
    """A Slack user as a request names them."""

    id: str
    name: str

    @property
    def actor_name(self) -> str:
        """How the user appears in alert histories: ``alice (U0123)``."""
        return f"{self.name} ({self.id})" if self.name else self.id

    @property
    def actor(self) -> Actor:
        """The user as an alert's history records what they did."""
        return Actor(self.actor_name, "slack")


def audit(user: SlackUser, action: str, outcome: str, **fields: object) -> None:
    """One structured line per action attempted from Slack: who, what, and what came of it."""
    audit_log.info(
        "slack %s by %s: %s",
        action,
        user.actor_name,
        outcome,
        extra={
            "interface": "slack",
            "slack_user_id": user.id,
            "slack_user_name": user.name,
            "action": action,
            "outcome": outcome,
            **fields,
        },
    )


class SlackRoles:
    def __init__(
        self,
        config: SlackConfig,
        client: AsyncWebClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def role_of(self, user_id: str) -> Role | None:
        """The highest role the user's id, groups or the default give; None for none."""
        best = self._config.users.get(user_id)
        if self._config.default_role is not None and (
            best is None or self._config.default_role > best
        ):
            best = self._config.default_role
        for group, role in self._config.user_groups.items():
            if best is not None and best >= role:
                continue
            if user_id in await self._group(group):
                best = role
        return best

    async def is_member(self, user_id: str, ids: tuple[str, ...]) -> bool:
        """Whether the user is one of ``ids`` or in one of its groups (runbook approvers)."""
        if user_id in ids:
            return True
        for ident in ids:
            if ident.startswith("S") and user_id in await self._group(ident):
                return True
        return False

    async def _group(self, group: str) -> frozenset[str]:
        now = self._clock()
        cached = self._members.get(group)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            answer = await self._client.usergroups_users_list(usergroup=group)
        except (SlackApiError, OSError, TimeoutError) as exc:
            log.warning("cannot read Slack user group %s: %s", group, exc)
            return frozenset()
        members = frozenset(str(u) for u in answer.get("users") or [])
        self._members[group] = (now + self._config.group_cache.total_seconds(), members)
        return members
