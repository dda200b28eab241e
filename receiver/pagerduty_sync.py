"""PagerDuty -> Firebreak: an incident acknowledged or resolved in PagerDuty is acknowledged or
resolved here, through the same actions a person uses, which stops escalation.

The incident leads back to its alert through its ``incident_key``, the ``dedup_key`` the
``pagerduty`` channel derived from the alert occurrence: the alert whose page a channel of type
``pagerduty`` in the configuration in force recorded with that key, else the occurrence the key
names. The key is data, never authority: another integration on the same PagerDuty service may
choose it, so another channel's reference (a Slack message's ``channel:ts``, the id a webhook
receiver answered) leads nowhere, nor does a key no ``dedup_key`` can be (longer than PagerDuty's
255 characters, or empty). Anything that does not lead to a stored alert (an incident some other
tool opened, an alert since deleted) is ``unknown_incident``, only logged.

A signed event is acted on once. Its id is kept (``pagerduty_events``), so another delivery
of it — a captured request replayed, or PagerDuty retrying one whose answer was lost — is
``replayed``: counted, logged and otherwise ignored. An event whose ``occurred_at`` is further
from now than ``pagerduty.max_event_age`` is ``stale``, and ignored the same way, so a captured
request is worth nothing once its window has passed even after its id is forgotten. Both are
answered 200: PagerDuty retries any other answer, and no retry can make them good.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from receiver.actions import AlertActions
from receiver.config import Config
from receiver.errors import Conflict, NotFound
from receiver.metrics import Metrics
from receiver.model import Actor, Clock
from receiver.notify.pagerduty import MAX_DEDUP_KEY, later_fingerprint, parse_dedup_key
from receiver.notify.pagerduty_webhook import IncidentEvent, WebhookEvent
from receiver.store import Store
from receiver.store.messages import alert_under_reference
from receiver.store.pagerduty_events import received_before, remember_event

log = logging.getLogger("firebreak.pagerduty")

INTERFACE: Final = "pagerduty"


class PagerDutySync:
    def __init__(
        self,
        store: Store,
        actions: AlertActions,
        metrics: Metrics,
        clock: Clock,
        config: Callable[[], Config],
    ) -> None:
        """``config``: the configuration in force, whose ``pagerduty`` channels' keys count (a
        reload may add, remove or retype them)."""
        self._store = store
        self._actions = actions
        self._metrics = metrics
        self._clock = clock
        self._config = config

    async def apply(
        self, event: WebhookEvent, request_id: str | None, *, max_age: timedelta
    ) -> str:
        """Apply one webhook's event once; returns what came of it (``acknowledged``,
        ``resolved``, ``ignored``, ``unknown_incident``, ``replayed`` or ``stale``), which is
        also counted."""
        outcome = await self._once(event, request_id, max_age)
        self._metrics.pagerduty_webhooks.labels(outcome).inc()
        return outcome

    async def _once(self, event: WebhookEvent, request_id: str | None, max_age: timedelta) -> str:
        now = self._clock()
        facts = {
            "pagerduty_event": event.event_id,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at.isoformat(),
        }
        if abs(now - event.occurred_at) > max_age:
            log.warning(
                "PagerDuty webhook ignored: its event occurred further than "
                "pagerduty.max_event_age (%s) from now",
                max_age,
                extra=facts,
            )
            return "stale"
        async with self._store.connection() as conn:
            if await received_before(conn, event.event_id):
                log.warning("PagerDuty webhook ignored: event received before", extra=facts)
                return "replayed"
        # Acted on first, then remembered: a crash in between makes PagerDuty's retry act
        # again, which acknowledging and resolving shrug off; the other order would lose it.
        outcome = await self._apply(event.incident, request_id)
        async with self._store.transaction() as conn:
            first = await remember_event(
                conn,
                event_id=event.event_id,
                event_type=event.event_type[:128],
                occurred_at=event.occurred_at,
                received_at=now,
                window_ends_at=max(now, event.occurred_at) + max_age,
                outcome=outcome,
            )
        if not first:  # another delivery of it, at the same moment, got there first
            log.warning("PagerDuty webhook received twice at once", extra=facts)
            return "replayed"
        return outcome

    async def _apply(self, event: IncidentEvent | None, request_id: str | None) -> str:
        if event is None or event.event_type not in ("incident.acknowledged", "incident.resolved"):
            log.info(
                "PagerDuty webhook ignored: %s",
                event.event_type if event else "not an incident event",
                extra={"pagerduty_event": event.event_id if event else None},
            )
            return "ignored"
        alert_id = await self._alert_id(event.incident_key)
        if alert_id is None:
            log.info(
                "PagerDuty webhook about an incident Firebreak did not open",
                extra={"incident": event.incident_id, "incident_key": event.incident_key},
            )
            return "unknown_incident"
        actor = Actor(event.agent, INTERFACE)
        number = f" #{event.incident_number}" if event.incident_number is not None else ""
        note = f"PagerDuty incident{number} {event.html_url}".strip()
        try:
            if event.event_type == "incident.acknowledged":
                await self._actions.acknowledge(alert_id, actor, note, request_id)
                return "acknowledged"
            await self._actions.resolve(alert_id, actor, note, request_id)
            return "resolved"
        except (Conflict, NotFound) as exc:  # resolved here already, or deleted meanwhile
            log.info("PagerDuty webhook changes nothing: %s", exc, extra={"alert_id": alert_id})
            return "ignored"

    async def _alert_id(self, incident_key: str) -> int | None:
        """The alert whose page a pagerduty channel recorded the key with, else the occurrence
        it names (by the fingerprint it has, or the one migrations 0017/0018 gave it since)."""
        if not incident_key or len(incident_key) > MAX_DEDUP_KEY:
            return None  # no dedup_key is: nothing to look up
        paging = [name for name, c in self._config().channels.items() if c.type == "pagerduty"]
        async with self._store.connection() as conn:
            recorded = await alert_under_reference(conn, paging, incident_key)
        if recorded is not None:
            return recorded
        occurrence = parse_dedup_key(incident_key)
        if occurrence is None:
            return None
        fingerprint, starts_at = occurrence
        found = await self._store.find_occurrence(fingerprint, starts_at)
        later = later_fingerprint(fingerprint)
        if found is None and later is not None:
            found = await self._store.find_occurrence(later, starts_at)
        return found
