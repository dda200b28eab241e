"""Loading and validating the configuration file."""

from __future__ import annotations

import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.config import (
    DEFAULT_POLICY,
    LOG_CHANNEL,
    ApiConfig,
    ApiToken,
    BasicAuth,
    BreakerConfig,
    ChannelConfig,
    Config,
    DatabaseConfig,
    DefaultRouteConfig,
    EmailChannelConfig,
    EscalationPolicyConfig,
    IngestConfig,
    JobsConfig,
    LogConfig,
    NotificationsConfig,
    NotifyTarget,
    RateLimitConfig,
    RouteConfig,
    Shorthand,
    TierConfig,
    WebhookAuth,
    WebhookChannelConfig,
    WebhookConfig,
    from_data,
    load_config,
    parse_config,
)
from receiver.errors import ConfigError
from receiver.model import Role

EXAMPLE = Path(__file__).resolve().parents[2] / "firebreak.example.yml"
SECRET = "s3cr3t-Value-that-must-not-leak"
TOP_LEVEL_KEYS = (
    "alertmanager, api, automation, channels, database, default_route, escalation_policies, "
    "grafana, include, ingest, jobs, listen, log, notifications, pagerduty, people, retention, "
    "routes, shutdown_grace, slack, tls, tracing, watchdog, webhook"
)


def parse(text: str, env: Mapping[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), source="f.yml", env={} if env is None else env)


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- the example file and defaults ------------------------------------------------------------


def test_example_file_loads_without_environment() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.source == str(EXAMPLE)
    assert config.listen == "127.0.0.1:9095"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 9095)
    # Relative to the file: the same database from whatever directory a command runs in.
    assert config.database.url == f"sqlite+aiosqlite:///{EXAMPLE.parent / 'firebreak.db'}"
    assert config.log.format == "console"
    assert config.webhook.auth.bearer_tokens == ("change-me-webhook",)
    assert [(t.token, t.role) for t in config.api.tokens] == [
        ("change-me-admin", Role.ADMIN),
        ("change-me-viewer", Role.VIEWER),
    ]
    assert dict(config.channels) == {"log": ChannelConfig(type="log")}
    assert set(config.escalation_policies) == {"default", "critical"}
    assert config.escalation_policies["default"] == Config().escalation_policies["default"]
    assert [(r.name, r.escalation_policy) for r in config.routes] == [("critical", "critical")]
    assert config.default_route == DefaultRouteConfig(escalation_policy="default")
    assert config.notifications == NotificationsConfig()
    assert config.jobs == JobsConfig()
    assert config.included == ()


def test_automation_is_a_dry_run_until_the_configuration_says_live() -> None:
    assert parse_config("", env={}).automation.mode == "dry_run"
    assert parse_config("automation: {mode: live}", env={}).automation.mode == "live"
    with pytest.raises(ConfigError) as info:
        parse("automation: {mode: on}")
    assert info.value.problems == [
        'f.yml:1:14: automation.mode: expected one of live, dry_run, got "on"'
    ]
    # make run acts on nothing: the example stays in dry run and opens no host or program.
    example = load_config(EXAMPLE, env={}).automation
    assert (example.mode, example.http_allow, example.shell_allow) == ("dry_run", (), ())


def test_example_file_takes_secrets_from_environment() -> None:
    env = {"FIREBREAK_WEBHOOK_TOKEN": "hook", "FIREBREAK_ADMIN_TOKEN": SECRET}
    config = load_config(str(EXAMPLE), env=env)
    assert config.webhook.auth.bearer_tokens == ("hook",)
    assert config.api.tokens[0].token == SECRET
    assert SECRET not in repr(config)


def test_load_config_reads_os_environ_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "c.yml"
    path.write_text("webhook: {auth: {bearer_tokens: ['${FIREBREAK_TEST_TOKEN}']}}\n")
    monkeypatch.setenv("FIREBREAK_TEST_TOKEN", "from-env")
    assert load_config(path).webhook.auth.bearer_tokens == ("from-env",)
    monkeypatch.delenv("FIREBREAK_TEST_TOKEN")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}:1:34: webhook.auth.bearer_tokens[0]: "
        "environment variable FIREBREAK_TEST_TOKEN is not set"
    ]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file_gives_defaults(text: str) -> None:
    assert parse(text) == Config(source="f.yml")


def test_defaults() -> None:
    config = Config()
    assert config.listen == "127.0.0.1:9095"
    assert config.database == DatabaseConfig(
        url="sqlite+aiosqlite:///firebreak.db", sqlite_synchronous="full", pool_size=10
    )
    assert config.webhook == WebhookConfig(
        auth=WebhookAuth(bearer_tokens=(), basic_auth=None), max_body_bytes=5_242_880
    )
    assert config.api == ApiConfig(tokens=())
    assert config.log == LogConfig(
        level="info",
        format="json",
        file=None,
        file_max_bytes=10_485_760,
        file_backups=5,
        access=False,
    )
    assert config.ingest == IngestConfig(max_batch_alerts=5000)


def test_section_with_every_key_commented_out_gives_defaults() -> None:
    assert parse("webhook:\n  # auth: ...\nlog:\n") == Config(source="f.yml")
    # Lists and mappings too: channels, policies and routes with every entry commented out.
    assert parse("channels:\nescalation_policies:\nroutes:\ninclude:\n") == Config(source="f.yml")


def test_escalation_defaults() -> None:
    config = Config()
    assert dict(config.channels) == {LOG_CHANNEL: ChannelConfig(type="log")}
    assert config.channels["log"] == ChannelConfig(
        type="log",
        email=None,
        webhook=None,
        rate_limit=RateLimitConfig(per_minute=10.0, burst=20),
        breaker=BreakerConfig(
            failure_threshold=5, open_cooldown=timedelta(seconds=60), half_open_probe_count=3
        ),
    )
    assert dict(config.escalation_policies) == {
        DEFAULT_POLICY: EscalationPolicyConfig(
            tiers=(TierConfig(after=timedelta(0), notify=(NotifyTarget(channel="log"),)),),
            repeat=0,
        )
    }
    assert config.include == ()
    assert config.routes == ()
    assert config.default_route == DefaultRouteConfig(escalation_policy="default")
    assert config.notifications == NotificationsConfig(group_window=timedelta(seconds=2))
    assert config.jobs == JobsConfig(
        workers=16,
        lease=timedelta(seconds=60),
        max_attempts=10,
        backoff_initial=timedelta(seconds=1),
        backoff_max=timedelta(minutes=5),
        poll_interval=timedelta(seconds=5),
    )
    assert RouteConfig(escalation_policy="p") == RouteConfig(
        name="", match=(), escalation_policy="p", continue_=False
    )
    assert EmailChannelConfig(host="h", sender="s@x") == EmailChannelConfig(
        host="h",
        port=587,
        starttls=True,
        use_tls=False,
        username=None,
        password=None,
        sender="s@x",
        to=(),
        timeout=timedelta(seconds=10),
        ca_file=None,
    )
    assert WebhookChannelConfig(url="https://x") == WebhookChannelConfig(
        url="https://x", secret=None, timeout=timedelta(seconds=10), headers={}
    )
    assert NotifyTarget(channel="c") == NotifyTarget(channel="c", target="")


