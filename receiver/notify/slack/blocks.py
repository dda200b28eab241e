"""Block Kit for alert messages: pure functions from alerts to Slack message JSON.

One message stands for the alerts one notice carried (a group, when Alertmanager grouped them).
It always shows their current state, so the same function renders the first post and every
``chat.update`` after an acknowledgement, an escalation or a resolve. Everything that comes from
an alert is untrusted: it goes through ``receiver.notify.slack.mrkdwn`` (escaped, in verbatim text
objects), the fallback text included, and only http(s) URLs become links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from receiver.alertmanager import format_rfc3339
from receiver.grafana_webhook import NO_GRAFANA_LINKS, GrafanaLinks, grafana_links
from receiver.model import Alert, parse_id
from receiver.notify.base import Notice, NoticeAlert, NoticeKind
from receiver.notify.render import alertnames, severity
from receiver.notify.slack.mrkdwn import escape, escape_within, link, mrkdwn, user_mention
from receiver.notify.templated import MessageTemplate, fallback_note

__all__ = [
    "ACTION_ACK",
    "ACTION_RESOLVE",
    "ACTION_RUNBOOK",
    "ACTION_SILENCE",
    "MessageAlert",
    "MessageView",
    "PagedPerson",
    "RunbookOffer",
    "alert_ids_from_value",
    "escape",
    "message",
    "runbook_from_action",
    "thread_note",
]

ACTION_ACK: Final = "firebreak_ack"
ACTION_RESOLVE: Final = "firebreak_resolve"
ACTION_SILENCE: Final = "firebreak_silence_1h"
# One button per runbook: Slack wants action ids unique in a message, so each carries its
# runbook's id after a colon (``firebreak_run_runbook:restart-service``).
ACTION_RUNBOOK: Final = "firebreak_run_runbook"

MAX_ALERTS: Final = 10  # Slack allows 50 blocks a message; each alert takes one
_MAX_PAGED: Final = 20  # people named in a message's "Paged" line; the rest are counted
_SECTION_CHARS: Final = 2900  # a section's text may hold 3000 characters
_SUMMARY_CHARS: Final = 1500  # of those, an alert's summary (escaped) takes at most this
_VALUE_CHARS: Final = 2000  # a button's value may hold 2000 characters
_BUTTON_CHARS: Final = 75  # a button's text may hold 75 characters
# Runbook buttons a message shows; more would crowd out Acknowledge and Resolve, and the rest
# are named in the message for /firebreak run.
MAX_RUNBOOK_BUTTONS: Final = 3
# Labels worth a glance, in this order; the others stay in Alertmanager.
_KEY_LABELS: Final = ("service", "instance", "job", "namespace", "cluster", "team", "env")
_ICONS: Final = {"firing": ":red_circle:", "acknowledged": ":large_yellow_circle:"}


@dataclass(frozen=True, slots=True)
class MessageAlert:
    """One alert as a message shows it."""

    id: int
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    snoozed_until: datetime | None = None
    grafana: GrafanaLinks = NO_GRAFANA_LINKS
    # The maintenance window holding it back now: "maintenance window X until T".
    held_by: str | None = None

    @classmethod
    def from_notice(cls, alert: NoticeAlert) -> MessageAlert:
        return cls(
            alert.id,
            alert.status,
            alert.labels,
            alert.annotations,
            alert.starts_at,
            alert.ends_at,
            alert.generator_url,
            grafana=alert.grafana,
        )

    @classmethod
    def from_alert(cls, alert: Alert) -> MessageAlert:
        return cls(
            alert.id,
            alert.status.value,
            alert.labels,
            alert.annotations,
            alert.starts_at,
            alert.ends_at,
            alert.generator_url,
            alert.acknowledged_by,
            alert.resolved_by,
            alert.snoozed_until,
            grafana_links(alert.extra),
        )


@dataclass(frozen=True, slots=True)
class RunbookOffer:
    """A runbook written for a message's alerts, and where its runs for them stand."""

    runbook: str
    # The firing alerts a press starts it for: those it matches with no run of it going on
    # (and, when it starts by itself, none before). Empty: no button.
    alert_ids: tuple[int, ...] = ()
    automatic: bool = False  # starts by itself on these alerts
    execution_id: int | None = None  # its latest execution for these alerts
    state: str | None = None  # that execution's state
    # What it starts by itself is a dry run (automation.mode: dry_run).
    dry_run: bool = False

    def status(self) -> str | None:
        """One line on the message, or None when there is nothing to say."""
        name = f"`{escape(self.runbook)}`"
        if self.execution_id is not None:
            return f":gear: Runbook {name}: execution {self.execution_id} {self.state}"
        if self.automatic:
            dry = " as a dry run (automation.mode: dry_run)" if self.dry_run else ""
            return f":gear: Runbook {name} starts by itself{dry}"
        return None


