"""Human-readable text for a ``Notice``: a subject line, a plain-text body and an HTML body.

Pure functions with no I/O, shared by the e-mail channel and meant for any later channel that
shows a notice to a person (chat, SMS). Everything that comes from an alert is untrusted: the
HTML body escapes every value, only ``http``/``https`` URLs become links (an annotation saying
``javascript:...`` stays text), and the subject is a single line with control characters removed,
so a label value cannot inject headers into a message.

Subjects read like Alertmanager's own::

    [FIRING:3] HighErrorRate checkout (critical)
    [RESOLVED] HighErrorRate checkout (critical)
    [DIGEST] 12 notifications held back
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit

from receiver.alertmanager import format_rfc3339
from receiver.model import severity_rank
from receiver.notify.base import Notice, NoticeAlert, NoticeKind

__all__ = [
    "MAX_ALERTS",
    "MAX_SUBJECT_LENGTH",
    "alert_name",
    "alertnames",
    "headline",
    "html_body",
    "ordered_labels",
    "safe_url",
    "severity",
    "subject",
    "text_body",
]

MAX_ALERTS: Final = 50  # alerts shown in full; the rest are counted, so a storm stays readable
MAX_SUBJECT_LENGTH: Final = 200  # mail clients cut long subjects anyway; RFC 5322 lines stay short

# Labels that say *what* is affected, tried in order for the subject line when every alert of
# the notice shares the value ("checkout" in "[FIRING:3] HighErrorRate checkout").
_SUBJECT_LABELS: Final = ("service", "app", "job", "namespace", "cluster")
# Shown before the other labels, which follow in name order.
_LEADING_LABELS: Final = ("alertname", "severity")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES_RE: Final = re.compile(r"\s+")


# --- pieces -------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Collapse control characters and runs of whitespace into single spaces."""
    return _SPACES_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()


