"""What can only be checked once every file is loaded: references between sections, which
may cross files (a route's policy, a tier's channels and targets, a token's person), and names
that must be unique across them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from receiver.config.channels import ChannelConfig, PagerDutyChannelConfig
from receiver.config.checks import check_slack_channel
from receiver.config.integrations import SlackConfig
from receiver.config.policies import (
    PEOPLE_KINDS,
    EscalationPolicyConfig,
    NotifyTarget,
    RouteConfig,
)
from receiver.config.schema import Config
from receiver.config.yaml import Positions, join, located, quote
from receiver.hostallow import HostAllowList


@dataclass(frozen=True, slots=True)
class Part:
    """The definitions one file wrote itself (never the built-in ones), routes named."""

    source: str
    channels: Mapping[str, ChannelConfig]
    escalation_policies: Mapping[str, EscalationPolicyConfig]
    routes: tuple[RouteConfig, ...]
    positions: Positions

    def at(self, path: str) -> str:
        """``file:line:column: path``, to start a problem with."""
        return located(self.source, self.positions, path)


def check_tiers(part: Part, channels: Mapping[str, ChannelConfig]) -> list[str]:
    """Each tier of ``part``'s policies names defined channels, with somewhere to send to."""
    problems: list[str] = []
    for name, policy in part.escalation_policies.items():
        tiers = join(join("escalation_policies", name), "tiers")
        for t, tier in enumerate(policy.tiers):
            for n, entry in enumerate(tier.notify):
                where = part.at(f"{tiers}[{t}].notify[{n}]")
                if entry.people is not None or not entry.channel:
                    continue  # check_paging's
                channel = channels.get(entry.channel)
                if channel is None:
                    defined = ", ".join(sorted(channels))
                    problems.append(
                        f"{where}: unknown channel {quote(entry.channel)}; defined: {defined}"
                    )
                elif channel.email is not None and not channel.email.to and not entry.target:
                    problems.append(
                        f"{where}: channel {quote(entry.channel)} has no email.to addresses, "
                        "so this entry needs a target"
                    )
                elif channel.pagerduty is not None:
                    problems += _check_pagerduty_target(where, entry, channel.pagerduty)
    return problems


def _check_pagerduty_target(
    where: str, entry: NotifyTarget, channel: PagerDutyChannelConfig
) -> list[str]:
    """A tier's target on a PagerDuty channel names one of its routing key aliases."""
    alias = entry.target or "default"
    if alias in channel.routing_keys:
        return []
    aliases = ", ".join(sorted(channel.routing_keys))
    return [
        f"{where}: channel {quote(entry.channel)} has no routing key {quote(alias)}; "
        f"defined: {aliases}"
    ]


def check_slack_channels(
    part: Part, channels: Mapping[str, ChannelConfig], slack: SlackConfig | None
) -> list[str]:
    """Slack channels need the app's ``slack`` section, and each tier entry a channel id."""
    problems: list[str] = []
    for name, defined in part.channels.items():
        if defined.type == "slack" and slack is None:
            problems.append(
                f"{part.at(join(join('channels', name), 'type'))}: slack channels need "
                "the top-level slack section (bot_token, signing_secret)"
            )
    default = slack.default_channel if slack is not None else None
    for name, policy in part.escalation_policies.items():
        tiers = join(join("escalation_policies", name), "tiers")
        for t, tier in enumerate(policy.tiers):
            for n, entry in enumerate(tier.notify):
                channel = channels.get(entry.channel)
                if channel is None or channel.type != "slack":
                    continue
                where = part.at(f"{tiers}[{t}].notify[{n}]")
                if entry.target:
                    text = check_slack_channel(entry.target)
                    if text is not None:
                        problems.append(f"{part.at(f'{tiers}[{t}].notify[{n}].target')}: {text}")
                elif not (channel.slack and channel.slack.channel) and not default:
                    problems.append(
                        f"{where}: channel {quote(entry.channel)} has no slack.channel and "
                        "slack.default_channel is not set, so this entry needs a target"
                    )
    return problems


