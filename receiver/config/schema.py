"""Firebreak's configuration: one YAML file, plus the files it includes, loaded into frozen
dataclasses.

The dataclasses below are the schema. A small generic walker reads their type hints and field
metadata, so a new section is only a new dataclass: no per-key parsing code. The walker collects
every problem it finds, each as ``<file>: <key.path>: <what was expected>``, and raises them
together in one ``ConfigError`` so that a broken file is fixed in one round.

Field metadata understood by the walker (``dataclasses.field(metadata=...)``):

- ``"secret": True`` - the value never appears in an error message; the field must also be
  declared with ``repr=False`` (the walker refuses the schema otherwise).
- ``"check": callable(value) -> str | None`` - returns what is wrong with a converted value.
- ``"check_each": callable(item) -> str | None`` - the same for each item of a tuple.
- ``"internal": True`` - filled by the loader, not accepted as a YAML key.
- ``"key": "name"`` - the YAML key when it differs from the field name (``continue`` is a
  Python keyword, so ``RouteConfig.continue_`` is written ``continue``).
- ``"shorthand": Shorthand(...)`` - a short form the field also accepts, expanded into the long
  form before conversion (``match: 'a="b"'`` for ``match: ['a="b"']``); a problem found by
  ``check_each`` in the one item a short form stood for is reported at the field itself.
- ``"shorthand_each": Shorthand(...)`` - the same for each item of a tuple (``notify: [ops]``
  for ``notify: [{channel: ops}]``).

A dataclass may also define ``cross_check(self, path) -> list[tuple[str, str]]`` for rules that
span fields; it returns ``(key path, problem)`` pairs. A list or mapping written as ``null`` (a
section whose entries are all commented out) is empty.

Every string scalar may refer to environment variables: ``${VAR}``, ``${VAR:-default}`` (used
when VAR is unset or empty), and ``$${`` for a literal ``${``.

``include`` names more files (glob patterns, relative to the including file) that may define
``channels``, ``escalation_policies`` and ``routes``; see ``load_config``. References between
sections (a route's policy, a tier's channels) are checked once every file is loaded, so they
may cross files. Only ``load_config`` and ``parse_config`` do that: ``from_data`` converts one
document and nothing more.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import glob
import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

from receiver.addresses import check_network
from receiver.config.secrets import MIN_SECRET_LENGTH, digest_weakness, is_loopback, weakness
from receiver.config.yaml import NO_POSITIONS, Positions, located, parse_document
from receiver.config.yaml import join as _join
from receiver.durations import format_duration, parse_duration
from receiver.errors import ConfigError, MatcherError
from receiver.hostallow import check_entry
from receiver.matchers import parse_matchers
from receiver.model import Role

T = TypeVar("T")


# --- checks -----------------------------------------------------------------------------------


def _greater_than_zero(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _at_least_zero(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def _not_empty(value: Sized) -> str | None:
    return None if len(value) else "must not be empty"


def _positive_duration(value: timedelta) -> str | None:
    return None if value > timedelta(0) else "must be longer than 0s"


def _non_negative_duration(value: timedelta) -> str | None:
    return None if value >= timedelta(0) else "must not be negative"


def _check_sha256_hex(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return None
    return "expected 64 hexadecimal digits (sha256sum of the token)"


def _check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


_LISTEN = re.compile(r"(?:\[(?P<v6>[^\[\]\s]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>[0-9]{1,5})")


def _split_listen(listen: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``, or None when it is neither."""
    match = _LISTEN.fullmatch(listen)
    if match is None:
        return None
    return match["v6"] or match["host"], int(match["port"])


def _check_listen(listen: str) -> str | None:
    split = _split_listen(listen)
    if split is None:
        return "expected host:port such as 127.0.0.1:9095 or [::1]:9095"
    return None if 1 <= split[1] <= 65535 else "port must be between 1 and 65535"


_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _check_database_url(url: str) -> str | None:
    if url.startswith(_DATABASE_SCHEMES):
        return None
    return f"expected a URL starting with {' or '.join(_DATABASE_SCHEMES)}"


def _check_http_url(url: str) -> str | None:
    # The URL itself is never quoted: webhook URLs often carry a secret in the path or query.
    if url.startswith(("http://", "https://")):
        return None
    return "expected a URL starting with http:// or https://"


# "ops@example.com" or "Firebreak <ops@example.com>"; no whitespace in the address itself and no
# line breaks anywhere, so a value can never smuggle an extra mail header in.
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+|[^<>\r\n]*<[^@\s<>]+@[^@\s<>]+>")


def _check_address(address: str) -> str | None:
    if _ADDRESS.fullmatch(address):
        return None
    return "expected an email address such as oncall@example.com"


def _check_matchers(text: str) -> str | None:
    try:
        parse_matchers(text, field="match")
    except MatcherError as exc:
        return exc.message
    return None


# RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class Shorthand:
    """A short form a field (``"shorthand"``) or each item (``"shorthand_each"``) also accepts.

    A YAML value of type ``short`` is replaced by ``expand(value)``, the long form, before it is
    converted. A value that is neither form is reported as "expected ``expected``, got ...".
    """

    short: type
    expand: Callable[[Any], object]
    expected: str


def _one_item_list(value: object) -> object:
    return [value]


def _channel_only(name: object) -> object:
    return {"channel": name}


_PATTERNS = Shorthand(str, _one_item_list, "a glob pattern or a list of them")
_MATCHERS = Shorthand(str, _one_item_list, "a matcher string or a list of them")
_ADDRESSES = Shorthand(str, _one_item_list, "an email address or a list of them")
_NETWORKS = Shorthand(str, _one_item_list, "an address or CIDR range, or a list of them")
_CHANNEL = Shorthand(str, _channel_only, "a channel name or a mapping with channel and target")


def _empty_mapping() -> Mapping[str, Any]:
    return types.MappingProxyType({})


# --- schema -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where alerts are stored."""

    # Secret because a PostgreSQL URL usually carries the password.
    url: str = field(
        default="sqlite+aiosqlite:///firebreak.db",
        repr=False,
        metadata={"secret": True, "check": _check_database_url},
    )
    # SQLite's PRAGMA synchronous: "full" is the one that survives a power loss after a commit.
    sqlite_synchronous: Literal["full", "normal", "off"] = "full"
    pool_size: int = field(default=10, metadata={"check": _greater_than_zero})  # PostgreSQL only


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP basic credentials Alertmanager may present instead of a bearer token."""

    username: str = field(metadata={"check": _not_empty})
    password: str = field(repr=False, metadata={"secret": True, "check": _not_empty})


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """Credentials accepted on the Alertmanager webhook; a request must match one of them."""

    bearer_tokens: tuple[str, ...] = field(
        default=(), repr=False, metadata={"secret": True, "check_each": _not_empty}
    )
    basic_auth: BasicAuth | None = None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The Alertmanager webhook endpoint."""

    auth: WebhookAuth = field(default_factory=WebhookAuth)
    max_body_bytes: int = field(default=5 * 1024 * 1024, metadata={"check": _greater_than_zero})
    # Where Alertmanager posts from (addresses, CIDR ranges): connections from these are never
    # held to api.max_connections_per_address, however many notifications are in flight.
    trusted_senders: tuple[str, ...] = field(
        default=("127.0.0.0/8", "::1"),
        metadata={"shorthand": _NETWORKS, "check_each": check_network},
    )


_PERSON_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _check_person_id(value: str) -> str | None:
    if _PERSON_ID.fullmatch(value):
        return None
    return "expected lower-case letters, digits, '_', '.' or '-' (at most 64, not first)"


def _check_slack_user(value: str) -> str | None:
    if _SLACK_USER_ID.fullmatch(value):
        return None
    return "expected a Slack user id such as U0123ABCD"


