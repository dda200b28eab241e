"""The ``teams`` channel: an Adaptive Card posted to a Microsoft Teams Workflows webhook.

Teams retired the Office 365 connectors' ``MessageCard``; a channel now receives webhooks
through a Workflow ("Send webhook alerts to a channel", trigger "When a Teams webhook request
is received"), which posts the card found in the request's first attachment::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}

Choices, and where they come from (docs/teams.md has the references):

- Adaptive Card **1.4**: Teams renders up to 1.5 on desktop, but the Workflows "post card"
  action and the mobile clients are reliable up to 1.4 (Alertmanager's ``msteamsv2`` posts 1.2).
  Only elements of 1.4 are used: ``Container`` with a ``style``, ``TextBlock`` with a ``color``,
  ``FactSet``, ``ActionSet`` of ``Action.OpenUrl``.
- **28 KB** is the largest message Teams takes (413 above it): a card that would be larger
  shows fewer alerts and counts the rest.
- **429** with ``Retry-After`` defers the job; 408 and 5xx are retried; any other 4xx (a deleted
  workflow answers 404, a malformed card 400) dead-letters. Redirects are never followed.
- Every value that comes from an alert is text, never markup: the TextBlock markdown subset
  (``**bold**``, ``_italic_``, ``[text](url)``, lists) is neutralised with backslash escapes,
  values are one line where a line is expected, and only http(s) URLs become buttons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import orjson

from receiver import __version__
from receiver.alertmanager import format_rfc3339
from receiver.model import system_clock
from receiver.notify.base import Delivery, Notice, NoticeAlert, NoticeKind
from receiver.notify.links import NoticeLinks
from receiver.notify.render import headline, ordered_labels, safe_url, severity, subject
from receiver.notify.templated import MessageTemplate, Rendered, fallback_note
from receiver.notify.webhook import IDEMPOTENCY_HEADER, http_url, origin, post

__all__ = [
    "CARD_SCHEMA",
    "CARD_VERSION",
    "MAX_MESSAGE_BYTES",
    "TeamsChannel",
    "TeamsLinks",
    "card",
    "card_text",
    "encode_message",
    "message",
]

CARD_VERSION: Final = "1.4"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
# Teams refuses a message above about 28 KB (HTTP 413); keep clear of it.
MAX_MESSAGE_BYTES: Final = 27 * 1024
MAX_ALERTS: Final = 10  # alerts shown in full on one card; the rest are counted
_MAX_FACTS: Final = 12  # labels shown per alert
_VALUE_CHARS: Final = 300  # of one label value or link title
_TEXT_CHARS: Final = 1000  # of a summary or description

# Characters the TextBlock markdown subset (CommonMark-like) gives a meaning to. Each one
# from outside text is escaped with a backslash so it shows as itself.
_MARKDOWN_RE: Final = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&])")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES_RE: Final = re.compile(r"\s+")

# The labels a person looks at first, then the rest in name order.
_KEY_LABELS: Final = ("alertname", "severity", "service", "namespace", "cluster", "instance")


def card_text(value: str, *, limit: int = _VALUE_CHARS, one_line: bool = True) -> str:
    """``value`` as TextBlock text that shows exactly as written: control characters removed,
    markdown neutralised, cut at ``limit`` characters (before escaping)."""
    text = _CONTROL_RE.sub(" ", value)
    if one_line:
        text = _SPACES_RE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"  # an ellipsis: "..." would need escaping
    return _MARKDOWN_RE.sub(r"\\\1", text)


def _quoted(value: str) -> str:
    """A matcher value in Alertmanager's quoted form: backslash, quote and newline escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class TeamsLinks:
    """Where the buttons of a card lead, besides the alert's own runbook and source."""

    grafana_url: str | None = None  # when an alert has no dashboard_url annotation
    silence_url: str | None = None  # Alertmanager's UI: #/silences/new?filter=...
    notice: NoticeLinks = field(default_factory=NoticeLinks)  # console and acknowledge links

    def for_alert(self, notice: Notice, alert: NoticeAlert) -> list[tuple[str, str]]:
        """(title, URL) pairs for ``alert``; only absolute http(s) URLs are kept."""
        name = alert.labels.get("alertname", "")
        candidates = [("Runbook", alert.annotations.get("runbook_url", ""))]
        dashboard = alert.annotations.get("dashboard_url", "")
        if not dashboard and self.grafana_url:
            sep = "&" if "?" in self.grafana_url else "?"
            dashboard = self.grafana_url + (f"{sep}var-alertname={quote(name)}" if name else "")
        grafana = alert.grafana.named_links()  # a Grafana-managed alert's own links
        candidates += grafana if grafana else [("Grafana", dashboard)]
        if self.silence_url and alert.status == "firing":
            matchers = ",".join(f"{k}={_quoted(v)}" for k, v in sorted(alert.labels.items()))
            base = self.silence_url.rstrip("/")
            filter_ = quote("{" + matchers + "}")
            candidates.append(("Silence", f"{base}/#/silences/new?filter={filter_}"))
        candidates.append(("Console", self.notice.console(alert) or ""))
        candidates.append(("Source", alert.generator_url))
        candidates.append(("Acknowledge", self.notice.acknowledge_url(notice, alert) or ""))
        found: list[tuple[str, str]] = []
        for title, url in candidates:
            safe = safe_url(url) if url else None
            if safe is not None:
                found.append((title, safe))
        return found