@dataclass(frozen=True, slots=True)
class PagedPerson:
    """A person a tier paged about a message's alerts: mentioned by their Slack user id, or
    named when they have none."""

    name: str
    slack_user_id: str | None
    tier: int  # 0-based

    def mention(self) -> str:
        return user_mention(self.slack_user_id) if self.slack_user_id else escape(self.name)


@dataclass(frozen=True, slots=True)
class MessageView:
    """What a message shows besides its alerts."""

    tier: int | None = None  # 0-based tier the alerts reached
    escalation_policy: str = ""
    grafana_url: str | None = None
    silence_button: bool = False  # an Alertmanager is configured to silence through
    runbooks: tuple[RunbookOffer, ...] = ()  # runbooks that match: offer to run them
    drill: bool = False
    paged: tuple[PagedPerson, ...] = ()  # who the tiers paged, first paged first
    template: MessageTemplate | None = None  # the channel's message template (mrkdwn sink)
    route: str = ""  # the route of the notice, which may have a template of its own


def _paged_line(paged: Sequence[PagedPerson]) -> str:
    """``*Paged* @alice (tier 1), @bob (tier 2)``: each person once, at the first tier that
    paged them."""
    first: dict[str, PagedPerson] = {}
    for person in paged:
        first.setdefault(person.slack_user_id or person.name, person)
    shown = [f"{p.mention()} (tier {p.tier + 1})" for p in list(first.values())[:_MAX_PAGED]]
    more = len(first) - _MAX_PAGED
    return "*Paged* " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _cut(text: str, limit: int = _SECTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _state(alerts: Sequence[MessageAlert]) -> str:
    """``firing``, ``acknowledged`` or ``resolved`` for the message as a whole."""
    if alerts and all(a.status == "resolved" for a in alerts):
        return "resolved"
    firing = [a for a in alerts if a.status == "firing"]
    if firing and all(a.acknowledged_by for a in firing):
        return "acknowledged"
    return "firing"


def _headline(alerts: Sequence[MessageAlert], state: str) -> str:
    names = alertnames(alerts)  # type: ignore[arg-type]  # reads labels only
    what = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
    worst = severity(alerts)  # type: ignore[arg-type]
    count = f":{len(alerts)}" if len(alerts) > 1 else ""
    text = f"[{state.upper()}{count}] {what or 'alert'}"
    return f"{text} ({worst})" if worst else text


def _status_line(alerts: Sequence[MessageAlert], state: str) -> str:
    if state == "resolved":
        who = sorted({a.resolved_by for a in alerts if a.resolved_by})
        return "Resolved" + (f" by {escape(', '.join(who))}" if who else " (Alertmanager)")
    acked = sorted({a.acknowledged_by for a in alerts if a.acknowledged_by})
    if state == "acknowledged":
        return f"Acknowledged by {escape(', '.join(acked))}"
    firing = sum(1 for a in alerts if a.status == "firing")
    line = f"Firing ({firing} of {len(alerts)})" if firing != len(alerts) else "Firing"
    if acked:
        line += f"; acknowledged by {escape(', '.join(acked))}"
    snoozed = [a.snoozed_until for a in alerts if a.snoozed_until is not None]
    if snoozed:
        line += f"; snoozed until {format_rfc3339(max(snoozed))}"
    held = sorted({a.held_by for a in alerts if a.held_by and a.status == "firing"})
    if held:
        line += f"; held by {escape(', '.join(held))}"
    return line


def _alert_section(alert: MessageAlert, view: MessageView) -> dict[str, Any]:
    name = alert.labels.get("alertname", "") or f"alert {alert.id}"
    mark = ":white_check_mark:" if alert.status == "resolved" else ""
    lines = [f"{mark}*{escape(name)}* (id {alert.id})".strip()]
    summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
    if summary:
        lines.append(escape_within(" ".join(summary.split()), _SUMMARY_CHARS))
    labels = [f"`{escape(k)}={escape(alert.labels[k])}`" for k in _KEY_LABELS if k in alert.labels]
    if labels:
        lines.append(" ".join(labels))
    started = f"Started {format_rfc3339(alert.starts_at)}"
    if alert.ends_at is not None and alert.status == "resolved":
        started += f", ended {format_rfc3339(alert.ends_at)}"
    lines.append(started)
    values = alert.grafana.values_text()
    if values:
        lines.append("Values: " + escape_within(values, _SUMMARY_CHARS))
    links = [
        link(alert.generator_url, "Source"),
        link(alert.annotations.get("runbook_url", ""), "Runbook"),
    ]
    grafana_links_shown = alert.grafana.named_links()
    if grafana_links_shown:
        links += [link(url, title) for title, url in grafana_links_shown]
    else:
        links.append(
            link(
                alert.annotations.get("dashboard_url", "") or _grafana(view.grafana_url, alert),
                "Grafana",
            )
        )
    shown = [link for link in links if link]
    if shown:
        lines.append(" | ".join(shown))
    return {"type": "section", "text": mrkdwn(_cut("\n".join(lines)))}


def _grafana(base: str | None, alert: MessageAlert) -> str:
    """A Grafana link narrowed to the alert's name when no dashboard annotation is given."""
    if not base:
        return ""
    name = alert.labels.get("alertname", "")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}var-alertname={quote(name)}" if name else base