@dataclass(frozen=True, slots=True)
class PersonConfig:
    """One person of the people directory: whoever acts through the API, the console or
    Slack as them is one actor, ``person:<id>`` (one approver, for four eyes too)."""

    id: str = field(metadata={"check": _check_person_id})
    name: str = ""
    email: str | None = field(default=None, metadata={"check": _check_address})
    slack_user_id: str | None = field(default=None, metadata={"check": _check_slack_user})


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token for the HTTP API and the role it grants."""

    # The token itself, or its SHA-256 (hex), so the file need not hold the secret.
    token: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": _not_empty}
    )
    role: Role = field(kw_only=True)
    token_sha256: str | None = field(default=None, metadata={"check": _check_sha256_hex})
    name: str | None = None  # who holds the token, for logs and audit entries
    # The person (an id in ``people``) who holds it: they act as person:<id> through it.
    person: str | None = field(default=None, metadata={"check": _not_empty})

    @property
    def digest(self) -> bytes:
        """The SHA-256 of the token, whichever way it was given."""
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        return hashlib.sha256((self.token or "").encode("utf-8")).digest()

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if (self.token is None) == (self.token_sha256 is None):
            return [(_join(path, "token"), "give token or token_sha256 (exactly one)")]
        return []


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API used by people, chat bots and the CLI."""

    tokens: tuple[ApiToken, ...] = ()
    # Failed authentications one client address may make in ``auth_failure_window`` before it
    # is answered 429 (never on /webhook: Alertmanager would drop the notification).
    auth_failure_limit: int = field(default=10, metadata={"check": _greater_than_zero})
    auth_failure_window: timedelta = field(
        default=timedelta(minutes=1), metadata={"check": _positive_duration}
    )
    # A client that has not sent its whole request body by then gets 408.
    body_timeout: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": _positive_duration}
    )
    # A connection that has not sent a whole request head this long after it opened, or after
    # its previous answer, is closed (so this is also how long an idle connection stays open).
    # Read at start.
    header_timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    # Connections one client address may hold open at once; more are answered 503 and closed
    # (never for webhook.trusted_senders and trusted_proxies).
    max_connections_per_address: int = field(default=64, metadata={"check": _greater_than_zero})
    # Mark the console's session cookie Secure on plain HTTP too: behind a proxy that
    # terminates TLS, so browsers never send it unencrypted.
    secure_cookies: bool = False
    # Proxies in front of Firebreak (addresses, CIDR ranges): for a connection from one, the
    # client is the right-most X-Forwarded-For address that is not one of them; audit rows,
    # logs and the failed-authentication limit use it. Empty: X-Forwarded-For is ignored.
    trusted_proxies: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _NETWORKS, "check_each": check_network}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Each token must be unique, or a request could not tell which role it carries."""
        first_index: dict[bytes, int] = {}
        problems: list[tuple[str, str]] = []
        for index, token in enumerate(self.tokens):
            if (token.token is None) == (token.token_sha256 is None):
                continue  # reported by the token's own check
            first = first_index.setdefault(token.digest, index)
            if first != index:
                problems.append(
                    (f"{path}.tokens[{index}].token", f"duplicates {path}.tokens[{first}]")
                )
        return problems


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: str | None = field(default=None, metadata={"check": _not_empty})  # JSON, size-rotated
    file_max_bytes: int = field(default=10 * 1024 * 1024, metadata={"check": _greater_than_zero})
    file_backups: int = field(default=5, metadata={"check": _at_least_zero})
    access: bool = False  # one line per HTTP request


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """How webhooks are written to the store."""

    # Most alerts committed in one group-commit transaction.
    max_batch_alerts: int = field(default=5000, metadata={"check": _greater_than_zero})
    # Under load (the previous commit carried at least commit_siblings webhooks), wait this
    # long before the next commit so that more webhooks share its fsync; like PostgreSQL's
    # commit_delay. An idle receiver never waits.
    commit_delay: timedelta = timedelta(milliseconds=2)
    commit_siblings: int = field(default=8, metadata={"check": _greater_than_zero})


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """How fast one channel may send; what the limit holds back goes out later as a digest."""

    per_minute: float = field(default=10.0, metadata={"check": _greater_than_zero})
    # Notices that may go out at once after a quiet spell, before per_minute applies.
    burst: int = field(default=20, metadata={"check": _greater_than_zero})


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A channel's circuit breaker: stop hammering a far side that keeps failing."""

    # Consecutive failed sends that open the breaker.
    failure_threshold: int = field(default=5, metadata={"check": _greater_than_zero})
    # How long an open breaker refuses sends before it lets probes through.
    open_cooldown: timedelta = field(
        default=timedelta(seconds=60), metadata={"check": _positive_duration}
    )
    # Probes that must succeed, half-open, before the breaker closes again.
    half_open_probe_count: int = field(default=3, metadata={"check": _greater_than_zero})


@dataclass(frozen=True, slots=True)
class EmailChannelConfig:
    """An SMTP server to send mail through, and who the mail is from and to."""

    host: str = field(metadata={"check": _not_empty})
    port: int = field(default=587, metadata={"check": _check_port})
    starttls: bool = True  # upgrade a plain connection with STARTTLS (usually port 587)
    use_tls: bool = False  # TLS from the first byte (usually port 465); excludes starttls
    username: str | None = field(default=None, metadata={"check": _not_empty})
    password: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": _not_empty}
    )
    sender: str = field(kw_only=True, metadata={"check": _check_address})
    # Recipients when a tier names no target.
    to: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _ADDRESSES, "check_each": _check_address}
    )
    timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    ca_file: str | None = field(default=None, metadata={"check": _not_empty})  # PEM; else system

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """TLS modes exclude each other; credentials come in pairs."""
        problems: list[tuple[str, str]] = []
        if self.use_tls and self.starttls:
            problems.append(
                (
                    _join(path, "use_tls"),
                    "cannot be combined with starttls; set starttls: false for TLS from the start",
                )
            )
        if self.username is not None and self.password is None:
            problems.append((_join(path, "password"), "required when username is set"))
        if self.password is not None and self.username is None:
            problems.append((_join(path, "username"), "required when password is set"))
        return problems