def _style(notice: Notice) -> tuple[str, str]:
    """The container style and title colour: red for critical, amber for warning, green when
    resolved, blue otherwise (the values Teams renders)."""
    if notice.kind is NoticeKind.RESOLVED:
        return "good", "Good"
    if notice.kind is NoticeKind.FIRING:
        worst = (severity(notice.alerts) or "").lower()
        if worst in ("critical", "error", "page", "high"):
            return "attention", "Attention"
        if worst in ("warning", "warn", "medium"):
            return "warning", "Warning"
    return "emphasis", "Accent"


def _facts(alert: NoticeAlert) -> list[dict[str, str]]:
    labels = dict(ordered_labels(alert.labels))
    names: list[str] = [k for k in _KEY_LABELS if k in labels]
    names += [k for k in labels if k not in _KEY_LABELS]
    facts = [{"title": card_text(k), "value": card_text(labels[k])} for k in names[:_MAX_FACTS]]
    if len(names) > _MAX_FACTS:
        facts.append({"title": "\\+", "value": f"{len(names) - _MAX_FACTS} more labels"})
    started = format_rfc3339(alert.starts_at)
    facts.append({"title": "Started", "value": card_text(started)})
    if alert.ends_at is not None and alert.status == "resolved":
        facts.append({"title": "Ended", "value": card_text(format_rfc3339(alert.ends_at))})
    values = alert.grafana.values_text()
    if values:
        facts.append({"title": "Values", "value": card_text(values)})
    return facts


def _alert_items(notice: Notice, alert: NoticeAlert, links: TeamsLinks) -> list[dict[str, Any]]:
    name = alert.labels.get("alertname", "") or f"alert {alert.id}"
    mark = "RESOLVED" if alert.status == "resolved" else "FIRING"
    items: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{mark}: {card_text(name)} \\(id {alert.id}\\)",
            "wrap": True,
            "weight": "Bolder",
            "separator": True,
        }
    ]
    for key in ("summary", "description"):
        value = alert.annotations.get(key, "")
        if value:
            text = card_text(value, limit=_TEXT_CHARS, one_line=False)
            items.append({"type": "TextBlock", "text": text, "wrap": True})
    items.append({"type": "FactSet", "facts": _facts(alert)})
    buttons = links.for_alert(notice, alert)
    if buttons:
        actions = [{"type": "Action.OpenUrl", "title": title, "url": url} for title, url in buttons]
        items.append({"type": "ActionSet", "actions": actions})
    return items


def _templated_items(
    notice: Notice, links: TeamsLinks, text: str, max_alerts: int
) -> list[dict[str, Any]]:
    """A template's text (its values already escaped for card text), then each alert's buttons."""
    items: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True}]
    for alert in notice.alerts[:max_alerts]:
        buttons = links.for_alert(notice, alert)
        if buttons:
            actions = [{"type": "Action.OpenUrl", "title": t, "url": u} for t, u in buttons]
            items.append({"type": "ActionSet", "actions": actions})
    return items


