"""Escalation policies (who is told, and when, while nobody acknowledges), the routes that
lead alerts to them, and the channel and policy that exist when the files define none."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.config.channels import ChannelConfig
from receiver.config.checks import MATCHERS, at_least_zero, check_matchers, not_empty
from receiver.config.walker import Shorthand


def _channel_only(name: object) -> object:
    return {"channel": name}


_CHANNEL = Shorthand(str, _channel_only, "a channel name or a mapping with channel and target")


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """One recipient of a tier: a channel, and where on it (the channel's default if empty)."""

    channel: str = field(metadata={"check": not_empty})
    target: str = ""  # an address, a URL...; what it means is up to the channel

    def __str__(self) -> str:
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
