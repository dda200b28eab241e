"""Keeping Slack messages current when people change what no notice covers: the
``slack_update`` job.

Acknowledgements and resolves reach Slack as notices (the Slack channel follows
acknowledgements), which update the messages. A snooze is no notice, so it enqueues one
``slack_update`` job in its own transaction (see ``AlertActions``); the job re-renders every
Slack message sent about the alert from the store (``chat.update``). A runbook execution's
progress is the same job with a ``note``, which first goes into each message's thread. It is
a durable job like any send: Slack's 429 defers it by ``Retry-After``, a failure retries it
with backoff, and repeating it only renders the same state again (a note goes out once per
process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from receiver.actions import FollowUps
from receiver.config import Config
from receiver.jobs import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.notify.base import ChannelError, ChannelRejected, ChannelThrottled
from receiver.notify.slack import MessageState, ReferenceLookup, SlackChannel, StateLookup
from receiver.notify.slack.blocks import MessageAlert
from receiver.routing import Router
from receiver.store import Store
from receiver.store.jobs import NewJob
from receiver.store.messages import message_alerts, message_references, messages_about

__all__ = [
    "MessageUpdates",
    "alert_follow_ups",
    "message_update_job",
    "reference_lookup",
    "state_lookup",
]

KIND = "slack_update"


def message_update_job(action: str, alert_id: int, now: datetime) -> list[NewJob]:
    """The job that brings the alert's Slack messages up to date after ``action``."""
    return [
        NewJob(
            kind=KIND,
            payload={"alert_ids": [alert_id], "action": action},
            due_at=now,
            idempotency_key=f"{KIND}:{action}:{alert_id}:{now.timestamp():.6f}",
        )
    ]


def alert_follow_ups(config: Config) -> list[FollowUps]:
    """What people's actions on alerts enqueue besides their own jobs: with Slack channels
    configured, the update of the alerts' messages."""
    slack = config.slack is not None and any(c.type == "slack" for c in config.channels.values())
    return [message_update_job] if slack else []


def state_lookup(store: Store, channels: Sequence[str], router: Router) -> StateLookup:
    """Reads the alerts behind a message of the Slack ``channels`` from the store; the
    escalation policy shown is the one their first route leads to."""
    names = list(channels)

    async def lookup(reference: str) -> MessageState | None:
        async with store.connection() as conn:
            ids, tier = await message_alerts(conn, names, reference)
            if not ids:
                return None
            alerts = await store.alerts_by_ids(conn, ids)
        ordered = sorted(alerts, key=lambda a: a.id)
        policy = router.route(ordered[0].labels)[0].escalation_policy if ordered else ""
        return MessageState([MessageAlert.from_alert(a) for a in ordered], tier, policy)

    return lookup


def reference_lookup(store: Store, channels: Sequence[str]) -> ReferenceLookup:
    """Finds the Slack messages already sent about alerts (for a runbook step's thread)."""
    names = list(channels)

    async def lookup(alert_ids: Sequence[int]) -> list[str]:
        async with store.connection() as conn:
            return await message_references(conn, alert_ids, names)

    return lookup


class MessageUpdates:
    """The ``slack_update`` job handler over the configured Slack channels."""

    def __init__(self, store: Store, channels: Mapping[str, SlackChannel]) -> None:
        self._store = store
        self._channels = channels

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self.update}

    async def update(self, ctx: JobContext) -> Outcome:
        done: set[tuple[str, str]] = set()
        # Notes in the order their events happened; a message is re-rendered once.
        for job in sorted(ctx.jobs, key=lambda j: j.id):
            note = job.payload.get("note")
            async with self._store.connection() as conn:
                found = await messages_about(conn, job.payload["alert_ids"], list(self._channels))
            for channel, reference in found:
                if not note and (channel, reference) in done:
                    continue
                try:
                    if note:
                        await self._channels[channel].note(reference, note, job.idempotency_key)
                    else:
                        await self._channels[channel].refresh(reference)
                except ChannelThrottled as exc:
                    return Defer(
                        until=ctx.now + timedelta(seconds=exc.retry_after or 1.0),
                        reason=f"throttled: {exc}",
                    )
                except ChannelRejected as exc:
                    if "message_not_found" in str(exc):
                        continue  # deleted in Slack: nothing left to keep current
                    return DeadLetter(str(exc))
                except ChannelError as exc:
                    return Retry(str(exc))
                done.add((channel, reference))
        return Done("updated" if done else "no_messages")