# --- every key round-trips --------------------------------------------------------------------


def test_every_key_round_trips() -> None:
    config = parse(
        """
        listen: "[::1]:8080"
        database:
          url: postgresql+asyncpg://firebreak@db/firebreak
          sqlite_synchronous: normal
          pool_size: 3
        webhook:
          auth:
            bearer_tokens: [one, two]
            basic_auth: {username: am, password: pw}
          max_body_bytes: 1024
        api:
          tokens:
            - {token: t1, role: admin, name: ops-bot}
            - {token: t2, role: responder}
            - {token: t3, role: viewer, name: null}
        log:
          level: debug
          format: console
          file: /var/log/firebreak.log
          file_max_bytes: 2048
          file_backups: 0
          access: true
        ingest:
          max_batch_alerts: 7
        """
    )
    assert config == Config(
        listen="[::1]:8080",
        database=DatabaseConfig(
            url="postgresql+asyncpg://firebreak@db/firebreak",
            sqlite_synchronous="normal",
            pool_size=3,
        ),
        webhook=WebhookConfig(
            auth=WebhookAuth(
                bearer_tokens=("one", "two"), basic_auth=BasicAuth(username="am", password="pw")
            ),
            max_body_bytes=1024,
        ),
        api=ApiConfig(
            tokens=(
                ApiToken(token="t1", role=Role.ADMIN, name="ops-bot"),
                ApiToken(token="t2", role=Role.RESPONDER),
                ApiToken(token="t3", role=Role.VIEWER, name=None),
            )
        ),
        log=LogConfig(
            level="debug",
            format="console",
            file="/var/log/firebreak.log",
            file_max_bytes=2048,
            file_backups=0,
            access=True,
        ),
        ingest=IngestConfig(max_batch_alerts=7),
        source="f.yml",
    )
    assert (config.listen_host, config.listen_port) == ("::1", 8080)
    assert type(config.api.tokens) is tuple
    assert type(config.api.tokens[0].role) is Role


def test_every_escalation_key_round_trips() -> None:
    config = parse(
        """
        channels:
          ops-mail:
            type: email
            email:
              host: smtp.example.com
              port: 465
              starttls: false
              use_tls: true
              username: firebreak
              password: pw
              sender: "Firebreak <firebreak@example.com>"
              to: [oncall@example.com, dba@example.com]
              timeout: 5s
              ca_file: /etc/ssl/ca.pem
            rate_limit: {per_minute: 0.5, burst: 3}
            breaker: {failure_threshold: 2, open_cooldown: 2m, half_open_probe_count: 1}
          ops-hook:
            type: webhook
            webhook:
              url: "https://hooks.example.com/firebreak"
              secret: hook-secret
              timeout: 3s
              headers: {X-Team: sre}
        escalation_policies:
          critical:
            repeat: 2
            tiers:
              - after: 0s
                notify: [ops-hook, {channel: ops-mail, target: "dba@example.com"}]
              - after: 15m
                notify: [{channel: ops-mail}]
        routes:
          - name: database
            match: ['team="db"', 'severity=~"critical|page"']
            escalation_policy: critical
            continue: true
          - match: '{team="web"}'
            escalation_policy: default
          - escalation_policy: default
        default_route: {escalation_policy: critical}
        notifications: {group_window: 500ms}
        jobs:
          workers: 2
          lease: 30s
          max_attempts: 3
          backoff_initial: 2s
          backoff_max: 2s
          poll_interval: 1s
        """
    )
    assert dict(config.channels) == {
        "ops-mail": ChannelConfig(
            type="email",
            email=EmailChannelConfig(
                host="smtp.example.com",
                port=465,
                starttls=False,
                use_tls=True,
                username="firebreak",
                password="pw",
                sender="Firebreak <firebreak@example.com>",
                to=("oncall@example.com", "dba@example.com"),
                timeout=timedelta(seconds=5),
                ca_file="/etc/ssl/ca.pem",
            ),
            rate_limit=RateLimitConfig(per_minute=0.5, burst=3),
            breaker=BreakerConfig(
                failure_threshold=2,
                open_cooldown=timedelta(minutes=2),
                half_open_probe_count=1,
            ),
        ),
        "ops-hook": ChannelConfig(
            type="webhook",
            webhook=WebhookChannelConfig(
                url="https://hooks.example.com/firebreak",
                secret="hook-secret",
                timeout=timedelta(seconds=3),
                headers={"X-Team": "sre"},
            ),
        ),
        "log": ChannelConfig(type="log"),  # built in: the file defines no "log"
    }
    assert dict(config.escalation_policies) == {
        "critical": EscalationPolicyConfig(
            repeat=2,
            tiers=(
                TierConfig(
                    after=timedelta(0),
                    notify=(
                        NotifyTarget(channel="ops-hook"),
                        NotifyTarget(channel="ops-mail", target="dba@example.com"),
                    ),
                ),
                TierConfig(after=timedelta(minutes=15), notify=(NotifyTarget("ops-mail"),)),
            ),
        ),
        "default": Config().escalation_policies["default"],
    }
    assert config.routes == (
        RouteConfig(
            name="database",
            match=('team="db"', 'severity=~"critical|page"'),
            escalation_policy="critical",
            continue_=True,
        ),
        RouteConfig(name="routes[1]", match=('{team="web"}',), escalation_policy="default"),
        RouteConfig(name="routes[2]", match=(), escalation_policy="default"),
    )
    assert config.default_route == DefaultRouteConfig(escalation_policy="critical")
    assert config.notifications == NotificationsConfig(group_window=timedelta(milliseconds=500))
    assert config.jobs == JobsConfig(
        workers=2,
        lease=timedelta(seconds=30),
        max_attempts=3,
        backoff_initial=timedelta(seconds=2),
        backoff_max=timedelta(seconds=2),
        poll_interval=timedelta(seconds=1),
    )
    assert isinstance(config.channels, types.MappingProxyType)
    assert isinstance(config.escalation_policies, types.MappingProxyType)
    assert type(config.routes) is tuple
    assert [str(t) for t in config.escalation_policies["critical"].tiers[0].notify] == [
        "ops-hook",
        "ops-mail:dba@example.com",
    ]


def test_short_forms() -> None:
    config = parse(
        """
        channels:
          m: {type: email, email: {host: h, sender: f@example.com, to: one@example.com}}
        escalation_policies:
          p: {tiers: [{notify: [m]}]}
        routes:
          - {match: 'team="db"', escalation_policy: p}
        """
    )
    assert config.channels["m"].email is not None
    assert config.channels["m"].email.to == ("one@example.com",)
    assert config.routes[0].match == ('team="db"',)
    assert problems("escalation_policies: {p: {tiers: [{notify: log}]}}") == [
        'f.yml:1:36: escalation_policies.p.tiers[0].notify: expected a list, got "log"'
    ]