@dataclass(frozen=True, slots=True)
class WebhookChannelConfig:
    """An HTTP endpoint that receives each notice as signed JSON."""

    # Secret because webhook URLs (Slack's, for one) often carry a token in the path or query.
    url: str = field(repr=False, metadata={"secret": True, "check": _check_http_url})
    # HMAC-SHA256 key for the X-Firebreak-Signature header; unsigned when not set.
    secret: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": _not_empty}
    )
    timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    # Secret because headers are where API keys go (Authorization, X-Api-Key).
    headers: Mapping[str, str] = field(
        default_factory=_empty_mapping, repr=False, metadata={"secret": True}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Header names must be HTTP tokens and values single lines (no header injection)."""
        problems: list[tuple[str, str]] = []
        for name, value in self.headers.items():
            where = _join(_join(path, "headers"), name)
            if not _HEADER_NAME.fullmatch(name):
                problems.append((where, "not a valid HTTP header name"))
            elif any(char in value for char in "\r\n\0"):
                problems.append((where, "must not contain line breaks or NUL characters"))
        return problems


# Slack ids: channels (public C, private G, direct D), users (U, or W on Enterprise Grid) and
# user groups (S). Names like #ops are not accepted: they change when a channel is renamed.
_SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_SLACK_COMMAND = re.compile(r"/[a-z0-9_.-]{1,31}")


def _check_slack_channel(value: str) -> str | None:
    if _SLACK_CHANNEL_ID.fullmatch(value):
        return None
    return "expected a Slack channel id such as C0123ABCD (not a #name)"


def _check_slack_command(value: str) -> str | None:
    if _SLACK_COMMAND.fullmatch(value):
        return None
    return "expected a slash command such as /firebreak (lowercase, at most 32 characters)"


def _check_bot_token(value: str) -> str | None:
    # Never quotes the value: it is a credential.
    return None if value.startswith("xoxb-") else "expected a bot token starting with xoxb-"


@dataclass(frozen=True, slots=True)
class SlackChannelConfig:
    """A Slack channel type's own settings (``channels.NAME.slack``)."""

    # Where notices go when a tier names no target; else slack.default_channel.
    channel: str | None = field(default=None, metadata={"check": _check_slack_channel})


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """The Slack app: its credentials, its slash command and who may do what from Slack."""

    bot_token: str = field(repr=False, metadata={"secret": True, "check": _check_bot_token})
    signing_secret: str = field(repr=False, metadata={"secret": True, "check": _not_empty})
    command: str = field(default="/firebreak", metadata={"check": _check_slack_command})
    # Request URL for slash commands and interactivity (the app manifest names it).
    path: str = "/slack/events"
    # The Web API base URL; only tests and proxies change it.
    api_url: str = field(default="https://slack.com/api/", metadata={"check": _check_http_url})
    default_channel: str | None = field(default=None, metadata={"check": _check_slack_channel})
    # Roles by Slack user id (U…) and by user group id (S…); the highest that applies wins.
    users: Mapping[str, Role] = field(default_factory=_empty_mapping)
    user_groups: Mapping[str, Role] = field(default_factory=_empty_mapping)
    # The role of every other member of the workspace; none means they may not use Firebreak.
    default_role: Role | None = None
    # Runbook name -> user and group ids that may approve its executions.
    runbook_approvers: Mapping[str, tuple[str, ...]] = field(default_factory=_empty_mapping)
    # Grafana, linked from each message (an alert's dashboard_url annotation wins).
    grafana_url: str | None = field(default=None, metadata={"check": _check_http_url})
    # Slack asks for at most one message a second per channel.
    message_interval: timedelta = field(
        default=timedelta(seconds=1), metadata={"check": _positive_duration}
    )
    # How long a user group's membership is trusted before it is asked for again.
    group_cache: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": _positive_duration}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Ids must be Slack ids of the right kind, the path an absolute URL path."""
        problems: list[tuple[str, str]] = []
        if not self.path.startswith("/"):
            problems.append((_join(path, "path"), "expected a path such as /slack/events"))
        elif self.path in ("/webhook", "/health", "/metrics") or self.path.startswith(
            ("/api/", "/health/", "/debug/")
        ):
            problems.append((_join(path, "path"), "is one of Firebreak's own paths"))
        for user in self.users:
            if not _SLACK_USER_ID.fullmatch(user):
                where = _join(_join(path, "users"), user)
                problems.append((where, "expected a Slack user id such as U0123ABCD"))
        for group in self.user_groups:
            if not _SLACK_GROUP_ID.fullmatch(group):
                where = _join(_join(path, "user_groups"), group)
                problems.append((where, "expected a Slack user group id such as S0123ABCD"))
        for runbook, ids in self.runbook_approvers.items():
            for index, ident in enumerate(ids):
                if not (_SLACK_USER_ID.fullmatch(ident) or _SLACK_GROUP_ID.fullmatch(ident)):
                    where = f"{_join(_join(path, 'runbook_approvers'), runbook)}[{index}]"
                    problems.append((where, "expected a Slack user (U…) or user group (S…) id"))
        return problems


def _check_https_url(url: str) -> str | None:
    return None if url.startswith("https://") else "expected a URL starting with https://"


# PagerDuty's Events API v2 severities; an alert's severity label is mapped onto one of them.
PagerDutySeverity = Literal["critical", "error", "warning", "info"]


def _default_severity_map() -> Mapping[str, PagerDutySeverity]:
    return types.MappingProxyType(
        {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
    )


def _check_routing_keys(keys: Mapping[str, str]) -> str | None:
    # Names the aliases only: the keys are secrets.
    if not keys:
        return "must not be empty"
    empty = sorted(alias for alias, key in keys.items() if not key.strip())
    return f"empty routing key for {', '.join(empty)}" if empty else None


@dataclass(frozen=True, slots=True)
class PagerDutyChannelConfig:
    """PagerDuty services reached through the Events API v2 (one integration key each)."""

    # Alias -> integration (routing) key. A tier's target names an alias; an empty target
    # means "default". Secret: anyone holding a key can open incidents on that service.
    routing_keys: Mapping[str, str] = field(
        repr=False, metadata={"secret": True, "check": _check_routing_keys}
    )
    # Alert severity label value -> PagerDuty severity; unmapped values get default_severity.
    severity_map: Mapping[str, PagerDutySeverity] = field(default_factory=_default_severity_map)
    default_severity: PagerDutySeverity = "warning"
    severity_label: str = field(default="severity", metadata={"check": _not_empty})
    # Labels whose values fill the event's payload.source, component, group and class.
    source_label: str = field(default="instance", metadata={"check": _not_empty})
    component_label: str | None = field(default="service", metadata={"check": _not_empty})
    group_label: str | None = field(default="job", metadata={"check": _not_empty})
    class_label: str | None = field(default="alertname", metadata={"check": _not_empty})
    # Annotation holding a Grafana (dashboard) URL, attached as a link next to the runbook.
    dashboard_annotation: str = field(default="dashboard_url", metadata={"check": _not_empty})
    # Events per minute per routing key. PagerDuty accepts about 120 a minute per key; this
    # paces below that so a storm is spread out instead of answered with 429s.
    events_per_minute: float = field(default=100.0, metadata={"check": _greater_than_zero})
    # How long a routing key rests after PagerDuty answered 429 without a Retry-After.
    throttle_wait: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": _positive_duration}
    )
    timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    api_url: str = field(
        default="https://events.pagerduty.com", metadata={"check": _check_https_url}
    )
    ca_file: str | None = field(default=None, metadata={"check": _not_empty})  # PEM; else system


@dataclass(frozen=True, slots=True)
class PagerDutyConfig:
    """What PagerDuty sends back: webhook v3 subscriptions (``/integrations/pagerduty/webhook``)."""

    # Signing secrets of the webhook subscriptions; several while one is being rotated. With
    # none, the endpoint refuses every request.
    webhook_secrets: tuple[str, ...] = field(
        default=(), repr=False, metadata={"secret": True, "check_each": _not_empty}
    )
    max_body_bytes: int = field(default=256 * 1024, metadata={"check": _greater_than_zero})
    # An event whose occurred_at is further than this from now (either way) is stale: answered
    # 200 and ignored, like a replay, as Slack's signing refuses old requests.
    max_event_age: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": _positive_duration}
    )


# The channel types that take a section of their own, named like the type.
_CHANNEL_SECTIONS = ("email", "webhook", "pagerduty", "slack")


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One notification channel: its type, the section for that type, and its limits."""

    type: Literal["log", "webhook", "email", "pagerduty", "slack"]
    email: EmailChannelConfig | None = None
    webhook: WebhookChannelConfig | None = None
    pagerduty: PagerDutyChannelConfig | None = None
    slack: SlackChannelConfig | None = None
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """The section named by ``type`` is present (optional for slack, whose channel may
        come from slack.default_channel), and no other type's section is."""
        problems: list[tuple[str, str]] = []
        for section in _CHANNEL_SECTIONS:
            present = getattr(self, section) is not None
            if section == self.type and not present and section != "slack":
                problems.append((_join(path, section), f"required when type is {self.type}"))
            elif section != self.type and present:
                problems.append((_join(path, section), f"not allowed when type is {self.type}"))
        return problems


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """One recipient of a tier: a channel, and where on it (the channel's default if empty)."""

    channel: str = field(metadata={"check": _not_empty})
    target: str = ""  # an address, a URL...; what it means is up to the channel

    def __str__(self) -> str:
        return f"{self.channel}:{self.target}" if self.target else self.channel


@dataclass(frozen=True, slots=True)
class TierConfig:
    """One step of an escalation policy."""

    # From the alert's start for the first tier, from the previous tier for later ones.
    after: timedelta = timedelta(0)
    notify: tuple[NotifyTarget, ...] = field(
        kw_only=True, metadata={"shorthand_each": _CHANNEL, "check": _not_empty}
    )


