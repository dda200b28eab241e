"""Actions by people on alerts: acknowledge, resolve, snooze (one alert or many in one
transaction) and entries added to an alert's history.

Each change is a guarded UPDATE (its WHERE clause says when it is allowed) that records its
event, and enqueues the jobs that follow, only when it applied: a race (acknowledge against
resolve) settles in the database, never backwards."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from receiver.errors import Conflict, NotFound
from receiver.model import Actor, Alert, AlertStatus, EventKind, NewJob
from receiver.store.connections import Connections
from receiver.store.engine import in_list
from receiver.store.jobs import JobQueue
from receiver.store.rows import ALERT_COLUMNS, ALERTS_BY_IDS, alert_from_row, chunks
from receiver.store.tables import alert_events, alerts


class AlertActions(Connections):
    """The store's changes of alerts by people (``Store`` has them)."""

    jobs: JobQueue

    async def acknowledge(
        self,
        alert_id: int,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Acknowledge a firing alert, enqueueing ``then`` with it. Repeating it changes
        nothing; a resolved alert conflicts."""
        changed, alert = await self._act(
            alert_id,
            update(alerts)
            .where(alerts.c.status == AlertStatus.FIRING, alerts.c.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=actor.name),
            _event_row(alert_id, EventKind.ACKNOWLEDGED, now, request_id, actor, note),
            then,
            now,
        )
        if not changed and alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert_id} is resolved; there is nothing to acknowledge")
        return alert

    async def acknowledge_many(
        self,
        alert_ids: Sequence[int],
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``acknowledge`` for many alerts in one transaction: one guarded UPDATE (and one
        INSERT of their events) per 500 alerts, not a statement each. Returns the ids it
        acknowledged, and every alert of ``alert_ids`` found as it now is (an id missing there
        does not exist). ``then(acknowledged ids)`` is enqueued with them."""
        return await self._act_many(
            alert_ids,
            {"acknowledged_at": now, "acknowledged_by": actor.name},
            _event_row(0, EventKind.ACKNOWLEDGED, now, request_id, actor, note),
            then,
            now,
            alerts.c.acknowledged_at.is_(None),
        )

    async def resolve(
        self,
        alert_id: int,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Resolve a firing alert by hand, enqueueing ``then`` with it. Resolving a resolved
        alert changes nothing."""
        _changed, alert = await self._act(
            alert_id,
            update(alerts)
            .where(alerts.c.status == AlertStatus.FIRING)
            .values(status=AlertStatus.RESOLVED, ends_at=now, resolved_by=actor.name),
            _event_row(alert_id, EventKind.MANUALLY_RESOLVED, now, request_id, actor, note),
            then,
            now,
        )
        return alert

    async def snooze(
        self,
        alert_id: int,
        until: datetime,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Sequence[NewJob] = (),
    ) -> Alert:
        """Put off a firing alert's next escalation tier until ``until``."""
        changed, alert = await self._act(
            alert_id,
            update(alerts).where(alerts.c.status == AlertStatus.FIRING).values(snoozed_until=until),
            _event_row(alert_id, EventKind.SNOOZED, now, request_id, actor, note),
            then,
            now,
        )
        if not changed:
            raise Conflict(f"alert {alert_id} is resolved; there is nothing to snooze")
        return alert

    async def add_event(
        self,
        alert_id: int,
        kind: EventKind,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
    ) -> None:
        """Append one entry to an existing alert's history (an action that changes no state,
        such as a silence created or an action refused)."""
        async with self._connection(write=True) as conn:
            found = (await conn.execute(select(alerts.c.id).where(alerts.c.id == alert_id))).first()
            if found is None:
                raise NotFound(f"alert {alert_id} does not exist")
            await conn.execute(
                insert(alert_events), [_event_row(alert_id, kind, now, request_id, actor, note)]
            )

    async def _act(
        self,
        alert_id: int,
        guarded_update: Any,
        event: dict[str, Any],
        then: Sequence[NewJob] = (),
        now: datetime | None = None,
    ) -> tuple[bool, Alert]:
        """Apply a state change whose WHERE clause says when it is allowed, record the event
        (and enqueue ``then``) only if it applied, and return whether it did with the alert as
        it now is. The guard makes a race (acknowledge against resolve) settle in the
        database, never backwards."""
        async with self._connection(write=True) as conn:
            result = await conn.execute(guarded_update.where(alerts.c.id == alert_id))
            changed = result.rowcount == 1
            if changed:
                await conn.execute(insert(alert_events), [event])
                if then and now is not None:
                    await self.jobs.enqueue(conn, then, now)
            row = (
                await conn.execute(select(*ALERT_COLUMNS).where(alerts.c.id == alert_id))
            ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return changed, alert_from_row(row)

    async def resolve_many(
        self,
        alert_ids: Sequence[int],
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``resolve`` for many alerts in one transaction, as ``acknowledge_many``: the ids it
        resolved, and every alert of ``alert_ids`` found as it now is."""
        return await self._act_many(
            alert_ids,
            {"status": AlertStatus.RESOLVED, "ends_at": now, "resolved_by": actor.name},
            _event_row(0, EventKind.MANUALLY_RESOLVED, now, request_id, actor, note),
            then,
            now,
        )

    async def snooze_many(
        self,
        alert_ids: Sequence[int],
        until: datetime,
        actor: Actor,
        note: str | None,
        request_id: str | None,
        now: datetime,
        then: Callable[[list[int]], Sequence[NewJob]],
    ) -> tuple[list[int], dict[int, Alert]]:
        """``snooze`` for many alerts in one transaction, as ``acknowledge_many``: the ids it
        snoozed (those found and not snoozed are resolved), and every alert found."""
        return await self._act_many(
            alert_ids,
            {"snoozed_until": until},
            _event_row(0, EventKind.SNOOZED, now, request_id, actor, note),
            then,
            now,
        )

    async def _act_many(
        self,
        alert_ids: Sequence[int],
        values: Mapping[str, Any],
        event: Mapping[str, Any],
        then: Callable[[list[int]], Sequence[NewJob]],
        now: datetime,
        *guard: Any,
    ) -> tuple[list[int], dict[int, Alert]]:
        """``values`` set on the firing alerts of ``alert_ids`` (that meet ``guard`` too) by
        one guarded UPDATE (and
        ``event`` recorded for each by one INSERT) per 500 alerts, ``then(changed ids)``
        enqueued with them; returns the ids changed and the alerts found as they now are."""
        ids = list(dict.fromkeys(alert_ids))

        def work(conn: Connection) -> tuple[list[int], dict[int, Alert]]:
            changed: list[int] = []
            for chunk in chunks(ids):
                result = conn.execute(
                    update(alerts)
                    .where(
                        alerts.c.id.in_(in_list(chunk)),
                        alerts.c.status == AlertStatus.FIRING,
                        *guard,
                    )
                    .values(**values)
                    .returning(alerts.c.id)
                )
                changed += sorted(row.id for row in result)
            if changed:
                conn.execute(insert(alert_events), [{**event, "alert_id": i} for i in changed])
                self.jobs.enqueue_in(conn, then(changed), now)
            found: dict[int, Alert] = {}
            for chunk in chunks(ids):
                for row in conn.execute(ALERTS_BY_IDS, {"b_ids": in_list(chunk)}):
                    found[row.id] = alert_from_row(row)
            return changed, found

        return await self.unit(work)


def _event_row(
    alert_id: int,
    kind: EventKind,
    at: datetime,
    request_id: str | None,
    actor: Actor | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": kind,
        "at": at,
        "actor": f"{actor.interface}:{actor.name}" if actor else "alertmanager",
        "note": note,
        "request_id": request_id,
    }
