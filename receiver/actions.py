"""What people do to alerts — acknowledge, resolve, snooze — from any interface.

Each action is one guarded update in the store; an acknowledge or resolve that changes the
alert also enqueues, in the same transaction, the job that tells the channels already notified,
and any action wakes the job runner so escalation reacts at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from receiver.errors import Conflict, FirebreakError, NotFound
from receiver.escalation import acknowledge_job, resolve_job
from receiver.metrics import Metrics
from receiver.model import Actor, Alert, AlertStatus, Clock, NewJob
from receiver.store import Store

FollowUps = Callable[[str, Sequence[int], datetime], Sequence[NewJob]]
"""More jobs an action enqueues with itself: (action, alert ids, now) -> jobs (a snooze shown
in Slack messages). Given every alert one action changed at once, so that a message about
several of them is brought up to date once."""


def not_acknowledged(
    alert_ids: Sequence[int], changed: Sequence[int], found: Mapping[int, Alert]
) -> dict[int, FirebreakError]:
    """What ``acknowledge`` would have raised for each alert of ``acknowledge_many``'s answer
    that could not be acknowledged: it does not exist, or it is resolved. An alert missing
    here was acknowledged, now or before."""
    done = set(changed)
    refused: dict[int, FirebreakError] = {}
    for alert_id in alert_ids:
        alert = found.get(alert_id)
        if alert is None:
            refused[alert_id] = NotFound(f"alert {alert_id} does not exist")
        elif alert_id not in done and alert.status is AlertStatus.RESOLVED:
            refused[alert_id] = Conflict(
                f"alert {alert_id} is resolved; there is nothing to acknowledge"
            )
    return refused


class AlertActions:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        clock: Clock,
        wake: Callable[[], None],
        follow_ups: Sequence[FollowUps] = (),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._wake = wake
        self._follow_ups = tuple(follow_ups)

    def _then(self, action: str, alert_ids: Sequence[int], now: datetime) -> list[NewJob]:
        if not alert_ids:
            return []
        return [job for make in self._follow_ups for job in make(action, alert_ids, now)]

    async def acknowledge(
        self, alert_id: int, actor: Actor, note: str | None, request_id: str | None
    ) -> Alert:
        now = self._clock()
        # Channels that follow acknowledgements (PagerDuty, Slack) hear of it through a durable
        # job enqueued with the change, so it survives a crash and is sent once.
        alert = await self._store.acknowledge(
            alert_id,
            actor,
            note,
            request_id,
            now,
            then=[acknowledge_job([alert_id], now)],
        )
        if alert.acknowledged_at == now:  # this request acknowledged it
            self._metrics.time_to_acknowledge.observe(
                max(0.0, (now - alert.starts_at).total_seconds())
            )
        self._metrics.alert_actions.labels("acknowledge", actor.interface).inc()
        self._wake()
        return alert

    async def acknowledge_many(
        self, alert_ids: Sequence[int], actor: Actor, note: str | None, request_id: str | None
    ) -> tuple[list[int], dict[int, Alert]]:
        """``acknowledge`` for many alerts at once, in one transaction and one job for the
        channels: the ids this call acknowledged, and the alerts found as they now are (an id
        missing there does not exist; one found resolved and not acknowledged here could not be
        acknowledged)."""
        now = self._clock()
        changed, found = await self._store.acknowledge_many(
            alert_ids, actor, note, request_id, now, then=lambda ids: [acknowledge_job(ids, now)]
        )
        for alert_id in changed:
            started = found[alert_id].starts_at
            self._metrics.time_to_acknowledge.observe(max(0.0, (now - started).total_seconds()))
        # As counted one at a time: each alert acknowledged now or already, not those refused.
        done = set(changed)
        taken = [a for a in found.values() if a.id in done or a.status is AlertStatus.FIRING]
        if taken:
            self._metrics.alert_actions.labels("acknowledge", actor.interface).inc(len(taken))
        self._wake()
        return changed, found

    async def resolve(
        self, alert_id: int, actor: Actor, note: str | None, request_id: str | None
    ) -> Alert:
        now = self._clock()
        alert = await self._store.resolve(
            alert_id, actor, note, request_id, now, then=[resolve_job([alert_id], now)]
        )
        self._metrics.alert_actions.labels("resolve", actor.interface).inc()
        self._wake()
        return alert

    async def resolve_many(
        self, alert_ids: Sequence[int], actor: Actor, note: str | None, request_id: str | None
    ) -> tuple[list[int], dict[int, Alert]]:
        """``resolve`` for many alerts at once, in one transaction and one job for the
        channels: the ids this call resolved, and the alerts found as they now are (an id
        missing there does not exist; one found and not resolved here was resolved before)."""
        now = self._clock()
        changed, found = await self._store.resolve_many(
            alert_ids, actor, note, request_id, now, then=lambda ids: [resolve_job(ids, now)]
        )
        if found:  # as counted one at a time: each alert found, resolved now or before
            self._metrics.alert_actions.labels("resolve", actor.interface).inc(len(found))
        self._wake()
        return changed, found

    async def snooze_many(
        self,
        alert_ids: Sequence[int],
        duration: timedelta,
        actor: Actor,
        note: str | None,
        request_id: str | None,
    ) -> tuple[list[int], dict[int, Alert]]:
        """``snooze`` for many alerts at once, in one transaction: the ids this call snoozed,
        and the alerts found as they now are (one found and not snoozed is resolved)."""
        now = self._clock()
        changed, found = await self._store.snooze_many(
            alert_ids,
            now + duration,
            actor,
            note,
            request_id,
            now,
            then=lambda ids: self._then("snoozed", ids, now),
        )
        if changed:
            self._metrics.alert_actions.labels("snooze", actor.interface).inc(len(changed))
        self._wake()
        return changed, found

    async def snooze(
        self,
        alert_id: int,
        duration: timedelta,
        actor: Actor,
        note: str | None,
        request_id: str | None,
    ) -> Alert:
        now = self._clock()
        alert = await self._store.snooze(
            alert_id,
            now + duration,
            actor,
            note,
            request_id,
            now,
            then=self._then("snoozed", [alert_id], now),
        )
        self._metrics.alert_actions.labels("snooze", actor.interface).inc()
        self._wake()
        return alert