def ids_value(alert_ids: Iterable[int]) -> str:
    """A button's value: the ids of the alerts it acts on, comma-separated."""
    value = ""
    for alert_id in alert_ids:
        more = f"{value},{alert_id}" if value else str(alert_id)
        if len(more) > _VALUE_CHARS:
            break
        value = more
    return value


def alert_ids_from_value(value: str) -> list[int]:
    """The alert ids a button's value names; ``[]`` when it is not ours."""
    ids = [parse_id(part.strip()) for part in value.split(",")]
    if not ids or any(i is None for i in ids):
        return []
    return [i for i in ids if i is not None]


def runbook_from_action(action_id: str) -> str | None:
    """The runbook a Run button starts, from its action id; None for other buttons."""
    prefix, sep, runbook = action_id.partition(":")
    return runbook if prefix == ACTION_RUNBOOK and sep and runbook else None


def _runbook_button(offer: RunbookOffer) -> dict[str, Any]:
    count = len(offer.alert_ids)
    text = f"Run {offer.runbook}" + (f" ({count} alerts)" if count > 1 else "")
    which = f"alert {offer.alert_ids[0]}" if count == 1 else f"{count} alerts"
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": _cut(text, _BUTTON_CHARS)},
        "action_id": f"{ACTION_RUNBOOK}:{offer.runbook}",
        "value": ids_value(offer.alert_ids),
        # A runbook changes things: Slack asks before the press reaches us.
        "confirm": {
            "title": {"type": "plain_text", "text": "Run runbook?"},
            "text": {"type": "plain_text", "text": _cut(f"Run {offer.runbook} for {which}?")},
            "confirm": {"type": "plain_text", "text": "Run"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }


def _runbook_context(offers: Sequence[RunbookOffer]) -> dict[str, Any] | None:
    lines = [line for line in (o.status() for o in offers) if line]
    runnable = [o for o in offers if o.alert_ids]
    more = [o.runbook for o in runnable[MAX_RUNBOOK_BUTTONS:]]
    if more:
        names = ", ".join(f"`{escape(name)}`" for name in more)
        lines.append(f"Also written for these alerts: {names} (`/firebreak run &lt;runbook&gt;`)")
    if not lines:
        return None
    return {"type": "context", "elements": [mrkdwn(_cut("\n".join(lines)))]}


def _buttons(alerts: Sequence[MessageAlert], state: str, view: MessageView) -> dict[str, Any]:
    firing = [a for a in alerts if a.status == "firing"]
    elements: list[dict[str, Any]] = []

    def button(text: str, action: str, value: str, style: str | None = None) -> None:
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "action_id": action,
            "value": value,
        }
        if style:
            element["style"] = style
        elements.append(element)

    value = ids_value(a.id for a in firing)
    if state == "firing":
        button("Acknowledge", ACTION_ACK, value, "primary")
    button("Resolve", ACTION_RESOLVE, value, "danger" if state == "firing" else None)
    if view.silence_button:
        button("Silence 1h", ACTION_SILENCE, value)
    runnable = [offer for offer in view.runbooks if offer.alert_ids]
    elements += [_runbook_button(offer) for offer in runnable[:MAX_RUNBOOK_BUTTONS]]
    return {"type": "actions", "block_id": "firebreak_actions", "elements": elements}


