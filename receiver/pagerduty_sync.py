"""PagerDuty -> Firebreak: an incident acknowledged or resolved in PagerDuty is acknowledged or
resolved here, through the same actions a person uses, which stops escalation.

The incident leads back to its alert through its ``incident_key``, the ``dedup_key`` the
``pagerduty`` channel derived from the alert occurrence. Anything that does not lead to a
stored alert (an incident some other tool opened, an alert since deleted) is only logged.
"""

from __future__ import annotations

import logging
from typing import Final

from receiver.actions import AlertActions
from receiver.errors import Conflict, NotFound
from receiver.metrics import Metrics
from receiver.model import Actor
from receiver.notify.pagerduty import parse_dedup_key
from receiver.notify.pagerduty_webhook import IncidentEvent
from receiver.store import Store

log = logging.getLogger("firebreak.pagerduty")

INTERFACE: Final = "pagerduty"


class PagerDutySync:
    def __init__(self, store: Store, actions: AlertActions, metrics: Metrics) -> None:
        self._store = store
        self._actions = actions
        self._metrics = metrics

    async def apply(self, event: IncidentEvent | None, request_id: str | None) -> str:
        """Apply one webhook's event; returns what came of it (``acknowledged``,
        ``resolved``, ``ignored`` or ``unknown_incident``), which is also counted."""
        outcome = await self._apply(event, request_id)
        self._metrics.pagerduty_webhooks.labels(outcome).inc()
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
        occurrence = parse_dedup_key(incident_key)
        if occurrence is None:
            return None
        return await self._store.find_occurrence(*occurrence)