def check_paging(part: Part, main: Config, channels: Mapping[str, ChannelConfig]) -> list[str]:
    """Each tier entry is one of channel, person, schedule and team, and names one that is
    defined; a file whose tiers page people has ``paging`` channels of the right types."""
    problems: list[str] = []
    defined = {
        "person": {p.id for p in main.people},
        "schedule": {s.id for s in main.schedules},
        "team": {t.id for t in main.teams},
    }
    for name, policy in part.escalation_policies.items():
        tiers = join(join("escalation_policies", name), "tiers")
        for t, tier in enumerate(policy.tiers):
            for n, entry in enumerate(tier.notify):
                path = f"{tiers}[{t}].notify[{n}]"
                kinds = [k for k in ("channel", *PEOPLE_KINDS) if getattr(entry, k)]
                if len(kinds) != 1:
                    found = ", ".join(kinds) if kinds else "none of them"
                    problems.append(
                        f"{part.at(path)}: expected exactly one of channel, person, schedule "
                        f"and team; found {found}"
                    )
                    continue
                people = entry.people
                if people is None:
                    continue
                kind, ident = people
                if entry.target:
                    problems.append(
                        f"{part.at(join(path, 'target'))}: a target goes with a channel, "
                        f"not with {kind}"
                    )
                if ident not in defined[kind]:
                    known = ", ".join(sorted(defined[kind])) or "none"
                    problems.append(
                        f"{part.at(join(path, kind))}: unknown {kind} {quote(ident)}; "
                        f"defined: {known}"
                    )
    return problems


def pages_people(part: Part) -> bool:
    """Whether a tier of ``part``'s policies pages people."""
    return any(
        entry.people is not None
        for policy in part.escalation_policies.values()
        for tier in policy.tiers
        for entry in tier.notify
    )


def check_paging_channels(
    top: Part, main: Config, channels: Mapping[str, ChannelConfig], needed: bool
) -> list[str]:
    """``paging`` names channels of the type of its key; when tiers page people (``needed``),
    it names at least one."""
    named = main.paging.channels()
    if needed and not named:
        return [
            f"{top.at('escalation_policies')}: tiers page people, but paging names no channel "
            "to reach them through (paging.slack, paging.email, paging.pagerduty)"
        ]
    problems: list[str] = []
    for kind, name in named.items():
        channel = channels.get(name)
        if channel is None:
            problems.append(
                f"{top.at(f'paging.{kind}')}: unknown channel {quote(name)}; "
                f"defined: {', '.join(sorted(channels))}"
            )
        elif channel.type != kind:  # the keys are named after the channel types
            problems.append(
                f"{top.at(f'paging.{kind}')}: channel {quote(name)} is of type "
                f"{channel.type}; expected a channel of type {kind}"
            )
    return problems


def check_routes(
    part: Part,
    policies: Mapping[str, EscalationPolicyConfig],
    first_use: dict[str, tuple[str, str]],
) -> list[str]:
    """``part``'s routes name defined policies, and names no route before them used."""
    problems: list[str] = []
    for index, route in enumerate(part.routes):
        path = f"routes[{index}]"
        first = first_use.setdefault(route.name, (part.source, path))
        if first != (part.source, path):
            other = first[1] if first[0] == part.source else f"{first[1]} in {first[0]}"
            problems.append(
                f"{part.at(f'{path}.name')}: duplicate route name {quote(route.name)}; "
                f"also used by {other}"
            )
        if route.escalation_policy not in policies:
            unknown = unknown_policy(route.escalation_policy, policies)
            problems.append(f"{part.at(f'{path}.escalation_policy')}: {unknown}")
    return problems