def message(alerts: Sequence[MessageAlert], view: MessageView) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text (notifications, screen readers) and the blocks of an alert message."""
    state = _state(alerts)
    headline = _headline(alerts, state)
    if view.drill:
        headline = "[DRILL] " + headline
    icon = _ICONS.get(state, ":large_green_circle:")
    fields = [mrkdwn(f"*Status*\n{_status_line(alerts, state)}")]
    worst = severity(alerts)  # type: ignore[arg-type]
    if worst:
        fields.append(mrkdwn(f"*Severity*\n{escape(worst)}"))
    if view.tier is not None:
        policy = f"{escape(view.escalation_policy)} " if view.escalation_policy else ""
        fields.append(mrkdwn(f"*Escalation*\n{policy}tier {view.tier + 1}"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"{icon} *{escape(headline)}*")},
        {"type": "section", "fields": fields},
    ]
    rendered = view.template(_as_notice(alerts, view, state), "mrkdwn") if view.template else None
    if rendered is not None and rendered.text is not None:
        if rendered.text.strip():  # Slack refuses an empty section
            blocks.append({"type": "section", "text": mrkdwn(_cut(rendered.text))})
    else:
        if rendered is not None and rendered.problem is not None:
            note = mrkdwn(escape_within(fallback_note(rendered.problem), _SECTION_CHARS))
            blocks.append({"type": "context", "elements": [note]})
        blocks += [_alert_section(a, view) for a in alerts[:MAX_ALERTS]]
    hidden = len(alerts) - MAX_ALERTS
    if hidden > 0:
        blocks.append({"type": "context", "elements": [mrkdwn(f"… and {hidden} more")]})
    if view.paged:
        blocks.append({"type": "context", "elements": [mrkdwn(_paged_line(view.paged))]})
    runbooks = _runbook_context(view.runbooks)
    if runbooks is not None:
        blocks.append(runbooks)
    if state != "resolved":
        blocks.append(_buttons(alerts, state, view))
    # The fallback text is mrkdwn too (notifications, screen readers): escaped like the rest.
    return escape(headline), blocks


def _as_notice(alerts: Sequence[MessageAlert], view: MessageView, state: str) -> Notice:
    """The message's alerts as a notice, for its template."""
    return Notice(
        kind=NoticeKind.RESOLVED if state == "resolved" else NoticeKind.FIRING,
        idempotency_key="",
        alerts=tuple(
            NoticeAlert(
                a.id, "", a.status, a.labels, a.annotations, a.starts_at, a.ends_at, a.generator_url
            )
            for a in alerts
        ),
        route=view.route,
        escalation_policy=view.escalation_policy,
        tier=view.tier,
        drill=view.drill,
    )


def thread_note(text: str) -> tuple[str, list[dict[str, Any]]]:
    """A reply in an alert message's thread (escalation tiers, resolves, runbook steps);
    ``text`` is mrkdwn with everything from outside already escaped."""
    return text, [{"type": "section", "text": mrkdwn(_cut(text))}]