def card(
    notice: Notice,
    links: TeamsLinks | None = None,
    *,
    max_alerts: int = MAX_ALERTS,
    rendered: Rendered | None = None,
) -> dict[str, Any]:
    """The Adaptive Card (version ``CARD_VERSION``) for ``notice``; with ``rendered`` text from
    a template, that text in place of the built-in alert sections (a failed template's problem
    is noted above the built-in ones)."""
    links = links or TeamsLinks()
    style, color = _style(notice)
    heading: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": card_text(subject(notice)),
            "wrap": True,
            "size": "Medium",
            "weight": "Bolder",
            "color": color,
        },
        {
            "type": "TextBlock",
            "text": card_text(headline(notice), limit=_TEXT_CHARS, one_line=False),
            "wrap": True,
        },
    ]
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": style, "bleed": True, "items": heading}
    ]
    if notice.route:
        body.append(
            {"type": "FactSet", "facts": [{"title": "Route", "value": card_text(notice.route)}]}
        )
    if rendered is not None and rendered.text is not None:
        body.append(
            {
                "type": "Container",
                "items": _templated_items(notice, links, rendered.text, max_alerts),
            }
        )
    else:
        if rendered is not None and rendered.problem is not None:
            note = card_text(fallback_note(rendered.problem), limit=_TEXT_CHARS, one_line=False)
            body.append({"type": "TextBlock", "text": note, "wrap": True, "color": "Warning"})
        for alert in notice.alerts[:max_alerts]:
            body.append({"type": "Container", "items": _alert_items(notice, alert, links)})
    hidden = len(notice.alerts) - max_alerts
    if hidden > 0:
        more = "alert" if hidden == 1 else "alerts"
        body.append(
            {"type": "TextBlock", "text": f"\\.\\.\\. and {hidden} more {more}\\.", "wrap": True}
        )
    body.append(
        {
            "type": "TextBlock",
            "text": f"Sent by Firebreak\\. Notification {card_text(notice.idempotency_key)}",
            "wrap": True,
            "size": "Small",
            "isSubtle": True,
        }
    )
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": card_text(subject(notice)),
        "body": body,
    }


def message(card_content: Mapping[str, Any]) -> dict[str, Any]:
    """The request body a Workflows webhook takes: a message with the card as attachment."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": dict(card_content)}
        ],
    }


def encode_message(
    notice: Notice, links: TeamsLinks | None = None, template: MessageTemplate | None = None
) -> bytes:
    """The UTF-8 JSON request body for ``notice``, at most ``MAX_MESSAGE_BYTES``: alerts are
    left off (and counted) until the card fits."""
    shown = min(len(notice.alerts), MAX_ALERTS)
    rendered = template(notice, "card") if template is not None else None
    while True:
        content = card(notice, links, max_alerts=shown, rendered=rendered)
        body = orjson.dumps(message(content))
        if len(body) <= MAX_MESSAGE_BYTES or shown == 0:
            return body
        shown //= 2


class TeamsChannel:
    """Posts each notice as an Adaptive Card to a Teams Workflows webhook."""

    kind = "teams"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        links: TeamsLinks | None = None,
        template: MessageTemplate | None = None,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        """``session`` is shared and stays the caller's to close; without one the channel
        makes its own on first use and closes it in ``close()``. ``template`` lays out the
        card's text instead of the built-in alert sections."""
        parsed = http_url(url)
        if parsed is None:
            raise ValueError(f"teams channel {name}: url must be an absolute http(s) URL")
        if timeout <= 0:
            raise ValueError(f"teams channel {name}: timeout must be positive")
        self.name = name
        self.url = parsed
        self.links = links or TeamsLinks()
        self.template = template
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock

    async def send(self, notice: Notice, target: str) -> Delivery:
        """``target`` may name another workflow URL (a tier sending to another team)."""
        url = http_url(target.strip()) if target else None
        url = url or self.url
        if self._session is None:
            self._session = aiohttp.ClientSession()
        await post(
            self._session,
            url,
            encode_message(notice, self.links, self.template),
            {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"Firebreak/{__version__}",
                IDEMPOTENCY_HEADER: notice.idempotency_key,
            },
            where=f"teams {self.name} ({origin(url)})",
            limit=self._timeout,
            now=self._clock,
        )
        # A Workflows webhook answers 202 with no id: there is nothing to thread to.
        return Delivery()

    async def close(self) -> None:
        """Close the session when the channel made it; a shared session is left open."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