def check_people(config: Config) -> list[str]:
    """Person ids and Slack user ids are unique; every token's person is in ``people``."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    slack_ids: dict[str, int] = {}
    for index, person in enumerate(config.people):
        first = ids.setdefault(person.id, index)
        if first != index:
            problems.append(f"people[{index}].id: duplicates people[{first}].id")
        if person.slack_user_id is not None:
            first = slack_ids.setdefault(person.slack_user_id, index)
            if first != index:
                problems.append(
                    f"people[{index}].slack_user_id: duplicates people[{first}].slack_user_id"
                )
    defined = ", ".join(sorted(ids)) or "none (people is empty)"
    for index, token in enumerate(config.api.tokens):
        if token.person is not None and token.person not in ids:
            problems.append(
                f"api.tokens[{index}].person: unknown person {quote(token.person)}; "
                f"defined: {defined}"
            )
    return problems


def _unique(items: Sequence[str], key: str) -> list[str]:
    first_index: dict[str, int] = {}
    problems: list[str] = []
    for index, item in enumerate(items):
        first = first_index.setdefault(item, index)
        if first != index:
            problems.append(f"{key}[{index}].id: duplicates {key}[{first}].id")
    return problems


def check_oncall(config: Config) -> list[str]:
    """Team and schedule ids are unique, and every member they name is in ``people``."""
    ids = {person.id for person in config.people}
    defined = ", ".join(sorted(ids)) or "none (people is empty)"
    problems = _unique([t.id for t in config.teams], "teams")
    problems += _unique([s.id for s in config.schedules], "schedules")

    def known(path: str, person: str) -> None:
        if person not in ids:
            problems.append(f"{path}: unknown person {quote(person)}; defined: {defined}")

    for t, team in enumerate(config.teams):
        for m, member in enumerate(team.members):
            known(f"teams[{t}].members[{m}]", member)
    allow = HostAllowList(config.oncall.ical_hosts)
    for s, schedule in enumerate(config.schedules):
        for n, layer in enumerate(schedule.layers):
            for m, member in enumerate(layer.members):
                known(f"schedules[{s}].layers[{n}].members[{m}]", member)
        if schedule.ical is not None and schedule.ical.startswith(("http://", "https://")):
            problem = _ical_host_refusal(schedule.ical, allow)
            if problem is not None:
                problems.append(f"schedules[{s}].ical: {problem}")
    return problems


SILENCE_NEEDS = "needs the alertmanager section (the Alertmanager to create silences in)"


def check_maintenance(config: Config) -> list[str]:
    """Maintenance windows' names are unique; a window that silences has an Alertmanager to
    silence in."""
    first: dict[str, int] = {}
    problems: list[str] = []
    for index, window in enumerate(config.maintenance):
        if window.silence and config.alertmanager is None:
            problems.append(f"maintenance[{index}].silence: {SILENCE_NEEDS}")
        at = first.setdefault(window.name, index)
        if at != index:
            problems.append(f"maintenance[{index}].name: duplicates maintenance[{at}].name")
    return problems


def check_team_schedules(config: Config) -> list[str]:
    """A team's ``schedules`` (those its Slack user group follows) are defined, and name a
    user group to follow them with."""
    problems: list[str] = []
    defined = {s.id for s in config.schedules}
    known = ", ".join(sorted(defined)) or "none"
    for t, team in enumerate(config.teams):
        for s, schedule in enumerate(team.schedules):
            if schedule not in defined:
                problems.append(
                    f"teams[{t}].schedules[{s}]: unknown schedule {quote(schedule)}; "
                    f"defined: {known}"
                )
        if team.schedules and not team.slack_user_group:
            problems.append(
                f"teams[{t}].schedules: follows schedules with no slack_user_group to follow "
                "them with"
            )
    return problems


def _ical_host_refusal(url: str, allow: HostAllowList) -> str | None:
    """Why a calendar URL may not be fetched, as far as the configuration can tell (the
    addresses a listed name resolves to are checked again at each fetch)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "expected a URL with a host and, optionally, a numeric port"
    if not host:
        return "expected a URL with a host"
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        allowed = allow.name_allowed(host, port)
    else:
        allowed = allow.address_allowed(address, port)
    if allowed:
        return None
    return f"host {quote(host)} port {port} is not in oncall.ical_hosts"


def unknown_policy(name: str, policies: Mapping[str, EscalationPolicyConfig]) -> str:
    return f"unknown escalation policy {quote(name)}; defined: {', '.join(sorted(policies))}"