@dataclass(frozen=True, slots=True)
class EscalationPolicyConfig:
    """Who is told about an alert, and when, while nobody acknowledges it."""

    tiers: tuple[TierConfig, ...] = field(metadata={"check": _not_empty})
    # Times the whole policy runs again, from its first tier, while unacknowledged.
    repeat: int = field(default=0, metadata={"check": _at_least_zero})


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Alerts whose labels match go to an escalation policy (see ``receiver.routing``)."""

    # Filled in by the loader when not written: routes[N], or FILE:routes[N] for a route from
    # an included file (N counts from 0 within the file that defines the route).
    name: str = field(default="", metadata={"check": _not_empty})
    # Alertmanager matcher strings, all of which must match; none matches every alert.
    match: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _MATCHERS, "check_each": _check_matchers}
    )
    escalation_policy: str = field(kw_only=True, metadata={"check": _not_empty})
    # Also try the routes after this one when it matches.
    continue_: bool = field(default=False, metadata={"key": "continue"})


@dataclass(frozen=True, slots=True)
class DefaultRouteConfig:
    """Where alerts that no route matches go."""

    escalation_policy: str = field(default="default", metadata={"check": _not_empty})


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    """How notices are put together."""

    # Alerts of one Alertmanager group notified within this window go out as one message per
    # channel and target.
    group_window: timedelta = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class JobsConfig:
    """The durable job queue that escalation and notification run on."""

    workers: int = field(default=16, metadata={"check": _greater_than_zero})  # per process
    # A running job whose worker vanished is claimed again after this.
    lease: timedelta = field(default=timedelta(seconds=60), metadata={"check": _positive_duration})
    # Attempts before a job is dead-lettered.
    max_attempts: int = field(default=10, metadata={"check": _greater_than_zero})
    backoff_initial: timedelta = field(
        default=timedelta(seconds=1), metadata={"check": _positive_duration}
    )
    backoff_max: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": _positive_duration}
    )
    # How often to look for jobs that other replicas enqueued.
    poll_interval: timedelta = field(
        default=timedelta(seconds=5), metadata={"check": _positive_duration}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """The backoff may not start above its own ceiling."""
        if self.backoff_max >= self.backoff_initial:
            return []
        minimum = format_duration(self.backoff_initial)
        return [(_join(path, "backoff_max"), f"must be at least backoff_initial ({minimum})")]


def _check_program(value: str) -> str | None:
    if not value or value != value.strip() or "\0" in value:
        return "expected an absolute path or a program name"
    if "/" in value and not value.startswith("/"):
        return "expected an absolute path (or a bare name looked up in PATH)"
    return None


def _at_least_one_second(value: timedelta) -> str | None:
    return None if value >= timedelta(seconds=1) else "must be at least 1s"


def _at_least_1_kib(value: int) -> str | None:
    return None if value >= 1024 else "must be at least 1024"


def _at_least_16_mib(value: int) -> str | None:
    return None if value >= 16 * 1024**2 else "must be at least 16777216 (16 MiB)"


_HOSTS = Shorthand(str, _one_item_list, "a host entry or a list of them")
_PROGRAMS = Shorthand(str, _one_item_list, "a program or a list of them")


@dataclass(frozen=True, slots=True)
class ShellLimits:
    """Resource limits of every shell step's process (besides the step's timeout)."""

    # CPU time; past it the process gets SIGXCPU, a second later SIGKILL.
    cpu_time: timedelta = field(
        default=timedelta(seconds=60), metadata={"check": _at_least_one_second}
    )
    # Virtual address space; allocations past it fail.
    address_space_bytes: int = field(default=2 * 1024**3, metadata={"check": _at_least_16_mib})


@dataclass(frozen=True, slots=True)
class AutomationConfig:
    """Runbook automation: where the runbook definitions are and what their steps talk to."""

    # Glob patterns of runbook files, relative to the directory of this configuration file.
    runbooks: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _PATTERNS, "check_each": _not_empty}
    )
    # Start matching runbooks by themselves when alerts fire; false: only manual runs.
    automatic: bool = True
    # What runbooks started by alerts do: "live" runs their steps; "dry_run" renders and
    # records what each step would do and changes nothing (manual runs say for themselves).
    # Dry run by default: a first start acts on nothing until someone writes "mode: live".
    mode: Literal["live", "dry_run"] = "dry_run"
    # The Prometheus HTTP API that promql steps query.
    prometheus_url: str | None = field(default=None, metadata={"check": _check_http_url})
    # The Alertmanager v2 API that silence steps create and expire silences on.
    alertmanager_url: str | None = field(default=None, metadata={"check": _check_http_url})
    # Where http steps and python actions may connect: host names (*.example.com for
    # subdomains), addresses and CIDR ranges, each optionally with :port. Everything else is
    # refused, and cloud metadata addresses whatever this says; see receiver/hostallow.py.
    http_allow: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _HOSTS, "check_each": check_entry}
    )
    # The programs shell steps may run: absolute paths, or names looked up in PATH.
    shell_allow: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _PROGRAMS, "check_each": _check_program}
    )
    shell_limits: ShellLimits = field(default_factory=ShellLimits)
    # What a step records of its output (and inputs) at most, as JSON; longer strings are cut
    # with a marker saying how much went.
    max_step_output_bytes: int = field(default=128 * 1024, metadata={"check": _at_least_1_kib})
    # Settings of python step actions, by function name, handed to the action (never filled
    # from an alert). Values under keys that name a credential (token, secret, password,
    # api_key) are redacted from every step's output.
    actions: Mapping[str, Mapping[str, object]] = field(default_factory=_empty_mapping)
    # The JSON-lines file retry_dead_letters appends the dead letters it leaves to a person
    # to, relative to this configuration file; none: they are only listed in its output.
    dead_letter_archive: str | None = field(default=None, metadata={"check": _not_empty})


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    """Alertmanager's v2 API, which Firebreak reads to reconcile its alerts with Alertmanager's
    and to fetch the rest of a truncated webhook's group."""

    url: str = field(metadata={"check": _check_http_url})  # e.g. http://127.0.0.1:9093
    # The receiver in alertmanager.yml that posts to Firebreak: only its alerts are compared.
    receiver: str = field(default="firebreak", metadata={"check": _not_empty})
    bearer_token: str | None = field(default=None, repr=False, metadata={"secret": True})
    basic_auth: BasicAuth | None = None
    timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    # How often to compare firing alerts with Alertmanager's active ones; 0s turns it off.
    reconcile_interval: timedelta = field(
        default=timedelta(minutes=1), metadata={"check": _non_negative_duration}
    )
    # A firing alert Alertmanager no longer has is resolved only once it has not been re-sent
    # for this long, and only by an Alertmanager up at least this long (one just restarted
    # has not heard from Prometheus yet).
    resolve_grace: timedelta = field(
        default=timedelta(minutes=2), metadata={"check": _non_negative_duration}
    )
    ca_file: str | None = None

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if self.bearer_token is not None and self.basic_auth is not None:
            return [(_join(path, "basic_auth"), "give bearer_token or basic_auth, not both")]
        return []


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """The dead man's switch: an always-firing alert (Prometheus's ``Watchdog``) must keep
    arriving; when it stops, the monitoring pipeline itself is broken, and Firebreak raises an
    alert of its own through its ordinary routes and escalation policies."""

    alertname: str = field(default="Watchdog", metadata={"check": _not_empty})
    # Raise the alert when the watchdog has not arrived for this long. Alertmanager must
    # re-send it more often (a route for it with a short repeat_interval).
    timeout: timedelta = field(
        default=timedelta(minutes=10), metadata={"check": _positive_duration}
    )
    check_interval: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": _positive_duration}
    )
    # Labels of the alert raised; alertname and severity unless overridden.
    labels: Mapping[str, str] = field(default_factory=_empty_mapping)


@dataclass(frozen=True, slots=True)
class GrafanaConfig:
    """Grafana's HTTP API, for annotations: alerts fired and resolved, runbooks started and
    finished, marked on the dashboards' graphs."""

    url: str = field(metadata={"check": _check_http_url})  # e.g. http://127.0.0.1:3000
    # A service account token with the annotations:write permission.
    token: str = field(repr=False, metadata={"secret": True, "check": _not_empty})
    timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    tags: tuple[str, ...] = ("firebreak",)  # on every annotation, for the dashboards' queries


