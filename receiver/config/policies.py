"""Escalation policies (who is told, and when, while nobody acknowledges), the routes that
lead alerts to them, and the channel and policy that exist when the files define none."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.config.channels import ChannelConfig
from receiver.config.checks import MATCHERS, at_least_zero, check_matchers, not_empty
from receiver.config.oncall import RestrictionConfig
from receiver.config.walker import Shorthand


def _channel_only(name: object) -> object:
    return {"channel": name}


_CHANNEL = Shorthand(
    str,
    _channel_only,
    "a channel name or a mapping with channel and target, or with person, schedule or team",
)

PEOPLE_KINDS = ("person", "schedule", "team")
"""The tier entries that page people rather than a channel (``person: ID`` and so on)."""


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """One recipient of a tier: a channel and where on it (the channel's default if empty),
    or people: one person, whoever a schedule has on call, or a team. Exactly one of
    ``channel``, ``person``, ``schedule`` and ``team`` is set (``config.references`` checks)."""

    channel: str = ""
    target: str = ""  # an address, a URL...; what it means is up to the channel
    person: str = ""  # a person's id in ``people``
    schedule: str = ""  # a schedule's id in ``schedules``
    team: str = ""  # a team's id in ``teams``

    @property
    def people(self) -> tuple[str, str] | None:
        """``(kind, id)`` when the entry pages people (``("schedule", "payments")``)."""
        for kind in PEOPLE_KINDS:
            value = getattr(self, kind)
            if value:
                return kind, value
        return None

    def __str__(self) -> str:
        people = self.people
        if people is not None and not self.channel:
            return f"{people[0]}:{people[1]}"
        return f"{self.channel}:{self.target}" if self.target else self.channel


@dataclass(frozen=True, slots=True)
class TierConfig:
    """One step of an escalation policy."""

    # From the alert's start for the first tier, from the previous tier for later ones.
    after: timedelta = timedelta(0)
    notify: tuple[NotifyTarget, ...] = field(
        kw_only=True, metadata={"shorthand_each": _CHANNEL, "check": not_empty}
    )


@dataclass(frozen=True, slots=True)
class EscalationPolicyConfig:
    """Who is told about an alert, and when, while nobody acknowledges it."""

    tiers: tuple[TierConfig, ...] = field(metadata={"check": not_empty})
    # Times the whole policy runs again, from its first tier, while unacknowledged.
    repeat: int = field(default=0, metadata={"check": at_least_zero})


@dataclass(frozen=True, slots=True)
class PagingConfig:
    """The channels through which a tier reaches the people it pages (``person:``,
    ``schedule:``, ``team:`` entries): each person is sent what they have an address for."""

    # A slack channel: a direct message to the person's slack_user_id, and an @mention of
    # them in the alert's messages.
    slack: str | None = field(default=None, metadata={"check": not_empty})
    # An email channel: a message to the person's email.
    email: str | None = field(default=None, metadata={"check": not_empty})
    # A pagerduty channel: an event of its own per person with a pagerduty_user (see
    # docs/escalation.md "Paging people").
    pagerduty: str | None = field(default=None, metadata={"check": not_empty})
    # What the reports count as working hours, in each person's own time zone.
    working_hours: RestrictionConfig = field(
        default_factory=lambda: RestrictionConfig(
            days=("mon", "tue", "wed", "thu", "fri"), start="09:00", end="18:00"
        )
    )

    def channels(self) -> dict[str, str]:
        """Contact kind -> channel name, for the kinds set."""
        found = {"slack": self.slack, "email": self.email, "pagerduty": self.pagerduty}
        return {kind: name for kind, name in found.items() if name}


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Alerts whose labels match go to an escalation policy (see ``receiver.routing``)."""

    # Filled in by the loader when not written: routes[N], or FILE:routes[N] for a route from
    # an included file (N counts from 0 within the file that defines the route).
    name: str = field(default="", metadata={"check": not_empty})
    # Alertmanager matcher strings, all of which must match; none matches every alert.
    match: tuple[str, ...] = field(
        default=(), metadata={"shorthand": MATCHERS, "check_each": check_matchers}
    )
    escalation_policy: str = field(kw_only=True, metadata={"check": not_empty})
    # Also try the routes after this one when it matches.
    continue_: bool = field(default=False, metadata={"key": "continue"})
    # A message template for this route's notices on every channel (docs/templates.md),
    # relative to the configuration file; it wins over the channel's own.
    template: str | None = field(default=None, metadata={"check": not_empty})


@dataclass(frozen=True, slots=True)
class DefaultRouteConfig:
    """Where alerts that no route matches go."""

    escalation_policy: str = field(default="default", metadata={"check": not_empty})


LOG_CHANNEL = "log"
"""The channel that exists even when the file defines none: it writes notices to the log."""

DEFAULT_POLICY = "default"
"""The policy that exists even when the file defines none: tell ``log`` at once."""


def builtin_channels() -> Mapping[str, ChannelConfig]:
    return types.MappingProxyType({LOG_CHANNEL: ChannelConfig(type="log")})


def builtin_policies() -> Mapping[str, EscalationPolicyConfig]:
    tier = TierConfig(after=timedelta(0), notify=(NotifyTarget(channel=LOG_CHANNEL),))
    return types.MappingProxyType({DEFAULT_POLICY: EscalationPolicyConfig(tiers=(tier,))})
