"""Channels, escalation policies and routes: their problems, and the references between them."""

from __future__ import annotations

import pytest

from receiver.errors import ConfigError
from tests.unit.config.common import HOOK, SECRET, parse, problems

MAIL = "type: email, email: {host: h, sender: f@example.com}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: []", "1:1: channels: expected a mapping, got a list"),
        ("channels: {c: {}}", "1:12: channels.c.type: required key is missing"),
        (
            "channels: {c: {type: sms}}",
            "1:16: channels.c.type: expected one of log, webhook, email, pagerduty, slack, "
            'teams, got "sms"',
        ),
        (
            "channels: {c: {type: webhook}}",
            "1:12: channels.c.webhook: required when type is webhook",
        ),
        ("channels: {c: {type: email}}", "1:12: channels.c.email: required when type is email"),
        (
            "channels: {c: {type: log, email: {host: h, sender: f@example.com}}}",
            "1:27: channels.c.email: not allowed when type is log",
        ),
        (
            f"channels: {{c: {{{HOOK}, email: {{host: h, sender: f@example.com}}}}}}",
            "1:60: channels.c.email: not allowed when type is webhook",
        ),
        (
            "channels: {c: {type: email, email: {sender: f@example.com}}}",
            "1:29: channels.c.email.host: required key is missing",
        ),
        (
            "channels: {c: {type: email, email: {host: h}}}",
            "1:29: channels.c.email.sender: required key is missing",
        ),
        (
            "channels: {c: {type: email, email: {host: '', sender: f@example.com}}}",
            "1:37: channels.c.email.host: must not be empty",
        ),
        (
            "channels: {c: {type: email, email: {host: h, port: 0, sender: f@example.com}}}",
            "1:46: channels.c.email.port: must be between 1 and 65535",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: firebreak}}}",
            "1:46: channels.c.email.sender: expected an email address such as oncall@example.com",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, to: [a@b, x]}}}",
            "1:79: channels.c.email.to[1]: expected an email address such as oncall@example.com",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, to: x}}}",
            "1:69: channels.c.email.to: expected an email address such as oncall@example.com",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, to: 5}}}",
            "1:69: channels.c.email.to: expected an email address or a list of them, got a number",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: 'a@b\nBcc: x@y'}}}",
            "1:46: channels.c.email.sender: expected an email address such as oncall@example.com",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, use_tls: true}}}",
            "1:69: channels.c.email.use_tls: cannot be combined with starttls; "
            "set starttls: false for TLS from the start",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, username: u}}}",
            "1:29: channels.c.email.password: required when username is set",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, password: p}}}",
            "1:29: channels.c.email.username: required when password is set",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, timeout: 0s}}}",
            "1:69: channels.c.email.timeout: must be longer than 0s",
        ),
        (
            "channels: {c: {type: email, email: {host: h, sender: f@example.com, ca_file: ''}}}",
            "1:69: channels.c.email.ca_file: must not be empty",
        ),
        (
            "channels: {c: {type: webhook, webhook: {url: 'ftp://x'}}}",
            "1:41: channels.c.webhook.url: expected a URL starting with http:// or https://",
        ),
        (
            "channels: {c: {type: webhook, webhook: {url: 'https://h', secret: ''}}}",
            "1:59: channels.c.webhook.secret: must not be empty",
        ),
        (
            "channels: {c: {type: webhook, webhook: {url: 'https://h', headers: {'X Y': v}}}}",
            '1:69: channels.c.webhook.headers["X Y"]: not a valid HTTP header name',
        ),
        (
            "channels: {c: {type: webhook, webhook: "
            "{url: 'https://h', headers: {X: \"a\\r\\nB: c\"}}}}",
            "1:69: channels.c.webhook.headers.X: must not contain line breaks or NUL characters",
        ),
        (
            "channels: {c: {type: webhook, webhook: {url: 'https://h', headers: {X: 1}}}}",
            "1:69: channels.c.webhook.headers.X: expected a string, got a number",
        ),
        (
            f"channels: {{c: {{{HOOK}, rate_limit: {{per_minute: 0}}}}}}",
            "1:73: channels.c.rate_limit.per_minute: must be greater than 0",
        ),
        (
            f"channels: {{c: {{{HOOK}, rate_limit: {{per_minute: .nan}}}}}}",
            "1:73: channels.c.rate_limit.per_minute: must be greater than 0",
        ),
        (
            f"channels: {{c: {{{HOOK}, rate_limit: {{burst: 0}}}}}}",
            "1:73: channels.c.rate_limit.burst: must be greater than 0",
        ),
        (
            f"channels: {{c: {{{HOOK}, breaker: {{failure_threshold: 0}}}}}}",
            "1:70: channels.c.breaker.failure_threshold: must be greater than 0",
        ),
        (
            f"channels: {{c: {{{HOOK}, breaker: {{open_cooldown: 0s}}}}}}",
            "1:70: channels.c.breaker.open_cooldown: must be longer than 0s",
        ),
        (
            f"channels: {{c: {{{HOOK}, breaker: {{half_open_probe_count: 0}}}}}}",
            "1:70: channels.c.breaker.half_open_probe_count: must be greater than 0",
        ),
        (
            "escalation_policies: {p: {}}",
            "1:23: escalation_policies.p.tiers: required key is missing",
        ),
        (
            "escalation_policies: {p: {tiers: []}}",
            "1:27: escalation_policies.p.tiers: must not be empty",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [log]}], repeat: -1}}",
            "1:53: escalation_policies.p.repeat: must be 0 or greater",
        ),
        (
            "escalation_policies: {p: {tiers: [{after: 1m}]}}",
            "1:35: escalation_policies.p.tiers[0].notify: required key is missing",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: []}]}}",
            "1:36: escalation_policies.p.tiers[0].notify: must not be empty",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [log, 3]}]}}",
            "1:50: escalation_policies.p.tiers[0].notify[1]: "
            "expected a channel name or a mapping with channel and target, or with person, "
            "schedule or team, got a number",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: ['']}]}}",
            "1:45: escalation_policies.p.tiers[0].notify[0]: expected exactly one of channel, "
            "person, schedule and team; found none of them",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [{target: x}]}]}}",
            "1:45: escalation_policies.p.tiers[0].notify[0]: expected exactly one of channel, "
            "person, schedule and team; found none of them",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [{channel: log, to: x}]}]}}",
            "1:60: escalation_policies.p.tiers[0].notify[0].to: "
            "unknown key; expected one of: channel, person, schedule, target, team",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [log], after: -1m}]}}",
            "1:51: escalation_policies.p.tiers[0].after: "
            'expected a duration such as 30s, 5m or 1h30m, got "-1m"',
        ),
        ("routes: {a: 1}", "1:1: routes: expected a list, got a mapping"),
        ("routes: [{}]", "1:10: routes[0].escalation_policy: required key is missing"),
        (
            "routes: [{escalation_policy: ''}]",
            "1:11: routes[0].escalation_policy: must not be empty",
        ),
        (
            "routes: [{escalation_policy: default, name: ''}]",
            "1:39: routes[0].name: must not be empty",
        ),
        (
            "routes: [{escalation_policy: default, match: ['a=\"b\"', 'severity=~\"(\"']}]",
            '1:56: routes[0].match[1]: invalid regular expression "(" in severity=~"(": '
            "missing ): (",
        ),
        (
            "routes: [{escalation_policy: default, match: 'team'}]",
            '1:39: routes[0].match: expected an operator (=, !=, =~, !~) after "team" at '
            "position 4",
        ),
        (
            "routes: [{escalation_policy: default, match: 5}]",
            "1:39: routes[0].match: expected a matcher string or a list of them, got a number",
        ),
        (
            "routes: [{escalation_policy: default, match: {team: db}}]",
            "1:39: routes[0].match: expected a matcher string or a list of them, got a mapping",
        ),
        (
            "routes: [{escalation_policy: default, match: [1]}]",
            "1:47: routes[0].match[0]: expected a string, got a number",
        ),
        (
            "routes: [{escalation_policy: default, continue: yes}]",
            '1:39: routes[0].continue: expected true or false, got "yes"',
        ),
        (
            # The Python field name is not a key: the message lists the YAML names.
            "routes: [{escalation_policy: default, continue_: true}]",
            "1:39: routes[0].continue_: unknown key; did you mean continue?",
        ),
        (
            "default_route: {escalation_policy: ''}",
            "1:17: default_route.escalation_policy: must not be empty",
        ),
        (
            "default_route: {policy: x}",
            "1:17: default_route.policy: unknown key; expected one of: escalation_policy",
        ),
        (
            "notifications: {group_window: soon}",
            "1:17: notifications.group_window: expected a duration such as 30s, 5m or 1h30m, "
            'got "soon"',
        ),
        (
            "notifications: {tier_order_wait: [1m]}",
            "1:17: notifications.tier_order_wait: expected a duration such as 30s, 5m or 1h30m, "
            "got a list",
        ),
        ("jobs: {workers: 0}", "1:8: jobs.workers: must be greater than 0"),
        ("jobs: {lease: 0s}", "1:8: jobs.lease: must be longer than 0s"),
        ("jobs: {max_attempts: 0}", "1:8: jobs.max_attempts: must be greater than 0"),
        ("jobs: {backoff_initial: 0s}", "1:8: jobs.backoff_initial: must be longer than 0s"),
        (
            "jobs: {backoff_initial: 10m}",
            "1:1: jobs.backoff_max: must be at least backoff_initial (10m)",
        ),
        (
            "jobs: {backoff_initial: 2s, backoff_max: 1500ms}",
            "1:29: jobs.backoff_max: must be at least backoff_initial (2s)",
        ),
        ("jobs: {poll_interval: 0s}", "1:8: jobs.poll_interval: must be longer than 0s"),
        ("include: 5", "1:1: include: expected a glob pattern or a list of them, got a number"),
        ("include: ['']", "1:11: include[0]: must not be empty"),
        (
            "include: teams/*.yml",
            "1:1: include: not supported here: the configuration was not read from a file, "
            "so there is no directory to resolve patterns in",
        ),
    ],
)
def test_escalation_problem_messages(text: str, expected: str) -> None:
    assert problems(text) == [f"f.yml:{expected}"]