def test_builtin_channel_and_policy_give_way_to_the_file() -> None:
    config = parse(
        """
        channels:
          log: {type: webhook, webhook: {url: "http://127.0.0.1:9/"}}
        escalation_policies:
          default: {tiers: [{after: 5m, notify: [log]}]}
        """
    )
    assert config.channels["log"].type == "webhook"
    assert config.escalation_policies["default"].tiers[0].after == timedelta(minutes=5)
    config = parse("channels: {hook: {type: webhook, webhook: {url: 'https://x'}}}")
    assert sorted(config.channels) == ["hook", "log"]
    assert sorted(config.escalation_policies) == ["default"]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:9095", "127.0.0.1", 9095),
        ("0.0.0.0:1", "0.0.0.0", 1),
        ("localhost:65535", "localhost", 65535),
        ("[::1]:9095", "::1", 9095),
        ("[::]:80", "::", 80),
    ],
)
def test_listen_host_and_port(listen: str, host: str, port: int) -> None:
    config = parse(f'listen: "{listen}"')
    assert (config.listen_host, config.listen_port) == (host, port)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("9095", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        (":9095", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("host:", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("host:http", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("::1:9095", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("[::1]9095", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("my host:80", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
        ("host:0", "port must be between 1 and 65535"),
        ("host:65536", "port must be between 1 and 65535"),
        ("host:123456", "expected host:port such as 127.0.0.1:9095 or [::1]:9095"),
    ],
)
def test_listen_invalid(listen: str, expected: str) -> None:
    assert problems(f'listen: "{listen}"') == [f"f.yml:1:1: listen: {expected}"]


def test_listen_parts_of_an_unchecked_config_raise() -> None:
    with pytest.raises(ValueError, match="listen"):
        _ = Config(listen="nonsense").listen_port


# --- problem messages -------------------------------------------------------------------------


WEBHOOK_KEYS = "auth, max_body_bytes, trusted_senders"


def test_unknown_keys() -> None:
    assert problems(
        """
        lisen: x
        webhook:
          autth: {}
          "a b": 1
          1: 2
        api:
          tokens: [{token: t, role: admin, nmae: x}]
        """
    ) == [
        "f.yml:2:1: lisen: unknown key; did you mean listen?",
        "f.yml:4:3: webhook.autth: unknown key; did you mean auth?",
        f'f.yml:5:3: webhook["a b"]: unknown key; expected one of: {WEBHOOK_KEYS}',
        f"f.yml:6:3: webhook.1: unknown key; expected one of: {WEBHOOK_KEYS}",
        "f.yml:8:36: api.tokens[0].nmae: unknown key; did you mean name?",
    ]


def test_internal_field_is_not_a_key() -> None:
    assert problems("source: x\nincluded: []") == [
        f"f.yml:1:1: source: unknown key; expected one of: {TOP_LEVEL_KEYS}",
        "f.yml:2:1: included: unknown key; did you mean include?",
    ]


def test_required_keys() -> None:
    assert problems(
        """
        api:
          tokens:
            - {token: t}
            - {role: admin}
        webhook: {auth: {basic_auth: {}}}
        """
    ) == [
        # A key that is missing is placed where the mapping that lacks it is written.
        "f.yml:6:18: webhook.auth.basic_auth.username: required key is missing",
        "f.yml:6:18: webhook.auth.basic_auth.password: required key is missing",
        "f.yml:4:7: api.tokens[0].role: required key is missing",
        "f.yml:5:7: api.tokens[1].token: give token or token_sha256 (exactly one)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("listen: 9095", "1:1: listen: expected a string, got a number"),
        ("listen: null", "1:1: listen: expected a string, got null"),
        ("listen: [a]", "1:1: listen: expected a string, got a list"),
        ("listen: {a: 1}", "1:1: listen: expected a string, got a mapping"),
        ("listen: true", "1:1: listen: expected a string, got true"),
        ("webhook: []", "1:1: webhook: expected a mapping, got a list"),
        ("webhook: abc", '1:1: webhook: expected a mapping, got "abc"'),
        (
            "webhook: {max_body_bytes: abc}",
            '1:11: webhook.max_body_bytes: expected an integer, got "abc"',
        ),
        (
            "webhook: {max_body_bytes: true}",
            "1:11: webhook.max_body_bytes: expected an integer, got true",
        ),
        (
            "webhook: {max_body_bytes: 1.5}",
            "1:11: webhook.max_body_bytes: expected an integer, got a number",
        ),
        ("webhook: {max_body_bytes: 0}", "1:11: webhook.max_body_bytes: must be greater than 0"),
        (
            "webhook: {auth: {bearer_tokens: x}}",
            "1:18: webhook.auth.bearer_tokens: expected a list, got a string",
        ),
        (
            "webhook: {auth: {bearer_tokens: [1]}}",
            "1:34: webhook.auth.bearer_tokens[0]: expected a string, got a number",
        ),
        (
            "webhook: {auth: {bearer_tokens: [a, '']}}",
            "1:37: webhook.auth.bearer_tokens[1]: must not be empty",
        ),
        (
            "webhook: {auth: {basic_auth: []}}",
            "1:18: webhook.auth.basic_auth: expected a mapping, got a list",
        ),
        (
            "database: {url: 'mysql://db'}",
            "1:12: database.url: expected a URL starting with sqlite+aiosqlite:// or "
            "postgresql+asyncpg://",
        ),
        (
            "database: {sqlite_synchronous: extra}",
            '1:12: database.sqlite_synchronous: expected one of full, normal, off, got "extra"',
        ),
        ("database: {pool_size: -1}", "1:12: database.pool_size: must be greater than 0"),
        ("api: {tokens: {token: t}}", "1:7: api.tokens: expected a list, got a mapping"),
        ("api: {tokens: [x]}", '1:16: api.tokens[0]: expected a mapping, got "x"'),
        (
            "api: {tokens: [{token: t, role: root}]}",
            '1:27: api.tokens[0].role: expected one of viewer, responder, admin, got "root"',
        ),
        (
            "api: {tokens: [{token: t, role: ADMIN}]}",
            '1:27: api.tokens[0].role: expected one of viewer, responder, admin, got "ADMIN"',
        ),
        (
            "api: {tokens: [{token: t, role: 3}]}",
            "1:27: api.tokens[0].role: expected one of viewer, responder, admin, got a number",
        ),
        (
            "api: {tokens: [{token: t, role: admin, name: 5}]}",
            "1:40: api.tokens[0].name: expected a string, got a number",
        ),
        (
            "log: {level: verbose}",
            '1:7: log.level: expected one of debug, info, warning, error, got "verbose"',
        ),
        ("log: {format: text}", '1:7: log.format: expected one of json, console, got "text"'),
        ("log: {file: ''}", "1:7: log.file: must not be empty"),
        ("log: {file_max_bytes: 0}", "1:7: log.file_max_bytes: must be greater than 0"),
        ("log: {file_backups: -1}", "1:7: log.file_backups: must be 0 or greater"),
        ("log: {access: yes}", '1:7: log.access: expected true or false, got "yes"'),
        ("log: {access: 1}", "1:7: log.access: expected true or false, got a number"),
        ("ingest: {max_batch_alerts: 0}", "1:10: ingest.max_batch_alerts: must be greater than 0"),
        ("- a", "1:1: top level: expected a mapping, got a list"),
        ("just text", '1:1: top level: expected a mapping, got "just text"'),
    ],
)
def test_problem_messages(text: str, expected: str) -> None:
    assert problems(text) == [f"f.yml:{expected}"]


def test_long_values_are_cut_short_in_messages() -> None:
    [message] = problems(f"log: {{level: {'x' * 500}}}")
    assert (
        message
        == f'f.yml:1:7: log.level: expected one of debug, info, warning, error, got "{"x" * 57}..."'
    )


def test_yaml_11_booleans_are_strings() -> None:
    # "off" must stay a string, or SQLite's synchronous=off could not be written unquoted.
    assert parse("database: {sqlite_synchronous: off}").database.sqlite_synchronous == "off"
    assert parse("log: {access: True}").log.access is True
    assert parse("log: {file: 2024-01-01}").log.file == "2024-01-01"


def test_duplicate_api_tokens() -> None:
    message = problems(
        f"""
        api:
          tokens:
            - {{token: "{SECRET}", role: admin}}
            - {{token: other, role: viewer}}
            - {{token: "{SECRET}", role: viewer}}
            - {{token: other, role: admin}}
        """
    )
    assert message == [
        "f.yml:6:8: api.tokens[2].token: duplicates api.tokens[0]",
        "f.yml:7:8: api.tokens[3].token: duplicates api.tokens[1]",
    ]
    assert SECRET not in str(message)


def test_all_problems_are_reported_together() -> None:
    assert problems(
        """
        listen: nowhere
        database: {url: 'x://', pool_size: 0, extra: 1}
        webhook: {max_body_bytes: -5}
        api: {tokens: [{token: '', role: boss}]}
        log: {level: loud, file_backups: many}
        ingest: []
        """
    ) == [
        "f.yml:2:1: listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095",
        "f.yml:3:39: database.extra: unknown key; expected one of: pool_size, "
        "sqlite_synchronous, url",
        "f.yml:3:12: database.url: expected a URL starting with sqlite+aiosqlite:// or "
        "postgresql+asyncpg://",
        "f.yml:3:25: database.pool_size: must be greater than 0",
        "f.yml:4:11: webhook.max_body_bytes: must be greater than 0",
        "f.yml:5:17: api.tokens[0].token: must not be empty",
        'f.yml:5:28: api.tokens[0].role: expected one of viewer, responder, admin, got "boss"',
        'f.yml:6:7: log.level: expected one of debug, info, warning, error, got "loud"',
        'f.yml:6:20: log.file_backups: expected an integer, got "many"',
        "f.yml:7:1: ingest: expected a mapping, got a list",
    ]


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_never_appear_in_repr() -> None:
    config = parse(
        f"""
        database: {{url: "postgresql+asyncpg://u:{SECRET}@db/x"}}
        webhook:
          auth:
            bearer_tokens: ["{SECRET}1"]
            basic_auth: {{username: alertmanager, password: "{SECRET}2"}}
        api:
          tokens: [{{token: "${{TOKEN}}", role: admin, name: ops-bot}}]
        """,
        env={"TOKEN": f"{SECRET}3"},
    )
    assert config.api.tokens[0].token == f"{SECRET}3"
    assert config.webhook.auth.basic_auth is not None
    assert config.webhook.auth.basic_auth.password == f"{SECRET}2"
    for text in (repr(config), str(config), repr(config.webhook.auth), repr(config.api.tokens)):
        assert SECRET not in text
    assert "alertmanager" in repr(config)  # the username is not secret
    assert "ops-bot" in repr(config)


def test_secrets_never_appear_in_error_messages() -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            f"""
            database: {{url: "mysql://u:{SECRET}@db/x"}}
            webhook:
              auth:
                bearer_tokens: ["{SECRET}", ""]
                basic_auth: {{username: "", password: "{SECRET}", pasword: x}}
            api:
              tokens:
                - {{token: "{SECRET}", role: superuser}}
                - {{token: "{SECRET}"}}
                - {{token: ["{SECRET}"], role: admin}}
                - {{token: "{SECRET}${{UNSET}}", role: admin}}
            """
        )
    assert len(info.value.problems) == 8
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert "f.yml:11:8: api.tokens[2].token: expected a string, got a list" in info.value.problems


@dataclass(frozen=True, slots=True)
class Secrets:
    pin: int = field(default=0, repr=False, metadata={"secret": True})
    level: Literal["a", "b"] = field(default="a", repr=False, metadata={"secret": True})
    ttl: timedelta = field(default=timedelta(0), repr=False, metadata={"secret": True})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"pin": SECRET}, "pin: expected an integer, got a string"),
        ({"level": SECRET}, "level: expected one of a, b, got a string"),
        ({"ttl": SECRET}, "ttl: expected a duration such as 30s, 5m or 1h30m, got a string"),
    ],
)
def test_secret_values_are_described_not_shown(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_data(Secrets, data, source="f.yml", env={})
    assert info.value.problems == [f"f.yml: {expected}"]


@dataclass(frozen=True, slots=True)
class LeakySecret:
    password: str = field(default="", metadata={"secret": True})  # repr=True: a schema bug


def test_schema_with_a_secret_in_repr_is_refused() -> None:
    with pytest.raises(TypeError, match="secret"):
        from_data(LeakySecret, {}, env={})


# --- environment expansion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "x", "B": "y"}, "xy"),
        ("${A}", {"A": ""}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A:-d}", {"A": "x"}, "x"),
        ("${A:-}", {}, ""),
        ("${A:-with spaces: and $dollars}", {}, "with spaces: and $dollars"),
        ("$${A}", {"A": "x"}, "${A}"),
        ("$${A} and ${A}", {"A": "x"}, "${A} and x"),
        ("$$${A}", {"A": "x"}, "$${A}"),  # "$" then the escape "$${" then plain "A}"
        ("$$", {}, "$$"),
        ("$A", {"A": "x"}, "$A"),
        ("a$", {}, "a$"),
        ("${A}", {"A": "${B}", "B": "no"}, "${B}"),  # values are not expanded again
    ],
)
def test_env_expansion(value: str, env: dict[str, str], expected: str) -> None:
    config = parse(f"api: {{tokens: [{{token: t, role: admin, name: '{value}'}}]}}", env)
    assert config.api.tokens[0].name == expected


