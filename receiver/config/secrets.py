"""Weak secrets: the credentials callers must present (API tokens, webhook credentials, Slack's
signing secret, PagerDuty's webhook secrets, webhook channels' signing secrets) are refused
when they are short or are an example value Firebreak ships, if Firebreak listens beyond
loopback; on loopback they are only warned about (``make run`` uses the example as it is).

A token given as ``token_sha256`` cannot be measured; it is refused only when it is the hash
of a shipped example value.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Final

__all__ = [
    "MIN_SECRET_LENGTH",
    "SHIPPED_EXAMPLE_SECRETS",
    "digest_weakness",
    "is_loopback",
    "weakness",
]

MIN_SECRET_LENGTH: Final = 16
"""Characters a secret needs: ``openssl rand -hex 8`` gives 16, ``-hex 24`` (the docs') 48."""

# Every secret-like value in firebreak.example.yml, docker-compose.yml, examples/ and
# alertmanager/ (defaults of ${VAR:-...}, values of secret keys, passwords in URLs), whatever
# it is the secret of: a value published with Firebreak is nobody's secret.
# tests/unit/test_secret_strength.py finds them in those files and fails on one missing here.
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
