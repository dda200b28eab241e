"""Message templates: a channel's message laid out by the user (``channels.NAME.template``).

A template is a Jinja file, rendered in the same sandbox as runbook templates
(``automation/templating.py``): no Python internals, undefined names are errors. What differs
is escaping: every ``{{ value }}`` is escaped for the *sink* the text ends up in — Slack mrkdwn,
Teams card markdown, HTML, plain text — while the template's own text and markup stay as
written. A label cannot add a mention, a link or a tag that the template did not write.

Templates are checked at load (``check-config``) by rendering each one for every sink against a
sample alert. A template that still fails when a message goes out (a label it needs is missing)
does not stop the message: the channel sends its default layout with a note saying so, the
failure is logged and ``firebreak_message_template_failures_total`` counts it.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import jinja2

from receiver.automation.templating import environment, failure_message
from receiver.config import Config
from receiver.metrics import Metrics
from receiver.notify.base import Notice, NoticeAlert, NoticeKind
from receiver.notify.links import NoticeLinks
from receiver.notify.render import severity, subject
from receiver.notify.slack.mrkdwn import escape as mrkdwn_escape
from receiver.notify.teams import card_text
from receiver.notify.templated import SINKS, Rendered, Sink
from receiver.notify.webhook import alert_payload

__all__ = [
    "ChannelTemplate",
    "TemplateChoice",
    "TemplateProblem",
    "channel_templates",
    "check_templates",
    "sample_notice",
    "template_scope",
]

log = logging.getLogger(__name__)

_MAX_TEMPLATE_BYTES: Final = 64 * 1024
_MAX_OUTPUT: Final = 32 * 1024  # characters of one rendered message


def _card(value: str) -> str:
    return card_text(value, limit=_MAX_OUTPUT, one_line=False)


_ESCAPES: Final[Mapping[Sink, Callable[[str], str]]] = {
    "mrkdwn": mrkdwn_escape,
    "card": _card,
    "html": html.escape,
    "text": str,
}


def _finalize(escape: Callable[[str], str]) -> Callable[[Any], str]:
    def finalize(value: Any) -> str:
        return escape("" if value is None else str(value))

    return finalize


_ENVIRONMENTS: Final = {sink: environment(_finalize(_ESCAPES[sink])) for sink in SINKS}


class TemplateProblem(Exception):
    """A template file could not be read or compiled."""


def _alert_scope(alert: NoticeAlert, links: NoticeLinks) -> dict[str, Any]:
    return {
        **alert_payload(alert),
        "links": {
            "source": alert.generator_url,
            "runbook": alert.annotations.get("runbook_url", ""),
            "dashboard": alert.annotations.get("dashboard_url", ""),
            "console": links.console(alert) or "",
        },
    }


def template_scope(notice: Notice, sink: Sink, links: NoticeLinks | None = None) -> dict[str, Any]:
    """What a template sees (docs/templates.md lists it)."""
    links = links or NoticeLinks()
    alerts = [_alert_scope(a, links) for a in notice.alerts]
    common: dict[str, str] = dict(notice.alerts[0].labels) if notice.alerts else {}
    for alert in notice.alerts[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    return {
        "sink": sink,
        "kind": notice.kind.value,
        "subject": subject(notice),
        "alerts": alerts,
        "alert": alerts[0] if alerts else None,
        "common_labels": common,
        "severity": severity(notice.alerts) or "",
        "tier": None if notice.tier is None else notice.tier + 1,  # counted from 1, as people do
        "repeat": notice.repeat,
        "route": notice.route,
        "escalation_policy": notice.escalation_policy,
        "drill": notice.drill,
        "suppressed": notice.suppressed,
        "message": notice.message,
        # The person this notice pages (a tier's person, schedule or team entry), else empty.
        "paged": [notice.person] if notice.person else [],
        "idempotency_key": notice.idempotency_key,
    }


@dataclass(frozen=True, slots=True)
class ChannelTemplate:
    """One template file, compiled for every sink, as a channel's ``MessageTemplate``."""

    channel: str
    path: str
    compiled: Mapping[Sink, jinja2.Template]
    links: NoticeLinks
    metrics: Metrics | None = None

    @classmethod
    def load(
        cls, channel: str, path: str, links: NoticeLinks, metrics: Metrics | None = None
    ) -> ChannelTemplate:
        try:
            with open(path, "rb") as file:
                raw = file.read(_MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            raise TemplateProblem(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(raw) > _MAX_TEMPLATE_BYTES:
            raise TemplateProblem(f"{path}: larger than {_MAX_TEMPLATE_BYTES} bytes")
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateProblem(f"{path}: not UTF-8 text") from None
        try:
            compiled = {sink: env.from_string(source) for sink, env in _ENVIRONMENTS.items()}
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"{path}:{exc.lineno}: {exc.message}") from None
        return cls(channel, path, compiled, links, metrics)

    def render(self, notice: Notice, sink: Sink) -> str:
        """The template's output for ``sink``; raises ``TemplateProblem`` on failure."""
        try:
            text = self.compiled[sink].render(template_scope(notice, sink, self.links))
        except (jinja2.TemplateError, ArithmeticError, ValueError, TypeError, LookupError) as exc:
            raise TemplateProblem(failure_message(self.path, exc)) from None
        if len(text) > _MAX_OUTPUT:
            raise TemplateProblem(f"{self.path}: rendered to more than {_MAX_OUTPUT} characters")
        return text

    def __call__(self, notice: Notice, sink: Sink) -> Rendered:
        try:
            return Rendered(self.render(notice, sink))
        except TemplateProblem as exc:
            log.warning(
                "message template failed; sending the default layout",
                extra={"channel": self.channel, "template": self.path, "error": str(exc)},
            )
            if self.metrics is not None:
                self.metrics.template_failures.labels(self.channel).inc()
            return Rendered(None, str(exc))


def _template_path(config: Config, path: str) -> str:
    base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
    return os.path.join(base, path)


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    """A channel's ``MessageTemplate``: the template of the notice's route when it has one,
    else the channel's own, else none (the built-in layout)."""

    own: ChannelTemplate | None
    by_route: Mapping[str, ChannelTemplate]

    def __call__(self, notice: Notice, sink: Sink) -> Rendered:
        template = self.by_route.get(notice.route, self.own)
        return Rendered() if template is None else template(notice, sink)


def channel_templates(
    config: Config, links: NoticeLinks, metrics: Metrics | None = None
) -> dict[str, TemplateChoice]:
    """The templates of each channel (its own, and the routes'); raises ``TemplateProblem``."""
    found: dict[str, TemplateChoice] = {}
    for name, channel in config.channels.items():
        own = None
        if channel.template is not None:
            own = ChannelTemplate.load(
                name, _template_path(config, channel.template), links, metrics
            )
        by_route = {
            route.name: ChannelTemplate.load(
                name, _template_path(config, route.template), links, metrics
            )
            for route in config.routes
            if route.template is not None
        }
        if own is not None or by_route:
            found[name] = TemplateChoice(own, by_route)
    return found


def sample_notice(kind: NoticeKind = NoticeKind.FIRING) -> Notice:
    """The alert every template is tried on at ``check-config``."""
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    alert = NoticeAlert(
        id=1,
        fingerprint="0123456789abcdef",
        status="resolved" if kind is NoticeKind.RESOLVED else "firing",
        labels={
            "alertname": "HighErrorRate",
            "severity": "critical",
            "service": "checkout",
            "instance": "web-1:9100",
            "job": "checkout",
        },
        annotations={
            "summary": "5xx above 5% for 10 minutes",
            "description": "checkout answers 7.2% of requests with a 5xx.",
            "runbook_url": "https://runbooks.example.com/high-error-rate",
        },
        starts_at=started,
        ends_at=started.replace(minute=30) if kind is NoticeKind.RESOLVED else None,
        generator_url="http://prometheus.example.com/graph?g0.expr=up",
    )
    return Notice(
        kind=kind,
        idempotency_key="notify:1:0",
        alerts=(alert,),
        group_key='{}:{alertname="HighErrorRate"}',
        route="default",
        escalation_policy="default",
        tier=0 if kind is NoticeKind.FIRING else None,
    )


def check_templates(config: Config) -> list[str]:
    """Problems with the configured templates: unreadable, not compiling, or failing on the
    sample alert (firing and resolved) for any sink."""
    named = [
        (f"channels.{name}.template", channel.template)
        for name, channel in config.channels.items()
        if channel.template is not None
    ] + [
        (f"routes[{index}].template", route.template)
        for index, route in enumerate(config.routes)
        if route.template is not None
    ]
    problems: list[str] = []
    for where, path in named:
        try:
            template = ChannelTemplate.load(where, _template_path(config, path), NoticeLinks())
            for kind in (NoticeKind.FIRING, NoticeKind.RESOLVED):
                for sink in SINKS:
                    template.render(sample_notice(kind), sink)
        except TemplateProblem as exc:
            problems.append(f"{where}: {exc}")
    return problems