def test_env_expansion_reaches_every_string() -> None:
    config = parse(
        """
        listen: ${HOST}:${PORT}
        webhook: {auth: {bearer_tokens: [a-webhook-token-0123456789, "${T}"]}}
        api: {tokens: [{token: "${T}x", role: "${ROLE}"}]}
        """,
        {"HOST": "0.0.0.0", "PORT": "80", "T": "token-0123456789", "ROLE": "responder"},
    )
    assert config.listen == "0.0.0.0:80"
    assert config.webhook.auth.bearer_tokens == ("a-webhook-token-0123456789", "token-0123456789")
    assert config.api.tokens[0] == ApiToken(token="token-0123456789x", role=Role.RESPONDER)
    assert type(config.listen) is str


def test_env_values_fill_number_and_boolean_fields() -> None:
    config = parse(
        "database: {pool_size: '${POOL:-4}'}\nlog: {access: '${ACCESS}', file_backups: '${N}'}",
        {"ACCESS": "true", "N": "-0"},
    )
    assert config.database.pool_size == 4
    assert config.log.access is True
    assert config.log.file_backups == 0
    assert problems("database: {pool_size: '${POOL}'}", {"POOL": "ten"}) == [
        'f.yml:1:12: database.pool_size: expected an integer, got "ten"'
    ]
    # A quoted literal is still a string: only expanded values are read as numbers.
    assert problems("database: {pool_size: '4'}") == [
        'f.yml:1:12: database.pool_size: expected an integer, got "4"'
    ]