def _check_ratio(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """OpenTelemetry traces of each alert's path, exported over OTLP/HTTP (needs the
    ``firebreak[tracing]`` extra)."""

    endpoint: str = field(metadata={"check": _check_http_url})  # e.g. http://127.0.0.1:4318
    service_name: str = field(default="firebreak", metadata={"check": _not_empty})
    sample_ratio: float = field(default=1.0, metadata={"check": _check_ratio})


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """HTTPS served by Firebreak itself; the files are read again on SIGHUP."""

    cert_file: str = field(metadata={"check": _not_empty})  # PEM, the chain after the cert
    key_file: str = field(metadata={"check": _not_empty})


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long finished things are kept: resolved alerts with their history, done jobs and
    the record of webhooks. Dead-lettered jobs and firing alerts are never purged."""

    # 0s keeps everything.
    period: timedelta = field(
        default=timedelta(days=90), metadata={"check": _non_negative_duration}
    )
    interval: timedelta = field(default=timedelta(hours=1), metadata={"check": _positive_duration})
    # Rows per delete: each batch is its own short transaction.
    batch_size: int = field(default=1000, metadata={"check": _greater_than_zero})


LOG_CHANNEL = "log"
"""The channel that exists even when the file defines none: it writes notices to the log."""

DEFAULT_POLICY = "default"
"""The policy that exists even when the file defines none: tell ``log`` at once."""


def _builtin_channels() -> Mapping[str, ChannelConfig]:
    return types.MappingProxyType({LOG_CHANNEL: ChannelConfig(type="log")})


def _builtin_policies() -> Mapping[str, EscalationPolicyConfig]:
    tier = TierConfig(after=timedelta(0), notify=(NotifyTarget(channel=LOG_CHANNEL),))
    return types.MappingProxyType({DEFAULT_POLICY: EscalationPolicyConfig(tiers=(tier,))})


_INCLUDE_METADATA: Mapping[str, Any] = {"shorthand": _PATTERNS, "check_each": _not_empty}


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file."""

    listen: str = field(default="127.0.0.1:9095", metadata={"check": _check_listen})
    # On SIGTERM: stop accepting, finish what is in flight, hand back job leases, exit; a job
    # still running after this is cut off (its lease handed back, so it runs again elsewhere).
    shutdown_grace: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": _positive_duration}
    )
    tls: TlsConfig | None = None
    grafana: GrafanaConfig | None = None
    tracing: TracingConfig | None = None
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    # Glob patterns of files that define more channels, policies and routes.
    include: tuple[str, ...] = field(default=(), metadata=_INCLUDE_METADATA)
    # Always hold LOG_CHANNEL and DEFAULT_POLICY, unless the files define their own.
    channels: Mapping[str, ChannelConfig] = field(default_factory=_builtin_channels)
    escalation_policies: Mapping[str, EscalationPolicyConfig] = field(
        default_factory=_builtin_policies
    )
    # Every file's routes: this file's first, then each included file's, in include order.
    routes: tuple[RouteConfig, ...] = ()
    default_route: DefaultRouteConfig = field(default_factory=DefaultRouteConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    alertmanager: AlertmanagerConfig | None = None
    watchdog: WatchdogConfig | None = None
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    pagerduty: PagerDutyConfig = field(default_factory=PagerDutyConfig)
    automation: AutomationConfig = field(default_factory=AutomationConfig)
    slack: SlackConfig | None = None
    # Who is who across interfaces (API tokens and Slack users name a person of it).
    people: tuple[PersonConfig, ...] = ()
    source: str = field(default="<config>", metadata={"internal": True})  # the file it came from
    # The included files, in the order they were loaded (as paths from the working directory).
    included: tuple[str, ...] = field(default=(), metadata={"internal": True})
    # What set ``listen``: the file's key, or an override (--listen, FIREBREAK_LISTEN) that a
    # reload of the file keeps.
    listen_from: str = field(default="listen", metadata={"internal": True})

    @property
    def listen_host(self) -> str:
        """The host part of ``listen``, without the brackets of an IPv6 address."""
        return self._listen_parts()[0]

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return self._listen_parts()[1]

    def _listen_parts(self) -> tuple[str, int]:
        split = _split_listen(self.listen)
        if split is None:
            raise ValueError(f"listen: expected host:port, got {self.listen!r}")
        return split


# --- loading ----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML file at ``path`` and the files it includes.

    ``env`` defaults to ``os.environ``. ``include`` patterns are globs (``**`` spans
    directories) relative to the directory of the file that holds them; each pattern's matches
    load in sorted order, and a file matched more than once loads once. A pattern without
    wildcards must name an existing file; one with wildcards may match nothing. An included file
    may hold only ``include``, ``channels``, ``escalation_policies`` and ``routes``; its routes
    follow those of the file that includes it. A channel or policy defined in two files, and an
    include cycle, are errors. Problems in an included file name that file.

    A relative SQLite path in ``database.url`` is resolved against the directory of the file,
    like runbook and include patterns: the same file means the same database from whatever
    directory a command runs in.
    """
    source = os.fspath(path)
    config = _assemble(_read(source), source, os.environ if env is None else env, from_file=True)
    url = _sqlite_beside(config.database.url, os.path.dirname(os.path.abspath(source)))
    if url == config.database.url:
        return config
    return dataclasses.replace(config, database=dataclasses.replace(config.database, url=url))


_SQLITE_PREFIX = "sqlite+aiosqlite:///"


def _sqlite_beside(url: str, directory: str) -> str:
    """``url`` with a relative SQLite file path made absolute against ``directory``; any other
    URL (PostgreSQL, an absolute path, ``:memory:``, a ``file:`` URI) unchanged."""
    if not url.startswith(_SQLITE_PREFIX):
        return url
    path, query = url[len(_SQLITE_PREFIX) :], ""
    if "?" in path:
        path, query = path.split("?", 1)
        query = "?" + query
    if not path or path == ":memory:" or path.startswith("file:") or os.path.isabs(path):
        return url
    return f"{_SQLITE_PREFIX}{os.path.join(directory, path)}{query}"


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration YAML; ``source`` names it in error messages.

    Text that was not read from a file has no directory to resolve ``include`` patterns in, so
    an ``include`` is an error here; ``load_config`` resolves them.
    """
    return _assemble(text, source, os.environ if env is None else env, from_file=False)


def from_data(
    cls: type[T],
    data: object,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    positions: Positions = NO_POSITIONS,
) -> T:
    """Expand environment references in parsed YAML ``data`` and convert it into ``cls``.

    ``None`` counts as an empty mapping. Raises ``ConfigError`` listing every problem, each at
    its line and column when ``positions`` (from ``parse_document``) says where ``data`` was
    written. Only the one document is converted: no includes, built-in channels or
    cross-references.
    """
    walker = _Walker(source, positions)
    expanded = _expand(data, "", os.environ if env is None else env, walker, {})
    result = walker.dataclass(expanded, cls, "")
    if walker.problems:
        raise ConfigError(walker.problems)
    return typing.cast(T, result)


def _read(source: str) -> str:
    try:
        with open(source, encoding="utf-8-sig") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError([f"{source}: cannot read: {reason}"]) from None


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class _IncludedFile:
    """What an included file may hold."""

    include: tuple[str, ...] = field(default=(), metadata=_INCLUDE_METADATA)
    channels: Mapping[str, ChannelConfig] = field(default_factory=_empty_mapping)
    escalation_policies: Mapping[str, EscalationPolicyConfig] = field(
        default_factory=_empty_mapping
    )
    routes: tuple[RouteConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class _Part:
    """The definitions one file wrote itself (never the built-in ones), routes named."""

    source: str
    channels: Mapping[str, ChannelConfig]
    escalation_policies: Mapping[str, EscalationPolicyConfig]
    routes: tuple[RouteConfig, ...]
    positions: Positions

    def at(self, path: str) -> str:
        """``file:line:column: path``, to start a problem with."""
        return located(self.source, self.positions, path)


def _assemble(text: str, source: str, env: Mapping[str, str], *, from_file: bool) -> Config:
    assembly = _Assembly(env, source, from_file=from_file)
    main = assembly.load(text, source, Config, ())
    # Cross-references are only checked between valid files: a channel that failed to convert
    # would otherwise also be reported as unknown wherever a tier names it.
    if assembly.problems:
        raise ConfigError(assembly.problems)
    config = assembly.merge(typing.cast(Config, main))
    if assembly.problems:
        raise ConfigError(assembly.problems)
    return config


class _Assembly:
    """Loads a file and, depth first, the files it includes; then merges and cross-checks."""

    def __init__(self, env: Mapping[str, str], top: str, *, from_file: bool) -> None:
        self.env = env
        self.top = top
        self.from_file = from_file
        self.problems: list[str] = []
        self.parts: list[_Part] = []  # one per valid file, in load order: the main file first
        self.loaded: set[str] = set()  # real paths: a file reached twice loads once
        self.included: list[str] = []

    def load(self, text: str, source: str, cls: type, stack: tuple[tuple[str, str], ...]) -> Any:
        """Walk one file into ``cls`` (``_INVALID`` when it has problems), then its includes.

        ``stack`` holds ``(source, real path)`` of the files whose includes are being loaded.
        """
        real = os.path.realpath(source) if self.from_file else source
        self.loaded.add(real)
        try:
            data, positions = parse_document(text, source)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return _INVALID
        walker = _Walker(source, positions)
        expanded = _expand(data, "", self.env, walker, {})
        if cls is _IncludedFile and isinstance(expanded, dict):
            expanded = _refuse_main_keys(expanded, walker)
        result = walker.dataclass(expanded, cls, "")
        self.problems.extend(walker.problems)
        written: dict[Any, Any] = expanded if isinstance(expanded, dict) else {}
        if result is not _INVALID:
            part = self._part(source, result, written, positions, main=cls is Config)
            self.parts.append(part)
            patterns: tuple[str, ...] = result.include
        else:
            # Still follow the includes, so that their problems are reported in this round too.
            patterns = _include_patterns(written, cls, source)
        if patterns and not self.from_file:
            self.problems.append(
                f"{located(source, positions, 'include')}: not supported here: the "
                "configuration was not read from a "
                "file, so there is no directory to resolve patterns in"
            )
        elif patterns:
            short = isinstance(written.get("include"), str)
            self._include(source, positions, patterns, short, (*stack, (source, real)))
        return result

    def _part(
        self,
        source: str,
        result: Any,
        written: Mapping[Any, Any],
        positions: Positions,
        *,
        main: bool,
    ) -> _Part:
        prefix = "" if main else f"{os.path.relpath(source, os.path.dirname(self.top))}:"
        routes = tuple(
            route if route.name else dataclasses.replace(route, name=f"{prefix}routes[{index}]")
            for index, route in enumerate(result.routes)
        )
        # The main file's dataclass holds the built-in channel and policy when it defines
        # none; only what the file wrote counts, or an included "log" would clash with them.
        return _Part(
            source=source,
            channels=result.channels if "channels" in written else {},
            escalation_policies=(
                result.escalation_policies if "escalation_policies" in written else {}
            ),
            routes=routes,
            positions=positions,
        )

    def _include(
        self,
        source: str,
        positions: Positions,
        patterns: tuple[str, ...],
        short: bool,
        stack: tuple[tuple[str, str], ...],
    ) -> None:
        base = os.path.dirname(source)
        for index, pattern in enumerate(patterns):
            where = located(source, positions, "include" if short else f"include[{index}]")
            if glob.has_magic(pattern):
                # The base is escaped: only the pattern's own wildcards are wildcards.
                found = glob.glob(os.path.join(glob.escape(base), pattern), recursive=True)
                matches = sorted(match for match in found if os.path.isfile(match))
            else:
                path = os.path.join(base, pattern)
                if not os.path.exists(path):
                    self.problems.append(f"{where}: no such file: {_quote(path)}")
                    continue
                matches = [path]
            for match in matches:
                real = os.path.realpath(match)
                reals = [real_path for _, real_path in stack]
                if real in reals:
                    chain = [name for name, _ in stack[reals.index(real) :]]
                    cycle = " -> ".join([*chain, chain[0]])
                    self.problems.append(f"{where}: include cycle: {cycle}")
                    continue
                if real in self.loaded:
                    continue
                self.included.append(match)
                try:
                    text = _read(match)
                except ConfigError as exc:
                    self.loaded.add(real)
                    self.problems.extend(exc.problems)
                    continue
                self.load(text, match, _IncludedFile, stack)

    def merge(self, main: Config) -> Config:
        """One Config from every file's definitions; problems for what clashes or dangles.

        Problems are grouped by file, in load order.
        """
        found: list[list[str]] = [[] for _ in self.parts]
        channels = self._definitions("channel", "channels", found, lambda p: p.channels)
        channels.setdefault(LOG_CHANNEL, _builtin_channels()[LOG_CHANNEL])
        policies = self._definitions(
            "escalation policy", "escalation_policies", found, lambda p: p.escalation_policies
        )
        policies.setdefault(DEFAULT_POLICY, _builtin_policies()[DEFAULT_POLICY])
        first_use: dict[str, tuple[str, str]] = {}  # route name -> (source, path)
        public = not is_loopback(main.listen_host)
        for index, (part, problems) in enumerate(zip(self.parts, found, strict=True)):
            problems += _check_tiers(part, channels)
            problems += _check_routes(part, policies, first_use)
            problems += _check_slack_channels(part, channels, main.slack)
            if public:  # parts[0] is the main file: the only one with more than channels
                problems += _weak_secrets(part, main, main_file=index == 0)
        if main.default_route.escalation_policy not in policies:
            unknown = _unknown_policy(main.default_route.escalation_policy, policies)
            found[0].append(f"{self.parts[0].at('default_route.escalation_policy')}: {unknown}")
        found[0] += [f"{self.top}: {problem}" for problem in _check_people(main)]
        self.problems.extend(problem for problems in found for problem in problems)
        return dataclasses.replace(
            main,
            channels=types.MappingProxyType(channels),
            escalation_policies=types.MappingProxyType(policies),
            routes=tuple(route for part in self.parts for route in part.routes),
            source=self.top,
            included=tuple(self.included),
        )

    def _definitions(
        self,
        kind: str,
        key: str,
        found: list[list[str]],
        pick: Callable[[_Part], Mapping[str, T]],
    ) -> dict[str, T]:
        """Every file's ``key`` section in one dict; a name defined twice is a problem."""
        merged: dict[str, T] = {}
        defined_in: dict[str, str] = {}
        for part, problems in zip(self.parts, found, strict=True):
            for name, value in pick(part).items():
                if name in defined_in:
                    problems.append(
                        f"{part.at(_join(key, name))}: {kind} {_quote(name)} is already "
                        f"defined in {defined_in[name]}"
                    )
                    continue
                merged[name] = value
                defined_in[name] = part.source
        return merged


def _caller_secrets(config: Config) -> list[tuple[str, str | None, str | None]]:
    """``(key path, secret, sha256 hex)`` of every credential a caller must present to
    Firebreak outside ``channels``: API tokens, the webhook's credentials, Slack's signing
    secret, PagerDuty's webhook secrets. (The console has no secret of its own: its session
    is the API token.)"""
    found: list[tuple[str, str | None, str | None]] = []
    for index, token in enumerate(config.api.tokens):
        if token.token is not None:
            found.append((f"api.tokens[{index}].token", token.token, None))
        elif token.token_sha256 is not None:
            found.append((f"api.tokens[{index}].token_sha256", None, token.token_sha256))
    auth = config.webhook.auth
    for index, bearer in enumerate(auth.bearer_tokens):
        found.append((f"webhook.auth.bearer_tokens[{index}]", bearer, None))
    if auth.basic_auth is not None:
        found.append(("webhook.auth.basic_auth.password", auth.basic_auth.password, None))
    if config.slack is not None:
        found.append(("slack.signing_secret", config.slack.signing_secret, None))
    for index, secret in enumerate(config.pagerduty.webhook_secrets):
        found.append((f"pagerduty.webhook_secrets[{index}]", secret, None))
    return found


def _channel_secrets(
    channels: Mapping[str, ChannelConfig],
) -> list[tuple[str, str | None, str | None]]:
    """The signing secrets of webhook channels (what their receivers check Firebreak by)."""
    return [
        (_join(_join("channels", name), "webhook") + ".secret", channel.webhook.secret, None)
        for name, channel in channels.items()
        if channel.webhook is not None and channel.webhook.secret is not None
    ]


def _weakness(secret: str | None, sha256_hex: str | None) -> str | None:
    return weakness(secret) if secret is not None else digest_weakness(sha256_hex or "")


def _weak_secrets(part: _Part, main: Config, *, main_file: bool) -> list[str]:
    """Problems for the weak secrets ``part`` defines, Firebreak listening beyond loopback."""
    found = _caller_secrets(main) if main_file else []
    problems = []
    for path, secret, sha256_hex in [*found, *_channel_secrets(part.channels)]:
        problem = _weakness(secret, sha256_hex)
        if problem is not None:
            problems.append(
                f"{part.source}: {path}: {problem}, and listen ({main.listen}) is beyond "
                f"loopback; use a random secret of {MIN_SECRET_LENGTH} characters or more "
                "(openssl rand -hex 24)"
            )
    return problems


def weak_secret_warnings(config: Config) -> list[str]:
    """The weak secrets of a configuration that listens on loopback, where they are allowed
    (check-config and serve print them as warnings)."""
    if not is_loopback(config.listen_host):
        return []  # refused when the configuration was loaded
    warnings = []
    for path, secret, sha256_hex in [
        *_caller_secrets(config),
        *_channel_secrets(config.channels),
    ]:
        problem = _weakness(secret, sha256_hex)
        if problem is not None:
            warnings.append(f"{path}: {problem}; it would be refused beyond loopback")
    return warnings


def _check_tiers(part: _Part, channels: Mapping[str, ChannelConfig]) -> list[str]:
    """Each tier of ``part``'s policies names defined channels, with somewhere to send to."""
    problems: list[str] = []
    for name, policy in part.escalation_policies.items():
        tiers = _join(_join("escalation_policies", name), "tiers")
        for t, tier in enumerate(policy.tiers):
            for n, entry in enumerate(tier.notify):
                where = part.at(f"{tiers}[{t}].notify[{n}]")
                channel = channels.get(entry.channel)
                if channel is None:
                    defined = ", ".join(sorted(channels))
                    problems.append(
                        f"{where}: unknown channel {_quote(entry.channel)}; defined: {defined}"
                    )
                elif channel.email is not None and not channel.email.to and not entry.target:
                    problems.append(
                        f"{where}: channel {_quote(entry.channel)} has no email.to addresses, "
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
        f"{where}: channel {_quote(entry.channel)} has no routing key {_quote(alias)}; "
        f"defined: {aliases}"
    ]


def _check_slack_channels(
    part: _Part, channels: Mapping[str, ChannelConfig], slack: SlackConfig | None
) -> list[str]:
    """Slack channels need the app's ``slack`` section, and each tier entry a channel id."""
    problems: list[str] = []
    for name, defined in part.channels.items():
        if defined.type == "slack" and slack is None:
            problems.append(
                f"{part.at(_join(_join('channels', name), 'type'))}: slack channels need "
                "the top-level slack section (bot_token, signing_secret)"
            )
    default = slack.default_channel if slack is not None else None
    for name, policy in part.escalation_policies.items():
        tiers = _join(_join("escalation_policies", name), "tiers")
        for t, tier in enumerate(policy.tiers):
            for n, entry in enumerate(tier.notify):
                channel = channels.get(entry.channel)
                if channel is None or channel.type != "slack":
                    continue
                where = part.at(f"{tiers}[{t}].notify[{n}]")
                if entry.target:
                    text = _check_slack_channel(entry.target)
                    if text is not None:
                        problems.append(f"{part.at(f'{tiers}[{t}].notify[{n}].target')}: {text}")
                elif not (channel.slack and channel.slack.channel) and not default:
                    problems.append(
                        f"{where}: channel {_quote(entry.channel)} has no slack.channel and "
                        "slack.default_channel is not set, so this entry needs a target"
                    )
    return problems


def _check_routes(
    part: _Part,
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
                f"{part.at(f'{path}.name')}: duplicate route name {_quote(route.name)}; "
                f"also used by {other}"
            )
        if route.escalation_policy not in policies:
            unknown = _unknown_policy(route.escalation_policy, policies)
            problems.append(f"{part.at(f'{path}.escalation_policy')}: {unknown}")
    return problems


def _check_people(config: Config) -> list[str]:
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
                f"api.tokens[{index}].person: unknown person {_quote(token.person)}; "
                f"defined: {defined}"
            )
    return problems


def _unknown_policy(name: str, policies: Mapping[str, EscalationPolicyConfig]) -> str:
    return f"unknown escalation policy {_quote(name)}; defined: {', '.join(sorted(policies))}"


def _refuse_main_keys(data: dict[Any, Any], walker: _Walker) -> dict[Any, Any]:
    """``data`` without the top-level keys only the main file may set, each reported."""
    allowed = {_key(f) for f, _ in _schema(_IncludedFile)}
    main_only = {_key(f) for f, _ in _schema(Config)} - allowed
    for key in data:
        if key in main_only:
            walker.problem(
                _join("", key),
                f"not allowed in an included file (allowed: {', '.join(sorted(allowed))})",
            )
    return {key: value for key, value in data.items() if key not in main_only}


def _include_patterns(written: Mapping[Any, Any], cls: type, source: str) -> tuple[str, ...]:
    """The ``include`` patterns of a file that did not convert, if they themselves are valid."""
    if "include" not in written:
        return ()
    f, tp = next((f, tp) for f, tp in _schema(cls) if f.name == "include")
    # A scratch walker: the file's own walk has already reported any problem in them.
    result = _Walker(source).field(written["include"], f, tp, "include")
    return () if result is _INVALID else typing.cast(tuple[str, ...], result)


# --- environment expansion --------------------------------------------------------------------


class _Expanded(str):
    """A string that came out of environment expansion.

    Environment variables are always strings, so number and boolean fields accept these when
    they spell a number or boolean (``pool_size: ${POOL_SIZE:-10}``).
    """

    __slots__ = ()


# "$${" first so that an escaped reference is never read as one; a "${" that the rest of the
# pattern does not complete is malformed and reported.
_REFERENCE = re.compile(
    r"\$\$\{"
    r"|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?"
)
_IN_PROGRESS = object()


def _expand(
    value: object, path: str, env: Mapping[str, str], walker: _Walker, memo: dict[int, object]
) -> object:
    """Copy ``value`` with references in strings replaced; ``memo`` handles YAML aliases."""
    if isinstance(value, str):
        return _expand_string(value, path, env, walker)
    if not isinstance(value, (list, dict)):
        return value
    # An alias shares one object between several places, maybe recursively (&a [*a]).
    done = memo.get(id(value))
    if done is _IN_PROGRESS:
        walker.problem(path, "a YAML alias may not refer to a node that contains it")
        return _INVALID
    if done is not None:
        return done
    memo[id(value)] = _IN_PROGRESS
    result: object
    if isinstance(value, list):
        result = [_expand(item, f"{path}[{i}]", env, walker, memo) for i, item in enumerate(value)]
    else:
        result = {k: _expand(v, _join(path, k), env, walker, memo) for k, v in value.items()}
    memo[id(value)] = result
    return result


def _expand_string(text: str, path: str, env: Mapping[str, str], walker: _Walker) -> object:
    """``text`` with references replaced; ``_INVALID`` (problems recorded) when one cannot be."""
    problems: list[str] = []
    references = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal references
        name, default = match["name"], match["default"]
        if match[0] == "$${":
            return "${"
        references += 1
        if name is None:
            problems.append("expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)")
            return ""
        found = env.get(name)
        if default is not None and not found:
            return default
        if found is None:
            problems.append(f"environment variable {name} is not set")
            return ""
        return found

    result = _REFERENCE.sub(replace, text)
    for problem in problems:
        walker.problem(path, problem)
    if problems:
        return _INVALID
    return _Expanded(result) if references else result


# --- the walker -------------------------------------------------------------------------------

_INVALID: Any = object()  # a value that did not convert; its problem is already recorded
_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: object, *, secret: bool) -> str:
    """What the user wrote, for "got ..."; a secret string is described, never shown."""
    if isinstance(value, str):
        if secret:
            return "a string"
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a value of type {type(value).__name__}"


