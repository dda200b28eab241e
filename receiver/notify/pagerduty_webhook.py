"""PagerDuty's webhooks (v3): the signature and the incident events Firebreak acts on.

A webhook subscription signs each delivery with its secret: ``X-PagerDuty-Signature`` holds one
or more comma-separated ``v1=<hex HMAC-SHA256 of the raw body>`` values (several while a secret
is rotated). ``verify_signature`` checks them on the raw bytes, before any JSON is read, in
constant time. The body is ``{"event": {"id", "event_type", "resource_type", "occurred_at",
"agent": {"id", "summary", "type"...} | null, "data": {...}}}``; for incident events ``data``
is the incident, whose ``incident_key`` is the ``dedup_key`` of the event that opened it.
Every event carries its ``id`` (unique per event, the same in every delivery of it) and its
``occurred_at``, which is what a replay is recognised by.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from receiver.alertmanager import parse_rfc3339
from receiver.errors import InvalidInput

__all__ = [
    "SIGNATURE_HEADER",
    "IncidentEvent",
    "WebhookEvent",
    "parse_webhook",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "X-PagerDuty-Signature"
_VERSION: Final = "v1="
_MAX_SIGNATURES: Final = 10  # more than any rotation needs; bounds the work per request
_MAX_EVENT_ID: Final = 256  # PagerDuty's ids are 26 characters; the column holds 256


def sign(secret: str, body: bytes) -> str:
    """One ``v1=<hex>`` signature of ``body`` under ``secret``."""
    return _VERSION + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    """Whether any ``v1`` signature in ``header`` signs ``body`` under any of ``secrets``.
    Every pair is compared, so the time taken says nothing about which matched."""
    if not header:
        return False
    presented = [p.strip().encode("utf-8", "replace") for p in header.split(",")]
    presented = [p for p in presented if p.startswith(b"v1=")][:_MAX_SIGNATURES]
    matched = False
    for secret in secrets:
        expected = sign(secret, body).encode("ascii")
        for candidate in presented:
            matched |= hmac.compare_digest(candidate, expected)
    return matched


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """What a v3 webhook says happened to an incident."""

    event_id: str
    event_type: str  # incident.acknowledged, incident.resolved, incident.reassigned...
    incident_id: str
    incident_key: str  # the dedup_key of the event that opened the incident
    incident_number: int | None
    html_url: str
    agent: str  # who did it: the user's name, else the agent's id, else "pagerduty"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One v3 webhook's event: its id and when it happened, and what it says about an
    incident (``None`` for events about anything else)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    incident: IncidentEvent | None


def _text(mapping: dict[str, Any], key: str, field: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, "expected a string")
    return _without_nul(value, field)


def _without_nul(value: str, field: str) -> str:
    # PagerDuty sends none, and PostgreSQL stores none: refused here, not failed on later.
    if "\x00" in value:
        raise InvalidInput(field, "expected a string without NUL characters")
    return value


def parse_webhook(body: bytes) -> WebhookEvent:
    """The event of a v3 webhook body. Raises ``InvalidInput`` naming the field that is wrong;
    an event without its ``id`` or ``occurred_at`` is not one PagerDuty sends."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    event = document.get("event") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        raise InvalidInput("event", "expected an object")
    event_id = _text(event, "id", "event.id")
    if not event_id or len(event_id) > _MAX_EVENT_ID:
        raise InvalidInput("event.id", f"expected the event's id (1 to {_MAX_EVENT_ID} characters)")
    raw_time = _text(event, "occurred_at", "event.occurred_at")
    try:
        occurred_at = parse_rfc3339(raw_time)
    except ValueError as exc:
        raise InvalidInput("event.occurred_at", f"expected an RFC 3339 time: {exc}") from None
    event_type = _text(event, "event_type", "event.event_type")
    return WebhookEvent(event_id, event_type, occurred_at, _incident(event, event_id, event_type))


def _incident(event: dict[str, Any], event_id: str, event_type: str) -> IncidentEvent | None:
    """What an ``incident.*`` event says about its incident; ``None`` for other events
    (services, notes, responders)."""
    data = event.get("data")
    if not event_type.startswith("incident.") or not isinstance(data, dict):
        return None
    if data.get("type") not in (None, "incident"):
        return None  # incident.annotated and the like carry a note, not the incident
    agent = event.get("agent")
    who = "pagerduty"
    if isinstance(agent, dict):
        who = _without_nul(str(agent.get("summary") or agent.get("id") or who), "event.agent")
    number = data.get("number")
    return IncidentEvent(
        event_id=event_id,
        event_type=event_type,
        incident_id=_text(data, "id", "event.data.id"),
        incident_key=_text(data, "incident_key", "event.data.incident_key"),
        incident_number=number if isinstance(number, int) else None,
        html_url=_text(data, "html_url", "event.data.html_url"),
        agent=" ".join(who.split())[:200] or "pagerduty",
    )