def test_unset_environment_variable() -> None:
    assert problems(
        """
        webhook: {auth: {bearer_tokens: ["${FIREBREAK_WEBHOOK_TOKEN}"]}}
        api: {tokens: [{token: "${A}${B}", role: admin}]}
        """,
        {"A": "set"},
    ) == [
        "f.yml:2:34: webhook.auth.bearer_tokens[0]: "
        "environment variable FIREBREAK_WEBHOOK_TOKEN is not set",
        "f.yml:3:17: api.tokens[0].token: environment variable B is not set",
    ]


@pytest.mark.parametrize("value", ["${", "${A", "${A-d}", "${1A}", "${}", "${A:d}", "x${ A}"])
def test_malformed_reference(value: str) -> None:
    assert problems(f"log: {{file: '{value}'}}", {"A": "x"}) == [
        "f.yml:1:7: log.file: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)"
    ]


def test_keys_are_not_expanded() -> None:
    assert problems("${A}: 1", {"A": "listen"})[0].startswith('f.yml:1:1: ["${A}"]: unknown key')


def test_yaml_aliases_are_expanded_and_recursion_is_refused() -> None:
    config = parse(
        "webhook: {auth: {bearer_tokens: &t ['${A}']}}\nlog: {file: '${A}'}\n", {"A": "x"}
    )
    assert config.webhook.auth.bearer_tokens == ("x",)
    assert problems("webhook: &a {auth: *a}\nlisten: 1") == [
        "f.yml:1:14: webhook.auth: a YAML alias may not refer to a node that contains it",
        "f.yml:2:1: listen: expected a string, got a number",
    ]


# --- YAML syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b: c", "f.yml:1:5: invalid YAML: mapping values are not allowed here"),
        (
            "listen: [\n",
            "f.yml:2:1: invalid YAML: while parsing a flow node, "
            "expected the node content, but found '<stream end>'",
        ),
        (
            "webhook:\n  auth:\n\tx: 1",
            "f.yml:3:1: invalid YAML: while scanning for the next token, "
            "found character '\\t' that cannot start any token",
        ),
        ("listen: a\nlisten: b\n", 'f.yml:2:1: invalid YAML: duplicate key "listen"'),
        (
            "log: {level: info}\nlog: {}\n",
            'f.yml:2:1: invalid YAML: duplicate key "log"',
        ),
        ("a: *b", "f.yml:1:4: invalid YAML: found undefined alias 'b'"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yml:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
        (
            "log: {file_backups: !!int abc}",
            "f.yml:1:21: invalid YAML: cannot construct a tag:yaml.org,2002:int value",
        ),
        (
            "listen: a\x01",
            "f.yml:1:10: invalid YAML: unacceptable character #x0001: "
            "special characters are not allowed",
        ),
        ("listen: !!python/name:os.system x", None),
    ],
)
def test_yaml_syntax_errors(text: str, expected: str | None) -> None:
    [message] = problems(text)
    if expected is None:
        assert message.startswith("f.yml:1:9: invalid YAML: could not determine a constructor")
    else:
        assert message == expected


def test_merge_keys_are_not_duplicates() -> None:
    config = parse(
        """
        api:
          tokens:
            - &base {token: a, role: viewer, name: n}
            - {<<: *base, token: b, role: admin}
        """
    )
    assert config.api.tokens[1] == ApiToken(token="b", role=Role.ADMIN, name="n")


def test_deep_nesting_is_a_config_error() -> None:
    [message] = problems("a: " + "[" * 5000 + "]" * 5000)
    assert message.startswith("f.yml")


# --- reading files ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == [f"{tmp_path}: cannot read: Is a directory"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"listen: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: cannot read: not UTF-8 text (invalid start byte at byte 8)"
    ]


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("\ufefflisten: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [f"{path}:1:1: listen: expected a string, got a number"]


# --- the generic walker -----------------------------------------------------------------------


class Colour(StrEnum):
    DARK_RED = "dark-red"
    BLUE = "blue"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True, slots=True)