_ENV_INT = re.compile(r"[-+]?[0-9]{1,18}")
_ENV_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def _from_env(value: object, tp: type) -> object:
    """Read an expanded string as the number or boolean it spells; anything else unchanged."""
    if not isinstance(value, _Expanded):
        return value
    if tp is bool and value in ("true", "false"):
        return value == "true"
    if tp is int and _ENV_INT.fullmatch(value):
        return int(value)
    if tp is float and _ENV_FLOAT.fullmatch(value):
        return float(value)
    return value


def _unknown_key(key: object, keys: list[str]) -> str:
    """What to say of a key the schema does not have: the known key it most likely meant,
    else all of them."""
    close = difflib.get_close_matches(key, keys, n=1) if isinstance(key, str) else []
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key; expected one of: {', '.join(keys)}"


def _key(f: dataclasses.Field[Any]) -> str:
    """The YAML key of field ``f``."""
    return str(f.metadata.get("key", f.name))


def _long_form(value: object, tp: Any) -> bool:
    """Whether ``value`` has the YAML shape of type ``tp`` (a list, a mapping), so that a value
    which is neither a field's short form nor its long form can be reported as such."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return value is None or any(_long_form(value, arg) for arg in inner)
    if value is None:  # an empty section, or for X | None, no value
        return True
    if typing.get_origin(tp) is tuple:
        return isinstance(value, list)
    if typing.get_origin(tp) in (dict, collections.abc.Mapping) or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return True  # a scalar: its own conversion says what is wrong


@functools.cache
def _schema(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """The YAML-visible fields of ``cls`` with their resolved types."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("secret") and f.repr:
            raise TypeError(f"{cls.__name__}.{f.name} is secret but would show in repr()")
        if not f.metadata.get("internal"):
            fields.append((f, hints[f.name]))
    return tuple(fields)


