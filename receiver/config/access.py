"""Who may call Firebreak: the Alertmanager webhook's credentials, API tokens and their roles,
and the people directory that tokens and Slack users name."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.addresses import check_network
from receiver.config.checks import (
    check_address,
    check_slack_user,
    check_time_zone,
    greater_than_zero,
    not_empty,
    positive_duration,
)
from receiver.config.walker import Shorthand, one_item_list
from receiver.config.yaml import join
from receiver.model import Role

_NETWORKS = Shorthand(str, one_item_list, "an address or CIDR range, or a list of them")


def _check_sha256_hex(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return None
    return "expected 64 hexadecimal digits (sha256sum of the token)"


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP basic credentials Alertmanager may present instead of a bearer token."""

    username: str = field(metadata={"check": not_empty})
    password: str = field(repr=False, metadata={"secret": True, "check": not_empty})


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """Credentials accepted on the Alertmanager webhook; a request must match one of them."""

    bearer_tokens: tuple[str, ...] = field(
        default=(), repr=False, metadata={"secret": True, "check_each": not_empty}
    )
    basic_auth: BasicAuth | None = None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The Alertmanager webhook endpoint."""

    auth: WebhookAuth = field(default_factory=WebhookAuth)
    max_body_bytes: int = field(default=5 * 1024 * 1024, metadata={"check": greater_than_zero})
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


@dataclass(frozen=True, slots=True)
class PersonConfig:
    """One person of the people directory: whoever acts through the API, the console or
    Slack as them is one actor, ``person:<id>`` (one approver, for four eyes too)."""

    id: str = field(metadata={"check": _check_person_id})
    name: str = ""
    email: str | None = field(default=None, metadata={"check": check_address})
    slack_user_id: str | None = field(default=None, metadata={"check": check_slack_user})
    # Where they live: shown beside shift times, and what "outside working hours" means.
    time_zone: str = field(default="UTC", metadata={"check": check_time_zone})
    # Their PagerDuty user id (PXXXXXX), when escalation may page them through PagerDuty.
    pagerduty_user: str | None = field(default=None, metadata={"check": not_empty})


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token for the HTTP API and the role it grants."""

    # The token itself, or its SHA-256 (hex), so the file need not hold the secret.
    token: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": not_empty}
    )
    role: Role = field(kw_only=True)
    token_sha256: str | None = field(default=None, metadata={"check": _check_sha256_hex})
    name: str | None = None  # who holds the token, for logs and audit entries
    # The person (an id in ``people``) who holds it: they act as person:<id> through it.
    person: str | None = field(default=None, metadata={"check": not_empty})

    @property
    def digest(self) -> bytes:
        """The SHA-256 of the token, whichever way it was given."""
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        return hashlib.sha256((self.token or "").encode("utf-8")).digest()

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if (self.token is None) == (self.token_sha256 is None):
            return [(join(path, "token"), "give token or token_sha256 (exactly one)")]
        return []


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API used by people, chat bots and the CLI."""

    tokens: tuple[ApiToken, ...] = ()
    # Failed authentications one client address may make in ``auth_failure_window`` before it
    # is answered 429 (never on /webhook: Alertmanager would drop the notification).
    auth_failure_limit: int = field(default=10, metadata={"check": greater_than_zero})
    auth_failure_window: timedelta = field(
        default=timedelta(minutes=1), metadata={"check": positive_duration}
    )
    # A client that has not sent its whole request body by then gets 408.
    body_timeout: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": positive_duration}
    )
    # A connection that has not sent a whole request head this long after it opened, or after
    # its previous answer, is closed (so this is also how long an idle connection stays open).
    # Read at start.
    header_timeout: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": positive_duration}
    )
    # Connections one client address may hold open at once; more are answered 503 and closed
    # (never for webhook.trusted_senders and trusted_proxies).
    max_connections_per_address: int = field(default=64, metadata={"check": greater_than_zero})
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