class Inner:
    name: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Everything:
    ratio: float = field(default=0.5, metadata={"check": _positive})
    colour: Colour = Colour.BLUE
    mode: Literal["fast", "safe"] = "safe"
    timeout: timedelta = timedelta(seconds=30)
    labels: dict[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    inner: Inner | None = None
    items: tuple[Inner, ...] = ()
    numbers: tuple[int, ...] = field(default=(), metadata={"check_each": _positive})
    maybe: int | None = 3


def test_generic_walker_converts_every_supported_type() -> None:
    result = from_data(
        Everything,
        {
            "ratio": 2,
            "colour": "dark_red",
            "mode": "fast",
            "timeout": "1h30m",
            "labels": {"team": "db", "a.b": "c"},
            "limits": {"x": 1},
            "inner": {"name": "n"},
            "items": [{"name": "a", "weight": 2}, {"name": "b", "weight": 0.25}],
            "numbers": [1, 2],
            "maybe": None,
        },
        env={},
    )
    assert result == Everything(
        ratio=2.0,
        colour=Colour.DARK_RED,
        mode="fast",
        timeout=timedelta(hours=1, minutes=30),
        labels={"team": "db", "a.b": "c"},
        limits={"x": 1},
        inner=Inner(name="n"),
        items=(Inner("a", 2.0), Inner("b", 0.25)),
        numbers=(1, 2),
        maybe=None,
    )
    assert type(result.ratio) is float
    assert type(result.labels) is dict
    assert isinstance(result.limits, types.MappingProxyType)
    assert from_data(Everything, None, env={}) == Everything()


def test_generic_walker_problems() -> None:
    with pytest.raises(ConfigError) as info:
        from_data(
            Everything,
            {
                "ratio": True,
                "colour": "blue-ish",
                "mode": "FAST",
                "timeout": "5 minutes",
                "labels": {"team": 1, 2: "x", "odd key": None},
                "limits": ["x"],
                "inner": {"weight": "heavy"},
                "items": [{"name": "a"}, "b"],
                "numbers": [1, 0, -1, "x"],
                "maybe": "3",
            },
            source="s.yml",
            env={},
        )
    assert info.value.problems == [
        "s.yml: ratio: expected a number, got true",
        's.yml: colour: expected one of dark_red, blue, got "blue-ish"',
        's.yml: mode: expected one of fast, safe, got "FAST"',
        's.yml: timeout: expected a duration such as 30s, 5m or 1h30m, got "5 minutes"',
        "s.yml: labels.team: expected a string, got a number",
        "s.yml: labels.2: expected a string key, got a number",
        's.yml: labels["odd key"]: expected a string, got null',
        "s.yml: limits: expected a mapping, got a list",
        "s.yml: inner.name: required key is missing",
        's.yml: inner.weight: expected a number, got "heavy"',
        's.yml: items[1]: expected a mapping, got "b"',
        's.yml: numbers[3]: expected an integer, got "x"',
        's.yml: maybe: expected an integer, got "3"',
    ]


def test_checks_run_on_converted_values() -> None:
    with pytest.raises(ConfigError) as info:
        from_data(Everything, {"ratio": 0, "numbers": [1, 0, -1], "timeout": 30}, env={})
    assert info.value.problems == [
        "<config>: ratio: must be greater than 0",
        "<config>: timeout: expected a duration such as 30s, 5m or 1h30m, got a number",
        "<config>: numbers[1]: must be greater than 0",
        "<config>: numbers[2]: must be greater than 0",
    ]


# --- escalation: problem messages ------------------------------------------------------------

HOOK = "type: webhook, webhook: {url: 'https://h'}"
MAIL = "type: email, email: {host: h, sender: f@example.com}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: []", "1:1: channels: expected a mapping, got a list"),
        ("channels: {c: {}}", "1:12: channels.c.type: required key is missing"),
        (
            "channels: {c: {type: sms}}",
            "1:16: channels.c.type: expected one of log, webhook, email, pagerduty, slack, got "
            '"sms"',
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
            "expected a channel name or a mapping with channel and target, got a number",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: ['']}]}}",
            "1:45: escalation_policies.p.tiers[0].notify[0].channel: must not be empty",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [{target: x}]}]}}",
            "1:45: escalation_policies.p.tiers[0].notify[0].channel: required key is missing",
        ),
        (
            "escalation_policies: {p: {tiers: [{notify: [{channel: log, to: x}]}]}}",
            "1:60: escalation_policies.p.tiers[0].notify[0].to: "
            "unknown key; expected one of: channel, target",
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


# --- includes ---------------------------------------------------------------------------------


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> YAML) under ``root``; returns the main file's path."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "firebreak.yml"


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value.problems


TEAM_DB = """
channels:
  db-hook: {type: webhook, webhook: {url: "https://db.example.com/hook"}}
escalation_policies:
  db: {tiers: [{notify: [db-hook, ops-mail]}]}
routes:
  - {name: db, match: 'team="db"', escalation_policy: db}
  - {match: 'team="db-batch"', escalation_policy: critical}
"""
TEAM_WEB = """
escalation_policies:
  web: {tiers: [{notify: [{channel: ops-mail, target: web@example.com}]}]}
routes:
  - {name: web, match: 'team="web"', escalation_policy: web}
"""


def test_include_two_team_files(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: ["teams/*.yml"]
                channels:
                  ops-mail:
                    type: email
                    email: {host: h, sender: f@example.com, to: o@example.com}
                escalation_policies:
                  critical: {tiers: [{notify: [ops-mail]}]}
                routes:
                  - {name: critical, match: 'severity="critical"', escalation_policy: critical}
                """,
            # Loaded in sorted order, whatever order the directory lists them in.
            "teams/web.yml": TEAM_WEB,
            "teams/db.yml": TEAM_DB,
            "teams/notes.txt": "not: yaml: at all",
        },
    )
    config = load_config(main, env={})
    assert config.source == str(main)
    assert config.include == ("teams/*.yml",)
    assert config.included == (str(tmp_path / "teams/db.yml"), str(tmp_path / "teams/web.yml"))
    assert sorted(config.channels) == ["db-hook", "log", "ops-mail"]
    assert sorted(config.escalation_policies) == ["critical", "db", "default", "web"]
    assert [(r.name, r.escalation_policy) for r in config.routes] == [
        ("critical", "critical"),
        ("db", "db"),
        ("teams/db.yml:routes[1]", "critical"),  # unnamed: named after its own file
        ("web", "web"),
    ]


def test_include_relative_to_the_including_file_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(
        tmp_path / "etc",
        {
            "firebreak.yml": """
                include: teams/db.yml
                channels:
                  ops-mail:
                    type: email
                    email: {host: h, sender: f@example.com, to: o@example.com}
                escalation_policies:
                  critical: {tiers: [{notify: [log]}]}
                """,
            "teams/db.yml": TEAM_DB,
        },
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/firebreak.yml"), env={})
    assert config.included == ("etc/teams/db.yml",)
    # Route names do not depend on the directory the command runs in.
    assert config.routes[1].name == "teams/db.yml:routes[1]"
    monkeypatch.chdir(tmp_path / "etc")
    config = load_config("firebreak.yml", env={})
    assert config.included == ("teams/db.yml",)
    assert config.routes[1].name == "teams/db.yml:routes[1]"


def test_include_problems_name_the_included_file(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: ["teams/*.yml"]
                listen: nowhere
                """,
            "teams/a.yml": """
                listen: "127.0.0.1:1"
                jobs: {workers: 2}
                routes: [{escalation_policy: 5}]
                typo: 1
                """,
            "teams/b.yml": "channels: [\n",
            "teams/c.yml": "routes: [{escalation_policy: '${UNSET}'}]\n",
        },
    )
    a, b, c = (tmp_path / "teams" / name for name in ("a.yml", "b.yml", "c.yml"))
    assert load_problems(main) == [
        f"{main}:3:1: listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095",
        f"{a}:2:1: listen: not allowed in an included file "
        "(allowed: channels, escalation_policies, include, routes)",
        f"{a}:3:1: jobs: not allowed in an included file "
        "(allowed: channels, escalation_policies, include, routes)",
        f"{a}:5:1: typo: unknown key; expected one of: channels, escalation_policies, include, "
        "routes",
        f"{a}:4:11: routes[0].escalation_policy: expected a string, got a number",
        f"{b}:2:1: invalid YAML: while parsing a flow node, "
        "expected the node content, but found '<stream end>'",
        f"{c}:1:11: routes[0].escalation_policy: environment variable UNSET is not set",
    ]


