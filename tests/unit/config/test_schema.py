"""The schema: the example file, defaults, every key written and read back, and the sections
of Config."""

from __future__ import annotations

import types
from datetime import timedelta
from pathlib import Path

import pytest

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
    TierConfig,
    WebhookAuth,
    WebhookChannelConfig,
    WebhookConfig,
    load_config,
    parse_config,
)
from receiver.errors import ConfigError
from receiver.model import Role
from tests.unit.config.common import EXAMPLE, SECRET, parse, problems

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
    # Beyond loopback the webhook needs credentials (tests/unit/config/test_secrets.py).
    hook = "webhook: {auth: {bearer_tokens: [a-random-webhook-token-0123]}}\n"
    config = parse(f'{hook}listen: "{listen}"')
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