def safe_url(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL that may be shown as a link, else ``None``."""
    url = url.strip()
    if not url or _CONTROL_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def alertnames(alerts: Iterable[NoticeAlert]) -> list[str]:
    """The distinct ``alertname`` labels in order of first appearance."""
    seen: dict[str, None] = {}
    for alert in alerts:
        name = alert.labels.get("alertname", "")
        if name:
            seen.setdefault(name, None)
    return list(seen)


def severity(alerts: Iterable[NoticeAlert]) -> str | None:
    """The worst ``severity`` label among ``alerts`` (first seen wins among unknown values)."""
    worst: str | None = None
    for alert in alerts:
        value = alert.labels.get("severity", "")
        if value and (worst is None or severity_rank(value) < severity_rank(worst)):
            worst = value
    return worst


def _common_label(alerts: Sequence[NoticeAlert], names: Iterable[str]) -> str | None:
    """The value of the first of ``names`` that every alert carries with the same value."""
    if not alerts:
        return None
    for name in names:
        value = alerts[0].labels.get(name)
        if value and all(a.labels.get(name) == value for a in alerts[1:]):
            return value
    return None


def _what(alerts: Sequence[NoticeAlert]) -> str:
    """``HighErrorRate checkout (critical)``: alert names, what is affected, worst severity."""
    names = alertnames(alerts)
    if len(names) > 3:
        parts = [", ".join(names[:3]) + f" +{len(names) - 3} more"]
    else:
        parts = [", ".join(names)] if names else []
    where = _common_label(alerts, _SUBJECT_LABELS)
    if where:
        parts.append(where)
    worst = severity(alerts)
    if worst:
        parts.append(f"({worst})")
    return " ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def ordered_labels(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    leading = [(k, labels[k]) for k in _LEADING_LABELS if k in labels]
    rest = sorted((k, v) for k, v in labels.items() if k not in _LEADING_LABELS)
    return leading + rest


def headline(notice: Notice) -> str:
    """One sentence saying why this message was sent."""
    if notice.kind is NoticeKind.DIGEST:
        line = f"This channel's rate limit held back {_plural(notice.suppressed, 'notification')}."
    elif notice.kind is NoticeKind.RESOLVED:
        line = f"{_plural(len(notice.alerts), 'alert')} resolved."
    else:
        line = f"{_plural(len(notice.alerts), 'alert')} firing."
        if notice.escalation_policy:
            line += f" Escalation policy {notice.escalation_policy}"
            if notice.tier is not None:
                line += f", tier {notice.tier + 1}"  # people count tiers from one
            if notice.repeat:
                line += f", repeat {notice.repeat}"
            line += "."
    if notice.message:
        line = f"{notice.message}\n\n{line}"
    if notice.drill:
        line = "DRILL - no action needed. " + line
    return line


def _context(notice: Notice) -> list[tuple[str, str]]:
    """Routing facts worth showing under the headline (empty ones left out)."""
    rows = [("Route", notice.route), ("Group", notice.group_key)]
    return [(k, _one_line(v)) for k, v in rows if v]


def _alert_rows(alert: NoticeAlert) -> list[tuple[str, str]]:
    """The facts of one alert, in reading order, as (label, value) pairs."""
    rows: list[tuple[str, str]] = []
    for key, title in (("summary", "Summary"), ("description", "Description")):
        value = alert.annotations.get(key, "")
        if value:
            rows.append((title, value))
    rows.append(("Started", format_rfc3339(alert.starts_at)))
    if alert.ends_at is not None:
        rows.append(("Ended", format_rfc3339(alert.ends_at)))
    values = alert.grafana.values_text()
    if values:
        rows.append(("Values", values))
    return rows


def alert_name(alert: NoticeAlert) -> str:
    """The alert's ``alertname`` on one line, else its fingerprint."""
    return _one_line(alert.labels.get("alertname", "") or alert.fingerprint)


def _alert_title(alert: NoticeAlert) -> str:
    name = alert.labels.get("alertname", "") or alert.fingerprint
    sev = alert.labels.get("severity", "")
    title = f"[{alert.status.upper()}] {name}"
    return f"{title} ({sev})" if sev else title


# --- public -------------------------------------------------------------------------------------


def subject(notice: Notice) -> str:
    """The subject line: ``[FIRING:3] HighErrorRate checkout (critical)``, ``[RESOLVED] ...``,
    ``[DIGEST] 12 notifications held back``; ``[DRILL]`` in front of a drill. One line, at most
    ``MAX_SUBJECT_LENGTH`` characters."""
    if notice.kind is NoticeKind.DIGEST:
        text = f"[DIGEST] {_plural(notice.suppressed, 'notification')} held back"
    elif notice.kind is NoticeKind.RESOLVED:
        text = f"[RESOLVED] {_what(notice.alerts)}"
    else:
        text = f"[FIRING:{len(notice.alerts)}] {_what(notice.alerts)}"
    if notice.drill:
        text = "[DRILL] " + text
    text = _one_line(text)
    if len(text) > MAX_SUBJECT_LENGTH:
        text = text[: MAX_SUBJECT_LENGTH - 3].rstrip() + "..."
    return text


def text_body(notice: Notice, *, max_alerts: int = MAX_ALERTS) -> str:
    """The plain-text body: headline, routing context, then each alert (at most ``max_alerts``)
    with summary, description, start, labels, source and runbook."""
    lines = [headline(notice), ""]
    context = _context(notice)
    if context:
        lines.extend(f"{k}: {v}" for k, v in context)
        lines.append("")
    for alert in notice.alerts[:max_alerts]:
        lines.append(_one_line(_alert_title(alert)))
        for title, value in _alert_rows(alert):
            # Continuation lines are indented so a multi-line description stays inside its alert.
            lines.append(f"  {title}: " + value.strip().replace("\n", "\n    "))
        lines.append("  Labels:")
        lines.extend(f"    {k}={_one_line(v)}" for k, v in ordered_labels(alert.labels))
        if alert.generator_url:
            lines.append(f"  Source: {_one_line(alert.generator_url)}")
        runbook = alert.annotations.get("runbook_url", "")
        if runbook:
            lines.append(f"  Runbook: {_one_line(runbook)}")
        lines.extend(f"  {title}: {_one_line(url)}" for title, url in alert.grafana.named_links())
        lines.append("")
    hidden = len(notice.alerts) - max_alerts
    if hidden > 0:
        lines.extend([f"... and {_plural(hidden, 'more alert')}.", ""])
    lines.append(f"-- \nSent by Firebreak. Notification {notice.idempotency_key}")
    return "\n".join(lines) + "\n"


def _link(url: str, text: str) -> str:
    """An anchor when ``url`` is safe to link to, else the escaped text of the URL."""
    safe = safe_url(url)
    if safe is None:
        return html.escape(url)
    return f'<a href="{html.escape(safe, quote=True)}">{html.escape(text)}</a>'


def html_body(notice: Notice, *, max_alerts: int = MAX_ALERTS) -> str:
    """The HTML body: the same content as ``text_body``, every value escaped, with links to each
    alert's source and runbook when those are http(s) URLs. Inline styles only (mail clients
    drop style sheets)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family: sans-serif; font-size: 14px;">',
        f"<p><strong>{esc(headline(notice))}</strong></p>",
    ]
    context = _context(notice)
    if context:
        out.append("<p>" + "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in context) + "</p>")
    for alert in notice.alerts[:max_alerts]:
        out.append(f'<h3 style="margin-bottom: 4px;">{esc(_one_line(_alert_title(alert)))}</h3>')
        out.append('<table style="border-collapse: collapse;">')
        for title, value in _alert_rows(alert):
            body = esc(value.strip()).replace("\n", "<br>")
            out.append(
                f'<tr><th style="text-align: left; vertical-align: top; padding-right: 8px;">'
                f"{esc(title)}</th><td>{body}</td></tr>"
            )
        labels = "<br>".join(f"{esc(k)}={esc(v)}" for k, v in ordered_labels(alert.labels))
        out.append(
            '<tr><th style="text-align: left; vertical-align: top; padding-right: 8px;">'
            f"Labels</th><td><code>{labels}</code></td></tr>"
        )
        out.append("</table>")
        links = []
        if alert.generator_url:
            links.append(_link(alert.generator_url, "Source"))
        runbook = alert.annotations.get("runbook_url", "")
        if runbook:
            links.append(_link(runbook, "Runbook"))
        links += [_link(url, title) for title, url in alert.grafana.named_links()]
        if links:
            out.append("<p>" + " | ".join(links) + "</p>")
    hidden = len(notice.alerts) - max_alerts
    if hidden > 0:
        out.append(f"<p>... and {esc(_plural(hidden, 'more alert'))}.</p>")
    out.append(
        f'<p style="color: #666; font-size: 12px;">Sent by Firebreak. Notification '
        f"{esc(notice.idempotency_key)}</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
