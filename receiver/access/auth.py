"""Who is calling: API bearer tokens with roles, and the webhook's own credentials.

Presented secrets are hashed and compared against every configured hash with
``hmac.compare_digest``, so neither the match nor its position leaks through timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from receiver.config import ApiToken
from receiver.config import WebhookAuth as WebhookAuthConfig
from receiver.errors import Forbidden, Unauthenticated
from receiver.model import Role
from receiver.people import person_actor


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a name for the audit trail and a role, and the person of the
    people directory who holds the token, if it names one."""

    name: str
    role: Role
    person: str | None = None

    def actor(self, interface: str) -> str:
        """How the caller acts through ``interface``: ``person:alice`` for a token mapped to
        a person, else ``api:<token name>`` (``console:``...)."""
        return person_actor(self.person) if self.person else f"{interface}:{self.name}"

    @property
    def audit_name(self) -> str:
        """The audit trail's actor: the person, else the token's name."""
        return person_actor(self.person) if self.person else self.name


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    value = headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def secret_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` is ``expected``, in time that tells nothing of either (their
    digests are compared, so not even the length leaks)."""
    if presented is None:
        return False
    return hmac.compare_digest(_digest(presented), _digest(expected))


class TokenAuth:
    """API tokens from ``api.tokens``."""

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self.replace(tokens)

    def replace(self, tokens: Sequence[ApiToken]) -> None:
        """Use these tokens from now on (a configuration reload)."""
        self._tokens = [
            (t.digest, Principal(t.name or f"token-{t.digest.hex()[:8]}", t.role, t.person))
            for t in tokens
        ]

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        presented = bearer_token(headers)
        if presented is None:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
        return self.authenticate_token(presented, "the bearer token is not valid")

    def authenticate_token(
        self, presented: str, problem: str = "the token is not valid"
    ) -> Principal:
        """The principal of a token presented any way (a bearer header, the console's
        cookie); ``problem`` is the message when it matches none."""
        digest = _digest(presented)
        found: Principal | None = None
        for expected, principal in self._tokens:  # no early exit: constant work per request
            if hmac.compare_digest(digest, expected):
                found = principal
        if found is None:
            raise Unauthenticated(problem)
        return found

    def require(self, headers: Mapping[str, str], role: Role) -> Principal:
        return require_role(self.authenticate(headers), role)


def require_role(principal: Principal, role: Role) -> Principal:
    """``principal`` when its role is at least ``role``; else Forbidden, naming both."""
    if principal.role < role:
        raise Forbidden(
            f"this needs the {role.name.lower()} role; "
            f"{principal.name} has {principal.role.name.lower()}"
        )
    return principal


class WebhookAuth:
    """The credentials Alertmanager's ``http_config`` sends: bearer tokens and/or basic auth."""

    def __init__(self, config: WebhookAuthConfig) -> None:
        self.replace(config)

    def replace(self, config: WebhookAuthConfig) -> None:
        """Accept these credentials from now on (a configuration reload)."""
        self._bearer = [_digest(t) for t in config.bearer_tokens]
        basic = config.basic_auth
        self._basic = _digest(f"{basic.username}:{basic.password}") if basic else None

    @property
    def enabled(self) -> bool:
        return bool(self._bearer) or self._basic is not None

    def check(self, headers: Mapping[str, str]) -> None:
        if not self.enabled:
            return
        value = headers.get("Authorization", "")
        scheme, _, credentials = value.partition(" ")
        ok = False
        if scheme.lower() == "bearer" and self._bearer:
            digest = _digest(credentials.strip())
            for expected in self._bearer:
                ok |= hmac.compare_digest(digest, expected)
        elif scheme.lower() == "basic" and self._basic is not None:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            ok = hmac.compare_digest(_digest(decoded), self._basic)
        if not ok:
            raise Unauthenticated("webhook credentials are missing or wrong")
