"""``firebreak check-config`` and ``firebreak routes test``: what a configuration holds and
where it sends alerts, without starting anything."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from receiver.cli.loaded import Loaded
from receiver.config import Config, weak_secret_warnings
from receiver.durations import format_duration
from receiver.errors import MatcherError
from receiver.hostallow import range_warnings
from receiver.matchers import MatchOp, parse_matcher_args
from receiver.routing import Router


def check_config(_args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak check-config``: what the configuration holds, and its warnings."""
    path, config, runbooks = loaded.path, loaded.config, loaded.runbooks
    runbook_warnings, automation = loaded.runbook_warnings, loaded.automation
    print(f"Checking '{path}'  SUCCESS")
    overridden = f" ({config.listen_from})" if config.listen_from != "listen" else ""
    print(f"  listen: {config.listen}{overridden}")
    print(f"  database: {config.database.url.split('://', 1)[0]}")
    print(f"  api tokens: {len(config.api.tokens)}")
    print(f"  channels: {len(config.channels)}")
    print(f"  escalation policies: {len(config.escalation_policies)}")
    print(f"  routes: {len(config.routes)}")
    if runbooks:
        print(f"  runbooks: {runbooks}")
    if automation:
        print(f"  {automation}")
    if config.slack is not None:
        slack = config.slack
        print(
            f"  slack: {slack.command} at {slack.path}, {len(slack.users)} users, "
            f"{len(slack.user_groups)} user groups"
        )
    if config.included:
        print(f"  included files: {', '.join(config.included)}")
    for warning in [*config_warnings(config), *runbook_warnings]:
        print(f"  warning: {warning}")
    return 0


def config_warnings(config: Config) -> list[str]:
    """What in a valid configuration deserves a warning at check-config and at start."""
    found = weak_secret_warnings(config)
    auth = config.webhook.auth
    if not auth.bearer_tokens and auth.basic_auth is None:
        found.append(
            "webhook.auth: no credentials configured; anyone who can reach the port can post alerts"
        )
    if not config.api.tokens:
        found.append("api.tokens: no tokens configured; the REST API will refuse every request")
    paging = sorted(name for name, c in config.channels.items() if c.type == "pagerduty")
    if paging and not config.pagerduty.webhook_secrets:
        found.append(
            "pagerduty.webhook_secrets: none configured; acknowledgements made in PagerDuty "
            f"will not reach Firebreak (channels: {', '.join(paging)})"
        )
    slack = config.slack
    if slack is not None and not (slack.users or slack.user_groups or slack.default_role):
        found.append(
            "slack: no users, user_groups or default_role; every Slack command will be refused"
        )
    return found + range_warnings(config.automation.http_allow)


def label_set(args: Sequence[str]) -> dict[str, str]:
    """amtool-style ``name=value`` arguments as a label set; raises ``MatcherError``."""
    labels: dict[str, str] = {}
    for matcher in parse_matcher_args(args, field="labels"):
        if matcher.op is not MatchOp.EQ:
            raise MatcherError("labels", f"{matcher} is not a label; write name=value")
        if matcher.name in labels:
            raise MatcherError("labels", f"label {matcher.name} is given twice")
        labels[matcher.name] = matcher.value
    return labels


def routes_test(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak routes test``: the routes alerts with these labels match, and their tiers."""
    config, labels, verify_policy = loaded.config, args.label_set, args.verify_policy
    matches = Router(config).route(labels)
    for match in matches:
        print(f"{match.route} -> {match.escalation_policy}")
        policy = config.escalation_policies.get(match.escalation_policy)
        if policy is None:  # only a Config built in code can name a policy it lacks
            continue
        for number, tier in enumerate(policy.tiers, start=1):
            targets = ", ".join(str(target) for target in tier.notify)
            print(f"  tier {number} after {format_duration(tier.after)}: {targets}")
        if policy.repeat:
            print(f"  repeat: {policy.repeat}")
    first = matches[0]
    if verify_policy is not None and first.escalation_policy != verify_policy:
        print(
            f'FAILED: expected escalation policy "{verify_policy}", but route "{first.route}" '
            f'leads to "{first.escalation_policy}"',
            file=sys.stderr,
        )
        return 1
    return 0
