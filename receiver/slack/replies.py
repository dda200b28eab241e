"""Answers to slash commands and buttons (``Reply``) and their text: pure functions from alerts
and routes to Slack mrkdwn, everything from an alert escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from receiver.alertmanager import format_rfc3339
from receiver.config import EscalationPolicyConfig
from receiver.durations import format_duration
from receiver.matchers import Matcher, format_matchers
from receiver.model import Alert
from receiver.notify.slack.mrkdwn import escape, escape_within, user_mention
from receiver.routing import RouteMatch
from receiver.slack.roles import SlackUser

__all__ = ["Reply", "alert_line", "describe", "firing_list", "mention", "oncall_text"]


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to show: to the user only, or to the whole channel."""

    text: str
    public: bool = False


def mention(user: SlackUser) -> str:
    return user_mention(user.id)


def describe(alert: Alert) -> str:
    name = alert.labels.get("alertname", "") or alert.fingerprint
    return f"alert {alert.id} (*{escape(name)}*)"


def alert_line(alert: Alert) -> str:
    name = escape(alert.labels.get("alertname", "") or alert.fingerprint)
    sev = alert.labels.get("severity")
    line = f"• `{alert.id}` *{name}*" + (f" ({escape(sev)})" if sev else "")
    summary = alert.annotations.get("summary", "")
    if summary:
        line += f" — {escape_within(' '.join(summary.split()), 200)}"
    line += f" — since {format_rfc3339(alert.starts_at)}"
    if alert.acknowledged_by:
        line += f" — acked by {escape(alert.acknowledged_by)}"
    return line


def firing_list(
    alerts: Sequence[Alert], more: bool, matchers: Sequence[Matcher], listed: int
) -> str:
    """``alerts`` newest first, ``listed`` of them shown and the rest counted (``more``: there
    are others beyond those counted)."""
    where = f" matching `{escape(format_matchers(matchers))}`" if matchers else ""
    if not alerts:
        return f"No firing alerts{where}."
    lines = [f"*{len(alerts)}{'+' if more else ''} firing alert(s){where}*"]
    lines += [alert_line(a) for a in alerts[:listed]]
    rest = len(alerts) - listed
    if rest > 0:
        lines.append(f"… and {rest}{'+' if more else ''} more; narrow it with matchers.")
    return "\n".join(lines)


def oncall_text(
    labels: Mapping[str, str],
    matches: Sequence[RouteMatch],
    policies: Mapping[str, EscalationPolicyConfig],
) -> str:
    """The routes alerts with ``labels`` take, and each policy's tiers and targets."""
    shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "any alert"
    lines = [f"*Next escalation for {escape(shown)}*"]
    for match in matches:
        policy = policies.get(match.escalation_policy)
        lines.append(f"Route `{escape(match.route)}` → policy `{escape(match.escalation_policy)}`")
        if policy is None:
            continue
        for index, tier in enumerate(policy.tiers):
            targets = ", ".join(_target(str(t.channel), t.target) for t in tier.notify)
            lines.append(f"  tier {index + 1} after {format_duration(tier.after)}: {targets}")
        if policy.repeat:
            lines.append(f"  then again {policy.repeat} more time(s) while unacknowledged")
    return "\n".join(lines)


def _target(channel: str, target: str) -> str:
    if target.startswith(("C", "G")) and target[1:].isalnum():
        return f"{escape(channel)} <#{target}>"
    return escape(f"{channel}:{target}" if target else channel)
