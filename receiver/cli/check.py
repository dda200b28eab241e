"""``firebreak check-config`` and ``firebreak routes test``: what a configuration holds and
where it sends alerts, without starting anything."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from receiver.cli.loaded import Loaded
from receiver.config import Config, weak_secret_warnings
from receiver.durations import format_duration
from receiver.errors import InvalidInput, MatcherError
from receiver.hostallow import range_warnings
from receiver.matchers import MatchOp, parse_matcher_args
from receiver.routing import Router

if TYPE_CHECKING:
    from receiver.oncall.ical import Calendar


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
    return found + range_warnings(config.automation.http_allow) + schedule_warnings(config)


# How far ahead check-config and serve look for gaps in the schedules.
CHECK_WEEKS = 4


def schedule_warnings(config: Config, now: datetime | None = None) -> list[str]:
    """Gaps and idle layers of the configured schedules over the next ``CHECK_WEEKS`` weeks,
    before any override (``firebreak schedules check`` counts those, and fetches calendar
    URLs); a calendar file is read, a calendar URL is not fetched here."""
    if not config.schedules:
        return []
    from receiver.oncall import OnCall
    from receiver.oncall.checks import coverage_problems

    start = now or datetime.now(UTC)
    calendars: dict[str, Calendar] = {}
    found: list[str] = []
    for schedule in config.schedules:
        if schedule.ical is None:
            continue
        if schedule.ical.startswith(("http://", "https://")):
            found.append(
                f"schedule {schedule.id}: its calendar URL is not fetched here; "
                "firebreak schedules check reads it"
            )
            continue
        try:
            calendars[schedule.id] = _calendar_file(config, schedule.ical, schedule.time_zone)
        except (OSError, InvalidInput) as exc:
            found.append(f"schedule {schedule.id}: calendar not read: {exc}")
    oncall = OnCall(config.schedules, config.people, (), calendars)
    checked = tuple(s.id for s in config.schedules if s.ical is None or s.id in calendars)
    end = start + timedelta(weeks=CHECK_WEEKS)

    def unknown(sid: str) -> set[str]:
        return calendars[sid].unknown if sid in calendars else set()

    return found + coverage_problems(oncall, start, end, unknown, checked)


def _calendar_file(config: Config, path: str, zone: str) -> Calendar:
    from zoneinfo import ZoneInfo

    from receiver.oncall.ical import Calendar

    base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
    with open(os.path.join(base, path), "rb") as file:
        return Calendar(file.read(), ZoneInfo(zone), config.people)


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
