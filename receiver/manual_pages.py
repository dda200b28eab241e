"""Alerts raised by hand (``POST /api/v1/alerts``): checked, then recorded through the same
ingest as Alertmanager's, so they are routed, escalated and resolved like any other alert.

The client names each page with a key; the alert's fingerprint is derived from it, so sending
the same page again (a retry, a double click) finds the alert already raised instead of raising
a second. Labels are the client's data: they may help routes match (``firebreak_source="manual"``
is set on every manual page for that), but they can never set the alert's name, its severity or
anything Firebreak sets itself.

A page may name a ``target``: a schedule, a person or a team of the configuration. It is
recorded with the page (``manual_pages``), and escalation pages whoever the target resolves to
when the alert is routed (the schedule's on-call, the person, the team's members) as a first
tier ahead of the route's own policy, which goes on as for any alert if nobody acknowledges
(docs/api.md "Raising an alert by hand"). The target is looked up in the configuration: a name
that is not there is refused, naming the field, and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from receiver.config import PEOPLE_KINDS, Config
from receiver.errors import InvalidInput, StoreUnavailable
from receiver.model import (
    MANUAL_GROUP_KEY,
    Actor,
    Alert,
    AlertSnapshot,
    AlertStatus,
    Clock,
    ManualPage,
    Notification,
    PageTarget,
    RaisedPage,
)
from receiver.plain import echoed_name, printable
from receiver.store import Store

__all__ = [
    "ManualPage",
    "ManualPages",
    "message_fields",
    "page_from_message",
    "parse_manual_page",
    "parse_target",
    "raise_manual_page",
]

SOURCE_LABEL: Final = "firebreak_source"
SEVERITIES: Final = ("critical", "warning", "info")
MAX_KEY: Final = 128
MAX_TITLE: Final = 200
MAX_DETAILS: Final = 4000
MAX_LABELS: Final = 20
MAX_LABEL_NAME: Final = 64
MAX_LABEL_VALUE: Final = 256
MAX_TARGET: Final = 200
_FIELDS: Final = frozenset({"key", "title", "details", "severity", "labels", "target"})
_KEY_RE: Final = re.compile(r"[A-Za-z0-9._:-]+")
_LABEL_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set from the page's own fields or by Firebreak; a label of the same name is refused.
_RESERVED: Final = frozenset({"alertname", "severity"})


def parse_manual_page(body: Mapping[str, Any], config: Config) -> ManualPage:
    """Check a page's fields (its target against ``config``); ``InvalidInput`` names the first
    wrong one and what was expected."""
    unknown = sorted(echoed_name(key) for key in set(body) - _FIELDS)
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
    labels = _labels(body.get("labels"))
    target_text = _text(body, "target", MAX_TARGET, required=False)
    target = parse_target(target_text, config) if target_text else None
    return ManualPage(key, title.strip(), details, severity, labels, target)


def parse_target(text: str, config: Config, field: str = "target") -> PageTarget:
    """``schedule:ID``, ``person:ID`` or ``team:ID`` (or a bare id that only one of them has)
    as a target of the configuration; ``InvalidInput`` naming ``field`` for anything else."""
    ids = {
        "schedule": {s.id for s in config.schedules},
        "person": {p.id for p in config.people},
        "team": {t.id for t in config.teams},
    }
    kind, sep, ident = text.partition(":")
    if sep:
        if kind not in PEOPLE_KINDS:
            raise InvalidInput(field, "expected schedule:ID, person:ID or team:ID")
        if ident not in ids[kind]:
            raise InvalidInput(field, f"no {kind} of that id is configured; {_known(ids[kind])}")
        return PageTarget(kind, ident)
    kinds = [k for k in PEOPLE_KINDS if text in ids[k]]
    if not kinds:
        everything = {f"{k}:{i}" for k, found in ids.items() for i in found}
        raise InvalidInput(field, f"no schedule, person or team of that id; {_known(everything)}")
    if len(kinds) > 1:
        named = " or ".join(f"{k}:{text}" for k in kinds)
        raise InvalidInput(field, f"more than one target has that id; expected {named}")
    return PageTarget(kinds[0], text)


def _known(ids: set[str]) -> str:
    if not ids:
        return "none is configured"
    shown = sorted(ids)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return f"expected one of {', '.join(shown[:10])}{more}"


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
    if not printable(value, "\n\t" if multiline else ""):
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
        if len(item) > MAX_LABEL_VALUE or not printable(item):
            raise InvalidInput(
                field, f"expected at most {MAX_LABEL_VALUE} characters without control characters"
            )
        labels[name] = item
    return labels


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array"}
    return "null" if value is None else names.get(type(value), f"a {type(value).__name__}")


def page_from_message(
    target: str, message: str, config: Config, *, request: str = ""
) -> ManualPage:
    """A page from a one-line command (``/firebreak page``, the console): see
    ``message_fields``. Its key comes from ``request``, what the interface knows one request by
    (Slack's ``trigger_id``), so that the same request sent again raises the same page; a fresh
    one without it."""
    seed = request.encode() if request else secrets.token_bytes(16)
    key = "page-" + hashlib.sha256(seed).hexdigest()[:40]
    body: dict[str, Any] = {"key": key, "target": target, **message_fields(message)}
    return parse_manual_page(body, config)


def message_fields(message: str) -> dict[str, str]:
    """A page's ``title`` and ``details`` from one message: the title is its first line (cut at
    ``MAX_TITLE``), the details the whole message when there is more to it."""
    if len(message) > MAX_DETAILS:
        raise InvalidInput(
            "message", f"expected at most {MAX_DETAILS} characters, got {len(message)}"
        )
    whole = message.strip()
    first = whole.split("\n", 1)[0].strip()
    if not first:
        raise InvalidInput("message", "expected a message saying what is wrong")
    title = first if len(first) <= MAX_TITLE else first[: MAX_TITLE - 1] + "…"
    return {"title": title, "details": whole} if title != whole else {"title": title}


Submit = Callable[[Notification, "str | None"], Awaitable[None]]


class ManualPages:
    """Raising pages by hand, over the configuration in force: what the API, Slack and the
    console call."""

    def __init__(
        self, config: Callable[[], Config], store: Store, submit: Submit, clock: Clock
    ) -> None:
        self._config = config
        self._store = store
        self._submit = submit
        self._clock = clock

    def parse(self, body: Mapping[str, Any]) -> ManualPage:
        return parse_manual_page(body, self._config())

    def from_message(self, target: str, message: str, *, request: str = "") -> ManualPage:
        return page_from_message(target, message, self._config(), request=request)

    async def raise_page(
        self, page: ManualPage, actor: Actor, request_id: str | None = None
    ) -> tuple[Alert, bool]:
        """See ``raise_manual_page``."""
        return await raise_manual_page(
            page,
            actor,
            store=self._store,
            submit=self._submit,
            clock=self._clock,
            request_id=request_id,
        )


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
    was seen before answers the alert it raised then, and records nothing new."""
    fingerprint = page.fingerprint
    earlier = (await store.occurrence_starts([fingerprint])).get(fingerprint)
    if earlier:
        alert_id = await store.find_occurrence(fingerprint, min(earlier))
        if alert_id is not None:
            return await store.get_alert(alert_id), False
    raised, created = await store.claim_manual_page(
        page, f"{actor.interface}:{actor.name}", clock()
    )
    # What was recorded first is what is raised, from the start recorded with it: a retry,
    # or the same page sent twice at once, submits the very same alert, and ingest stores one
    # occurrence of a fingerprint from one start (and routes it once).
    await submit(_notification(raised), request_id)
    alert_id = await store.find_occurrence(fingerprint, raised.raised_at)
    if alert_id is None:  # cannot happen once submit returned, short of the row vanishing
        raise StoreUnavailable("the page was recorded but its alert was not; send it again")
    return await store.get_alert(alert_id), created


def _notification(raised: RaisedPage) -> Notification:
    page = raised.page
    labels = {**page.labels, "alertname": page.title, "severity": page.severity}
    labels[SOURCE_LABEL] = "manual"
    annotations = {"summary": page.title, "raised_by": raised.raised_by}
    if page.details:
        annotations["description"] = page.details
    if page.target is not None:
        annotations["target"] = str(page.target)
    snapshot = AlertSnapshot(
        AlertStatus.FIRING, labels, annotations, raised.raised_at, None, "", page.fingerprint
    )
    return Notification(
        version="manual",
        group_key=MANUAL_GROUP_KEY,
        truncated_alerts=0,
        status=AlertStatus.FIRING,
        receiver=raised.raised_by,
        group_labels={},
        common_labels=labels,
        common_annotations={},
        external_url="",
        alerts=(snapshot,),
    )