def test_cross_references() -> None:
    assert problems(
        f"""
        channels:
          ops-mail: {{{MAIL}}}
          ops-hook: {{{HOOK}}}
        escalation_policies:
          critical:
            tiers:
              - notify: [ops-hook, {{channel: ops-mail, target: dba@example.com}}, pager]
              - notify: [ops-mail]
        routes:
          - {{name: database, escalation_policy: crit}}
          - {{name: database, escalation_policy: critical}}
          - {{escalation_policy: critical}}
          - {{name: "routes[2]", escalation_policy: default}}
        default_route: {{escalation_policy: fallback}}
        """
    ) == [
        'f.yml:8:74: escalation_policies.critical.tiers[0].notify[2]: unknown channel "pager"; '
        "defined: log, ops-hook, ops-mail",
        'f.yml:9:18: escalation_policies.critical.tiers[1].notify[0]: channel "ops-mail" has no '
        "email.to addresses, so this entry needs a target",
        'f.yml:11:22: routes[0].escalation_policy: unknown escalation policy "crit"; '
        "defined: critical, default",
        'f.yml:12:6: routes[1].name: duplicate route name "database"; also used by routes[0]',
        'f.yml:14:6: routes[3].name: duplicate route name "routes[2]"; also used by routes[2]',
        'f.yml:15:17: default_route.escalation_policy: unknown escalation policy "fallback"; '
        "defined: critical, default",
    ]


