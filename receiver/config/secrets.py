"""Weak secrets: the credentials callers must present (API tokens, webhook credentials, Slack's
signing secret, PagerDuty's webhook secrets, webhook channels' signing secrets) are refused
when they are short or are an example value Firebreak ships, and the webhook when it has no
credentials at all, if Firebreak listens beyond loopback; on loopback they are only warned
about (``make run`` uses the example as it is).

A token given as ``token_sha256`` cannot be measured; it is refused only when it is the hash
of a shipped example value.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Final

from receiver.config.channels import ChannelConfig
from receiver.config.references import Part
from receiver.config.schema import Config
from receiver.config.yaml import join

__all__ = [
    "MIN_SECRET_LENGTH",
    "SHIPPED_EXAMPLE_SECRETS",
    "digest_weakness",
    "is_loopback",
    "weak_secret_warnings",
    "weak_secrets",
    "weak_secrets_for_listen",
    "weakness",
]

MIN_SECRET_LENGTH: Final = 16
"""Characters a secret needs: ``openssl rand -hex 8`` gives 16, ``-hex 24`` (the docs') 48."""

# Every secret-like value in firebreak.example.yml, docker-compose.yml, examples/ and
# alertmanager/ (defaults of ${VAR:-...}, values of secret keys, passwords in URLs), whatever
# it is the secret of: a value published with Firebreak is nobody's secret.
# tests/unit/config/test_secrets.py finds them in those files and fails on one missing here.
SHIPPED_EXAMPLE_SECRETS: Final = frozenset(
    {
        "change-me-webhook",  # firebreak.example.yml webhook.auth.bearer_tokens
        "change-me-admin",  # firebreak.example.yml api.tokens
        "change-me-viewer",  # firebreak.example.yml api.tokens
        "admin",  # docker-compose.yml Grafana's admin password
        "firebreak",  # docker-compose.yml PostgreSQL's password
        "PASSWORD",  # the placeholder in docker-compose.yml's and examples/compose's database URL
        "pass",  # the placeholder in firebreak.example.yml's database URL
    }
)

_SHIPPED_FOLDED = frozenset(value.casefold() for value in SHIPPED_EXAMPLE_SECRETS)
_SHIPPED_DIGESTS = frozenset(
    hashlib.sha256(value.encode("utf-8")).hexdigest() for value in SHIPPED_EXAMPLE_SECRETS
)


def weakness(secret: str) -> str | None:
    """What makes ``secret`` too weak to guard a public port, or None. Never quotes it."""
    if secret.casefold() in _SHIPPED_FOLDED:
        return "is an example value shipped with Firebreak"
    if len(secret) < MIN_SECRET_LENGTH:
        count = len(secret)
        return (
            f"is {count} character{'s' if count != 1 else ''} long; "
            f"at least {MIN_SECRET_LENGTH} are needed"
        )
    return None


def digest_weakness(sha256_hex: str) -> str | None:
    """What is wrong with a token given as its SHA-256, as far as a hash tells: whether it is
    the hash of a shipped example value."""
    if sha256_hex.lower() in _SHIPPED_DIGESTS:
        return "is the SHA-256 of an example value shipped with Firebreak"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``listen``'s host reaches this machine only: a loopback address or
    ``localhost``. Any other name may resolve anywhere."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _caller_secrets(config: Config) -> list[tuple[str, str | None, str | None]]:
    """``(key path, secret, sha256 hex)`` of every credential a caller must present to
    Firebreak outside ``channels``: API tokens, the webhook's credentials, Slack's signing
    secret, PagerDuty's webhook secrets, the calendar feeds' secret, heartbeat tokens. (The
    console has no secret of its own: its session is the API token.)"""
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
    for name, heartbeat in config.heartbeats.items():
        if heartbeat.token is not None:
            found.append((join(join("heartbeats", name), "token"), heartbeat.token, None))
    if config.oncall.feed_secret is not None:  # what the calendar feeds' URL tokens come from
        found.append(("oncall.feed_secret", config.oncall.feed_secret, None))
    return found


def _channel_secrets(
    channels: Mapping[str, ChannelConfig],
) -> list[tuple[str, str | None, str | None]]:
    """The signing secrets of webhook channels (what their receivers check Firebreak by)."""
    return [
        (join(join("channels", name), "webhook") + ".secret", channel.webhook.secret, None)
        for name, channel in channels.items()
        if channel.webhook is not None and channel.webhook.secret is not None
    ]


def _weakness(secret: str | None, sha256_hex: str | None) -> str | None:
    return weakness(secret) if secret is not None else digest_weakness(sha256_hex or "")


def weak_secrets(part: Part, main: Config, *, main_file: bool) -> list[str]:
    """Problems for the weak secrets ``part`` defines, Firebreak listening beyond loopback."""
    found = _caller_secrets(main) if main_file else []
    problems = _open_webhook(part.source, main) if main_file else []
    return problems + _refusals(part.source, [*found, *_channel_secrets(part.channels)], main)


def weak_secrets_for_listen(config: Config) -> list[str]:
    """Problems for every weak secret of a whole configuration whose ``listen`` is beyond
    loopback: for a ``listen`` from ``--listen`` or ``FIREBREAK_LISTEN`` (or kept from them at a
    reload), which the files were not checked against when they were loaded."""
    if is_loopback(config.listen_host):
        return []
    found = [*_caller_secrets(config), *_channel_secrets(config.channels)]
    source = config.source or "configuration"
    return _open_webhook(source, config) + _refusals(source, found, config)


def _listen(main: Config) -> str:
    return main.listen if main.listen_from == "listen" else f"{main.listen} from {main.listen_from}"


def _open_webhook(source: str, main: Config) -> list[str]:
    """A webhook with no credentials takes alerts from anyone: no secret is the weakest one."""
    auth = main.webhook.auth
    if auth.bearer_tokens or auth.basic_auth is not None:
        return []
    return [
        f"{source}: webhook.auth: no credentials configured, and listen ({_listen(main)}) is "
        "beyond loopback, where anyone who can reach the port could post alerts; give "
        "Alertmanager a bearer token (bearer_tokens, openssl rand -hex 24)"
    ]


def _refusals(
    source: str, found: list[tuple[str, str | None, str | None]], main: Config
) -> list[str]:
    listen = _listen(main)
    problems = []
    for path, secret, sha256_hex in found:
        problem = _weakness(secret, sha256_hex)
        if problem is not None:
            problems.append(
                f"{source}: {path}: {problem}, and listen ({listen}) is beyond "
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