def test_include_duplicate_definitions_name_both_files(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": f"""
                include: [teams/a.yml, teams/b.yml]
                channels: {{hook: {{{HOOK}}}}}
                """,
            "teams/a.yml": f"""
                channels: {{hook: {{{HOOK}}}, log: {{type: log}}}}
                escalation_policies: {{p: {{tiers: [{{notify: [hook]}}]}}}}
                routes: [{{name: r, escalation_policy: p}}]
                """,
            "teams/b.yml": f"""
                channels: {{log: {{{HOOK}}}}}
                escalation_policies: {{p: {{tiers: [{{notify: [hook]}}]}}}}
                routes: [{{name: r, escalation_policy: p}}, {{escalation_policy: q}}]
                """,
        },
    )
    a, b = tmp_path / "teams/a.yml", tmp_path / "teams/b.yml"
    assert load_problems(main) == [
        f'{a}:2:12: channels.hook: channel "hook" is already defined in {main}',
        f'{b}:2:12: channels.log: channel "log" is already defined in {a}',
        f'{b}:3:23: escalation_policies.p: escalation policy "p" is already defined in {a}',
        f'{b}:4:11: routes[0].name: duplicate route name "r"; also used by routes[0] in {a}',
        f'{b}:4:44: routes[1].escalation_policy: unknown escalation policy "q"; defined: '
        "default, p",
    ]


def test_include_nested_and_cross_file_references(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: teams/*.yml
                routes: [{name: top, match: 'x="1"', escalation_policy: deep}]
                """,
            "teams/a.yml": """
                include: [../shared/*.yml]
                routes: [{name: a, escalation_policy: deep}]
                """,
            "teams/z.yml": "routes: [{name: z, escalation_policy: default}]\n",
            "shared/deep.yml": """
                channels: {pager: {type: webhook, webhook: {url: "https://p"}}}
                escalation_policies: {deep: {tiers: [{notify: [pager]}]}}
                routes: [{name: deep, escalation_policy: deep}]
                """,
        },
    )
    config = load_config(main, env={})
    # Depth first: an included file's own includes come right after it.
    assert [r.name for r in config.routes] == ["top", "a", "deep", "z"]
    assert config.included == (
        str(tmp_path / "teams/a.yml"),
        str(tmp_path / "teams/../shared/deep.yml"),
        str(tmp_path / "teams/z.yml"),
    )


def test_include_cycle(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: [a.yml]\n",
            "a.yml": "include: [b.yml]\n",
            "b.yml": "include: ['*.yml']\n",  # matches a.yml, b.yml and firebreak.yml
        },
    )
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    assert load_problems(main) == [
        f"{b}:1:11: include[0]: include cycle: {a} -> {b} -> {a}",
        f"{b}:1:11: include[0]: include cycle: {b} -> {b}",
        f"{b}:1:11: include[0]: include cycle: {main} -> {a} -> {b} -> {main}",
    ]


def test_include_of_itself(tmp_path: Path) -> None:
    main = write_files(tmp_path, {"firebreak.yml": "include: '*.yml'\n"})
    assert load_problems(main) == [f"{main}:1:1: include: include cycle: {main} -> {main}"]


def test_include_file_matched_twice_loads_once(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: [teams/db.yml, 'teams/*.yml', ./teams/db.yml]\n",
            "teams/db.yml": TEAM_DB.replace("ops-mail", "log").replace("critical", "default"),
        },
    )
    config = load_config(main, env={})
    assert config.included == (str(tmp_path / "teams/db.yml"),)
    assert len(config.routes) == 2


def test_include_missing_files(tmp_path: Path) -> None:
    main = write_files(tmp_path, {"firebreak.yml": "include: [nothing/*.yml, teams/db.yml]\n"})
    # A pattern with wildcards may match nothing; a plain file name must exist.
    assert load_problems(main) == [
        f'{main}:1:26: include[1]: no such file: "{tmp_path / "teams/db.yml"}"'
    ]
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams/db.yml").mkdir()  # a directory where a file should be
    assert load_problems(main) == [f"{tmp_path / 'teams/db.yml'}: cannot read: Is a directory"]


def test_include_globs_skip_directories_and_span_them_with_double_star(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: ['conf.d/**/*.yml']\n",
            "conf.d/a.yml": "routes: [{name: a, escalation_policy: default}]\n",
            "conf.d/deeper/b.yml": "routes: [{name: b, escalation_policy: default}]\n",
        },
    )
    (tmp_path / "conf.d/dir.yml").mkdir()
    assert [r.name for r in load_config(main, env={}).routes] == ["a", "b"]


def test_include_pattern_directory_is_not_a_pattern(tmp_path: Path) -> None:
    # The including file's own directory name is taken literally, wildcards and all.
    main = write_files(
        tmp_path / "odd[dir]",
        {
            "firebreak.yml": "include: ['*.d/*.yml']\n",
            "x.d/a.yml": "routes: [{name: a, escalation_policy: default}]\n",
        },
    )
    assert [r.name for r in load_config(main, env={}).routes] == ["a"]


def test_include_is_followed_even_when_the_including_file_has_problems(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {"firebreak.yml": "include: [a.yml]\nlisten: 1\n", "a.yml": "routes: 5\n"},
    )
    assert load_problems(main) == [
        f"{main}:2:1: listen: expected a string, got a number",
        f"{tmp_path / 'a.yml'}:1:1: routes: expected a list, got a number",
    ]


# --- the generic walker: key aliases and short forms ------------------------------------------


def _halve(value: int) -> str | None:
    return None if value % 2 == 0 else "must be even"


@dataclass(frozen=True, slots=True)
class Pair:
    left: str
    right: str = ""


@dataclass(frozen=True, slots=True)
class Aliased:
    import_: bool = field(default=False, metadata={"key": "import"})
    evens: tuple[int, ...] = field(
        default=(),
        metadata={
            "shorthand": Shorthand(int, lambda n: [n], "a number or a list of them"),
            "check_each": _halve,
        },
    )
    pairs: tuple[Pair, ...] = field(
        default=(),
        metadata={"shorthand_each": Shorthand(str, lambda s: {"left": s}, "a name or a pair")},
    )
    pair: Pair | None = field(
        default=None,
        metadata={"shorthand": Shorthand(str, lambda s: {"left": s}, "a name or a pair")},
    )


def test_key_aliases_and_short_forms() -> None:
    assert from_data(
        Aliased,
        {"import": True, "evens": 4, "pairs": ["a", {"left": "b", "right": "c"}], "pair": "p"},
        env={},
    ) == Aliased(import_=True, evens=(4,), pairs=(Pair("a"), Pair("b", "c")), pair=Pair("p"))
    assert from_data(Aliased, {"evens": [2, 4], "pair": None}, env={}) == Aliased(evens=(2, 4))
    with pytest.raises(ConfigError) as info:
        from_data(
            Aliased,
            {"import_": 1, "evens": 3, "pairs": [1, None], "pair": ["x"]},
            source="s.yml",
            env={},
        )
    assert info.value.problems == [
        "s.yml: import_: unknown key; did you mean import?",
        "s.yml: evens: must be even",  # the short form is reported where it was written
        "s.yml: pairs[0]: expected a name or a pair, got a number",
        "s.yml: pairs[1].left: required key is missing",
        "s.yml: pair: expected a name or a pair, got a list",
    ]
    with pytest.raises(ConfigError) as info:
        from_data(Aliased, {"evens": [2, 3], "import": "yes"}, source="s.yml", env={})
    assert info.value.problems == [
        's.yml: import: expected true or false, got "yes"',
        "s.yml: evens[1]: must be even",
    ]