class _Walker:
    """Converts parsed YAML into typed values, recording problems instead of stopping."""

    def __init__(self, source: str, positions: Positions = NO_POSITIONS) -> None:
        self.source = source
        self.positions = positions
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        message = f"{located(self.source, self.positions, path)}: {text}"
        if message not in self.problems:  # e.g. two malformed references in one string
            self.problems.append(message)

    def wrong(self, path: str, expected: str, value: object, secret: bool) -> Any:
        self.problem(path, f"expected {expected}, got {_describe(value, secret=secret)}")
        return _INVALID

    def dataclass(self, value: object, cls: type, path: str) -> Any:
        if value is _INVALID:  # environment expansion failed and said so
            return _INVALID
        if value is None:  # a section whose keys are all commented out
            value = {}
        if not isinstance(value, dict):
            return self.wrong(path, "a mapping", value, False)
        schema = _schema(cls)
        keys = sorted(_key(f) for f, _ in schema)
        for key in value:
            if key not in keys:
                self.problem(_join(path, key), _unknown_key(key, keys))
        kwargs: dict[str, Any] = {}
        valid = True
        for f, tp in schema:
            key = _key(f)
            sub = _join(path, key)
            if key not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.problem(sub, "required key is missing")
                    valid = False
                continue
            result = self.field(value[key], f, tp, sub)
            if result is _INVALID:
                valid = False
                continue
            kwargs[f.name] = result
        if not valid:
            return _INVALID
        obj = cls(**kwargs)
        cross_problems = obj.cross_check(path) if hasattr(obj, "cross_check") else []
        for sub, text in cross_problems:
            self.problem(sub, text)
        return _INVALID if cross_problems else obj

    def field(self, value: object, f: dataclasses.Field[Any], tp: Any, path: str) -> Any:
        """Convert the YAML ``value`` of field ``f``: short form, type, then checks."""
        shorthand: Shorthand | None = f.metadata.get("shorthand")
        short = shorthand is not None and isinstance(value, shorthand.short)
        value = self.expand_short(value, shorthand, tp, path, bool(f.metadata.get("secret")))
        result = self.convert(value, tp, path, f.metadata)
        if result is _INVALID or not self.checked(result, path, f.metadata, short=short):
            return _INVALID
        return result

    def expand_short(
        self, value: object, shorthand: Shorthand | None, tp: Any, path: str, secret: bool
    ) -> Any:
        """``value`` in its long form: expanded when it is the short form, else as it is."""
        if shorthand is None or value is _INVALID:
            return value
        if isinstance(value, shorthand.short):
            return shorthand.expand(value)
        if not _long_form(value, tp):
            return self.wrong(path, shorthand.expected, value, secret)
        return value

    def checked(
        self, value: object, path: str, metadata: Mapping[str, Any], *, short: bool = False
    ) -> bool:
        """Run the field's checks on a converted value; True when it passes them all.

        ``short``: the value was written in its short form, which stood for a single item.
        """
        if value is None:
            return True
        failures: list[tuple[str, str | None]] = []
        if "check" in metadata:
            failures.append((path, metadata["check"](value)))
        if "check_each" in metadata:
            if not isinstance(value, tuple):
                raise TypeError(f"{path}: check_each needs a tuple field")
            # A problem in the one item a short form stood for is reported where it was written.
            paths = (
                [path] if short and len(value) == 1 else [f"{path}[{i}]" for i in range(len(value))]
            )
            failures += [
                (sub, metadata["check_each"](v)) for sub, v in zip(paths, value, strict=True)
            ]
        for sub, text in failures:
            if text is not None:
                self.problem(sub, text)
        return all(text is None for _, text in failures)

    def convert(self, value: object, tp: Any, path: str, metadata: Mapping[str, Any]) -> Any:
        if value is _INVALID:  # environment expansion failed and said so
            return _INVALID
        secret = bool(metadata.get("secret"))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            inner = [arg for arg in args if arg is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"{path}: only X | None unions are supported, not {tp}")
            return None if value is None else self.convert(value, inner[0], path, metadata)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.dataclass(value, tp, path)
        if origin is tuple:
            if len(args) != 2 or args[1] is not Ellipsis:
                raise TypeError(f"{path}: only tuple[T, ...] is supported, not {tp}")
            if value is None:  # a list whose items are all commented out
                return ()
            if not isinstance(value, list):
                return self.wrong(path, "a list", value, secret)
            each: Shorthand | None = metadata.get("shorthand_each")
            items = []
            for i, v in enumerate(value):
                sub = f"{path}[{i}]"
                items.append(
                    self.convert(
                        self.expand_short(v, each, args[0], sub, secret), args[0], sub, metadata
                    )
                )
            return _INVALID if any(item is _INVALID for item in items) else tuple(items)
        if origin in (dict, collections.abc.Mapping):
            if args[0] is not str:
                raise TypeError(f"{path}: mapping keys must be str, not {args[0]}")
            if value is None:  # a section whose entries are all commented out
                value = {}
            if not isinstance(value, dict):
                return self.wrong(path, "a mapping", value, secret)
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    out[key] = self.wrong(_join(path, key), "a string key", key, False)
                else:
                    out[key] = self.convert(item, args[1], _join(path, key), metadata)
            if any(item is _INVALID for item in out.values()):
                return _INVALID
            return out if origin is dict else types.MappingProxyType(out)
        if origin is Literal:
            if isinstance(value, str) and value in args:
                return args[args.index(value)]
            return self.wrong(path, f"one of {', '.join(args)}", value, secret)
        if isinstance(tp, type) and issubclass(tp, Enum):
            members = {member.name.lower(): member for member in tp}
            if isinstance(value, str) and value in members:
                return members[value]
            return self.wrong(path, f"one of {', '.join(members)}", value, secret)
        if tp is object:  # free-form YAML (a JSON body, a default value): taken as written
            return value
        if tp is timedelta:
            if not isinstance(value, str):
                return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
            try:
                return parse_duration(value)
            except ValueError as exc:
                if secret:  # the message quotes the value
                    return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
                self.problem(path, str(exc))
                return _INVALID
        if tp in _EXPECTED:
            value = _from_env(value, tp)
            # bool is an int subclass, and YAML's true is no port number.
            accepted = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if not accepted:
                return self.wrong(path, _EXPECTED[tp], value, secret)
            return str(value) if tp is str else value
        raise TypeError(f"{path}: unsupported field type {tp!r}")
