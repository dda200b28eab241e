"""What every action from Slack passes through: the role it needs, checked against the user's
(a refusal written into the history of each alert involved), and an audit row for each attempt
with what came of it — done, refused, or failed with the reason the user is told."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from receiver.alertmanager_api import AlertmanagerRejected, AlertmanagerUnavailable
from receiver.audit import Audit
from receiver.chatops import ChatOps
from receiver.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreUnavailable
from receiver.metrics import Metrics
from receiver.model import Role
from receiver.notify.slack.mrkdwn import escape
from receiver.people import PERSON, People
from receiver.slack.replies import Reply
from receiver.slack.roles import SlackRoles, SlackUser, audit

__all__ = ["Gate"]

# The errors a user's command can meet and be told of as they are; anything else is a fault.
_TOLD = (
    NotFound,
    Conflict,
    Forbidden,
    InvalidInput,  # e.g. a runbook parameter that is not settable, or of the wrong type
    AlertmanagerRejected,
    AlertmanagerUnavailable,
)


class Gate:
    """Authorises Slack users' actions by role and audits every attempt; ``people`` is the
    directory of the configuration in force."""

    def __init__(
        self,
        roles: SlackRoles,
        chatops: ChatOps,
        people: Callable[[], People],
        audit_trail: Audit | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._roles = roles
        self._chatops = chatops
        self._people = people
        self._audit_trail = audit_trail
        self._metrics = metrics

    def person_actor(self, user: SlackUser) -> str:
        """The actor a change by ``user`` is recorded under: their person, else the user."""
        person = self._people().slack_actor(user.id)
        return person if person.startswith(PERSON) else f"slack:{user.actor_name}"

    async def authorise(
        self, user: SlackUser, action: str, needed: Role, alert_ids: Sequence[int]
    ) -> Reply | None:
        """None when the user may; else the refusal, audited and written into the history of
        each alert involved."""
        role = await self._roles.role_of(user.id)
        if role is not None and role >= needed:
            return None
        has = role.name.lower() if role is not None else "no role"
        wanted = needed.name.lower()
        self.audit(user, action, "refused", required=wanted, role=has, alert_ids=list(alert_ids))
        await self._chatops.refused(alert_ids, user.actor, action, wanted, has)
        return Reply(
            f"Sorry, `{action}` needs the {wanted} role in Firebreak and you have {has}. "
            "An admin can grant it in firebreak.yml (slack.users or slack.user_groups)."
        )

    async def run(
        self,
        user: SlackUser,
        action: str,
        alert_id: int | None,
        work: Awaitable[Reply],
        **fields: object,
    ) -> Reply:
        """``work``'s reply, audited; an error the user can act on is their reply instead."""
        try:
            reply = await work
        except _TOLD as exc:
            self.audit(user, action, "failed", alert_id=alert_id, reason=str(exc), **fields)
            return Reply(f"Could not {action}: {escape(str(exc))}.")
        except StoreUnavailable:
            reason = "store unavailable"
            self.audit(user, action, "failed", alert_id=alert_id, reason=reason, **fields)
            return Reply(f"Could not {action}: Firebreak's database is unavailable; try again.")
        self.audit(user, action, "ok", alert_id=alert_id, **fields)
        return reply

    def audit(self, user: SlackUser, action: str, outcome: str, **fields: object) -> None:
        self.audit_many(user, action, [(outcome, fields)])

    def audit_many(
        self, user: SlackUser, action: str, outcomes: Sequence[tuple[str, dict[str, object]]]
    ) -> None:
        """An audit row (and log line) for each (outcome, fields), the rows in one INSERT."""
        if self._audit_trail is None:
            for outcome, fields in outcomes:
                audit(user, action, outcome, **fields)
        else:
            person = self._people().slack_actor(user.id)
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