# --- robustness -------------------------------------------------------------------------------

YAML_PIECES = [
    *("listen", "database", "url", "webhook", "auth", "bearer_tokens", "basic_auth", "api"),
    *("tokens", "token", "role", "admin", "log", "level", "file", "access", "ingest"),
    *(":", ": ", " ", "  ", "\n", "\n  ", "- ", "[", "]", "{", "}", ",", "'", '"', "#", "\t"),
    *("&a ", "*a", "!!int ", "!!str ", "!!bool ", "!!float ", "!!timestamp ", "!!binary "),
    *("!!set ", "!!map ", "!!seq ", "!!python/tuple ", "!x ", "? ", "|", ">", "<<: ", "\\"),
    *("${X}", "${Y:-1}", "${", "$${", "}", "0", "-1", "1.5", "99999999999999999999", ".nan"),
    *("null", "~", "true", "yes", "off", "2024-01-01", "%YAML 1.2\n", "---\n", "...\n"),
    *("é", "\x00", "\x85", "\ufeff", "\u2028", "127.0.0.1:9095", "[::1]:9095", "5m"),
]


def _outcome(text: str) -> None:
    try:
        config = parse_config(text, source="h.yml", env={"X": "1", "Y": ""})
    except ConfigError as exc:
        assert exc.problems
        assert all(problem.startswith("h.yml") for problem in exc.problems)
    else:
        assert isinstance(config, Config)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_yamlish_text_gives_config_or_config_error(text: str) -> None:
    _outcome(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_gives_config_or_config_error(text: str) -> None:
    _outcome(text)


SCHEMA_KEYS = [
    *("listen", "database", "url", "sqlite_synchronous", "pool_size", "webhook", "auth"),
    *("bearer_tokens", "basic_auth", "username", "password", "max_body_bytes", "api"),
    *("tokens", "token", "role", "name", "log", "level", "format", "file", "file_max_bytes"),
    *("file_backups", "access", "ingest", "max_batch_alerts"),
    *("include", "channels", "type", "email", "webhook", "log", "host", "port", "sender", "to"),
    *("url", "secret", "headers", "rate_limit", "per_minute", "breaker", "open_cooldown"),
    *("escalation_policies", "tiers", "after", "notify", "channel", "target", "repeat"),
    *("routes", "match", "escalation_policy", "continue", "default_route", "default"),
    *("notifications", "group_window", "jobs", "workers", "lease", "backoff_max"),
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            *("admin", "viewer", "full", "off", "debug", "console", "127.0.0.1:9095", "${X}"),
            *("${UNSET}", "${Y:-2}", "$${", "${", "sqlite+aiosqlite:///x", ""),
            *("webhook", "email", "https://h", "a@b", "5m", 'a="b"', 'a=~"("', "default"),
        ]
    )
)
KEYS = st.sampled_from(SCHEMA_KEYS) | st.text(max_size=6) | st.integers() | st.none()
NESTED = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, NESTED, max_size=8))
def test_arbitrary_nested_data_gives_config_or_config_error(data: dict[Any, Any]) -> None:
    _outcome(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def test_alertmanager_and_watchdog_sections() -> None:
    config = parse_config(
        """
alertmanager: {url: "http://am:9093", bearer_token: "${AM_TOKEN}", reconcile_interval: 30s}
watchdog: {alertname: DeadMansSwitch, timeout: 5m, labels: {team: sre}}
""",
        env={"AM_TOKEN": "s3cret"},
    )
    assert config.alertmanager is not None and config.watchdog is not None
    assert config.alertmanager.receiver == "firebreak"
    assert config.alertmanager.reconcile_interval == timedelta(seconds=30)
    assert config.alertmanager.bearer_token == "s3cret"
    assert "s3cret" not in repr(config.alertmanager)
    assert config.watchdog.alertname == "DeadMansSwitch"
    assert dict(config.watchdog.labels) == {"team": "sre"}
    assert parse_config("").alertmanager is None and parse_config("").watchdog is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("alertmanager: {}", "alertmanager.url: required"),
        ("alertmanager: {url: am:9093}", "alertmanager.url: expected a URL starting with http"),
        (
            "alertmanager: {url: 'http://am', bearer_token: t,"
            " basic_auth: {username: u, password: p}}",
            "alertmanager.basic_auth: give bearer_token or basic_auth, not both",
        ),
        (
            "alertmanager: {url: 'http://am', reconcile_interval: -1s}",
            "alertmanager.reconcile_interval",
        ),
        ("watchdog: {timeout: 0s}", "watchdog.timeout: must be longer than 0s"),
        ("watchdog: {alertname: ''}", "watchdog.alertname"),
    ],
)
def test_alertmanager_and_watchdog_problems(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="f.yml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


# --- arbitrary input -----------------------------------------------------------------------------

_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["30s", "1h30m", "-5m", "0s", "${NOPE}", "${X:-1s}", "$${", "http://x", "*"]),
)
_TOP_KEYS = TOP_LEVEL_KEYS.replace(" ", "").split(",")
_SOME_KEYS = [*_TOP_KEYS, "url", "type", "tiers", "after", "notify", "match", "token", "role"]
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(_SOME_KEYS)), inner, max_size=4
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_TOP_KEYS), _yaml_values, max_size=5))
def test_any_document_gives_a_config_or_a_config_error(document: dict[str, object]) -> None:
    """Whatever the YAML holds, loading gives a Config or a ConfigError naming the problems:
    never another exception, never a problem without a file and key path."""
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        parse_config(text, source="fuzz.yml", env={"X": "2s"})
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("fuzz.yml") for p in exc.problems), exc.problems


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_config(text, source="fuzz.yml", env={})
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("fuzz.yml") for p in exc.problems)


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        ("[{role: admin}]", "api.tokens[0].token: give token or token_sha256 (exactly one)"),
        (
            '[{role: admin, token: a, token_sha256: "' + "0" * 64 + '"}]',
            "api.tokens[0].token: give token or token_sha256 (exactly one)",
        ),
        ("[{role: admin, token_sha256: abc}]", "api.tokens[0].token_sha256: expected 64 hex"),
        (
            "[{role: admin, token: a}, {role: viewer, token_sha256: "
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb}]",
            "api.tokens[1].token: duplicates api.tokens[0]",
        ),
    ],
)
def test_api_token_hash_problems(tokens: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"api: {{tokens: {tokens}}}", source="f.yml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems
