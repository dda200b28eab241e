"""PagerDuty's webhooks (v3): the signature and the incident events Firebreak acts on.

A webhook subscription signs each delivery with its secret: ``X-PagerDuty-Signature`` holds one
or more comma-separated ``v1=<hex HMAC-SHA256 of the raw body>`` values (several while a secret
is rotated). ``verify_signature`` checks them on the raw bytes, before any JSON is read, in
constant time. The body is ``{"event": {"id", "event_type", "resource_type", "occurred_at",
"agent": {"id", "summary", "type"...} | null, "data": {...}}}``; for incident events ``data``
is the incident, whose ``incident_key`` is the ``dedup_key`` of the event that opened it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from receiver.errors import InvalidInput

__all__ = ["SIGNATURE_HEADER", "IncidentEvent", "parse_webhook", "sign", "verify_signature"]

SIGNATURE_HEADER: Final = "X-PagerDuty-Signature"
_VERSION: Final = "v1="
_MAX_SIGNATURES: Final = 10  # more than any rotation needs; bounds the work per request


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


def _text(mapping: dict[str, Any], key: str, field: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, "expected a string")
    return value


def parse_webhook(body: bytes) -> IncidentEvent | None:
    """The incident event of a v3 webhook body; ``None`` for events about anything else
    (services, notes, responders). Raises ``InvalidInput`` naming the field that is wrong."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    event = document.get("event") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        raise InvalidInput("event", "expected an object")
    event_type = _text(event, "event_type", "event.event_type")
    data = event.get("data")
    if not event_type.startswith("incident.") or not isinstance(data, dict):
        return None
    if data.get("type") not in (None, "incident"):
        return None  # incident.annotated and the like carry a note, not the incident
    agent = event.get("agent")
    who = "pagerduty"
    if isinstance(agent, dict):
        who = str(agent.get("summary") or agent.get("id") or who)
    number = data.get("number")
    return IncidentEvent(
        event_id=_text(event, "id", "event.id"),
        event_type=event_type,
        incident_id=_text(data, "id", "event.data.id"),
        incident_key=_text(data, "incident_key", "event.data.incident_key"),
        incident_number=number if isinstance(number, int) else None,
        html_url=_text(data, "html_url", "event.data.html_url"),
        agent=" ".join(who.split())[:200] or "pagerduty",
    )