def test_cross_references_wait_for_a_valid_file() -> None:
    # A channel that failed to convert is not also reported as unknown where a tier names it.
    assert problems(
        """
        channels: {hook: {type: webhook, webhook: {url: 'ftp://x'}}}
        escalation_policies: {p: {tiers: [{notify: [hook]}]}}
        """
    ) == ["f.yml:2:44: channels.hook.webhook.url: expected a URL starting with http:// or https://"]


def test_escalation_secrets_never_appear() -> None:
    config = parse(
        f"""
        channels:
          hook:
            type: webhook
            webhook:
              url: "https://hooks.example.com/{SECRET}1"
              secret: "{SECRET}2"
              headers: {{Authorization: "Bearer {SECRET}3"}}
          mail:
            type: email
            email: {{host: h, sender: f@example.com, username: u, password: "{SECRET}4"}}
        """
    )
    assert SECRET not in repr(config)
    assert "hooks.example.com" not in repr(config)
    with pytest.raises(ConfigError) as info:
        parse(
            f"""
            channels:
              hook:
                type: webhook
                webhook:
                  url: "ftp://{SECRET}"
                  secret: ["{SECRET}"]
                  headers: {{X: ["{SECRET}"], Y: "{SECRET}"}}
              mail:
                type: email
                email: {{host: h, sender: f@example.com, username: u, password: ["{SECRET}"]}}
            """
        )
    assert info.value.problems == [
        "f.yml:6:7: channels.hook.webhook.url: expected a URL starting with http:// or https://",
        "f.yml:7:7: channels.hook.webhook.secret: expected a string, got a list",
        "f.yml:8:17: channels.hook.webhook.headers.X: expected a string, got a list",
        "f.yml:11:58: channels.mail.email.password: expected a string, got a list",
    ]
    [message] = problems(
        f"""
        channels:
          hook: {{type: webhook, webhook: {{url: "https://h", headers: {{Y: "{SECRET}\\n"}}}}}}
        """
    )
    assert (
        message
        == "f.yml:3:63: channels.hook.webhook.headers.Y: must not contain line breaks or NUL "
        "characters"
    )
