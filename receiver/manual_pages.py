"""Alerts raised by hand (``POST /api/v1/alerts``): checked, then recorded through the same
ingest as Alertmanager's, so they are routed, escalated and resolved like any other alert.

The client names each page with a key; the alert's fingerprint is derived from it, so sending
the same page again (a retry, a double click) finds the alert already raised instead of raising
a second. Labels are the client's data: they may help routes match (``firebreak_source="manual"``
is set on every manual page for that), but they can never set the alert's name, its severity or
anything Firebreak sets itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from receiver.errors import InvalidInput
from receiver.model import (
    MANUAL_GROUP_KEY,
    Actor,
    Alert,
    AlertSnapshot,
    AlertStatus,
    Clock,
    Notification,
)
from receiver.store import Store

__all__ = ["ManualPage", "parse_manual_page", "raise_manual_page"]

SOURCE_LABEL: Final = "firebreak_source"
SEVERITIES: Final = ("critical", "warning", "info")
MAX_KEY: Final = 128
MAX_TITLE: Final = 200
MAX_DETAILS: Final = 4000
MAX_LABELS: Final = 20
MAX_LABEL_NAME: Final = 64
MAX_LABEL_VALUE: Final = 256
_FIELDS: Final = frozenset({"key", "title", "details", "severity", "labels"})
_KEY_RE: Final = re.compile(r"[A-Za-z0-9._:-]+")
_LABEL_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set from the page's own fields or by Firebreak; a label of the same name is refused.
_RESERVED: Final = frozenset({"alertname", "severity"})


@dataclass(frozen=True, slots=True)
class ManualPage:
    """A page as asked for: checked, not yet recorded."""

    key: str
    title: str
    details: str
    severity: str
    labels: Mapping[str, str]

    @property
    def fingerprint(self) -> str:
        return "manual-" + hashlib.sha256(self.key.encode()).hexdigest()[:32]


def parse_manual_page(body: Mapping[str, Any]) -> ManualPage:
    """Check a page's fields; ``InvalidInput`` names the first wrong one and what was expected."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown field; expected only {', '.join(sorted(_FIELDS))}")
    key = _text(body, "key", MAX_KEY, required=True)
    if not _KEY_RE.fullmatch(key):
        raise InvalidInput("key", "expected letters, digits and . _ : - only")
    title = _text(body, "title", MAX_TITLE, required=True)
    if not title.strip():
        raise InvalidInput("title", "expected a non-blank title")
    details = _text(body, "details", MAX_DETAILS, required=False, multiline=True)
    severity = _text(body, "severity", 16, required=False) or "critical"
    if severity not in SEVERITIES:
        raise InvalidInput("severity", f"expected one of {', '.join(SEVERITIES)}")
    return ManualPage(key, title.strip(), details, severity, _labels(body.get("labels")))


def _text(
    body: Mapping[str, Any], name: str, limit: int, *, required: bool, multiline: bool = False
) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, "required field is missing")
        return ""
    if type(value) is not str:
        raise InvalidInput(name, f"expected a string, got {_kind(value)}")
    if len(value) > limit:
        raise InvalidInput(name, f"expected at most {limit} characters, got {len(value)}")
    allowed = "\n\t" if multiline else ""
    if any(not c.isprintable() and c not in allowed for c in value):
        raise InvalidInput(name, "expected text without control characters")
    return value


def _labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise InvalidInput("labels", f"expected an object of strings, got {_kind(value)}")
    if len(value) > MAX_LABELS:
        raise InvalidInput("labels", f"expected at most {MAX_LABELS} labels, got {len(value)}")
    labels: dict[str, str] = {}
    for name, item in value.items():
        field = f"labels.{name}" if _LABEL_NAME_RE.fullmatch(name) else "labels"
        if len(name) > MAX_LABEL_NAME or not _LABEL_NAME_RE.fullmatch(name):
            raise InvalidInput(field, f"expected label names like {_LABEL_NAME_RE.pattern}")
        if name in _RESERVED or name.startswith(("firebreak", "__")):
            raise InvalidInput(field, "set by Firebreak or by the page's own fields, not a label")
        if type(item) is not str:
            raise InvalidInput(field, f"expected a string, got {_kind(item)}")
        if len(item) > MAX_LABEL_VALUE or any(not c.isprintable() for c in item):
            raise InvalidInput(
                field, f"expected at most {MAX_LABEL_VALUE} characters without control characters"
            )
        labels[name] = item
    return labels


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array"}
    return "null" if value is None else names.get(type(value), f"a {type(value).__name__}")


Submit = Callable[[Notification, "str | None"], Awaitable[None]]


async def raise_manual_page(
    page: ManualPage,
    actor: Actor,
    *,
    store: Store,
    submit: Submit,
    clock: Clock,
    request_id: str | None,
) -> tuple[Alert, bool]:
    """Record ``page`` (committed when this returns) and say whether it is new: a page whose key
    was seen before answers the alert it raised then, and records nothing."""
    fingerprint = page.fingerprint
    earlier = (await store.occurrence_starts([fingerprint])).get(fingerprint)
    if earlier:
        alert_id = await store.find_occurrence(fingerprint, min(earlier))
        if alert_id is not None:
            return await store.get_alert(alert_id), False
    now = clock()
    labels = {**page.labels, "alertname": page.title, "severity": page.severity}
    labels[SOURCE_LABEL] = "manual"
    annotations = {"summary": page.title, "raised_by": f"{actor.interface}:{actor.name}"}
    if page.details:
        annotations["description"] = page.details
    snapshot = AlertSnapshot(AlertStatus.FIRING, labels, annotations, now, None, "", fingerprint)
    await submit(
        Notification(
            version="manual",
            group_key=MANUAL_GROUP_KEY,
            truncated_alerts=0,
            status=AlertStatus.FIRING,
            receiver=f"{actor.interface}:{actor.name}",
            group_labels={},
            common_labels=labels,
            common_annotations={},
            external_url="",
            alerts=(snapshot,),
        ),
        request_id,
    )
    alert_id = await store.find_occurrence(fingerprint, now)
    if alert_id is None:  # raised at the same moment by a retry racing this one
        earlier = (await store.occurrence_starts([fingerprint])).get(fingerprint) or [now]
        alert_id = await store.find_occurrence(fingerprint, min(earlier))
    if alert_id is None:
        raise InvalidInput("key", "the page could not be recorded; send it again")
    return await store.get_alert(alert_id), True
