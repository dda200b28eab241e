"""Signed, expiring, person-bound acknowledge links (``/ack/<token>``) for Teams and e-mail.

A token says *which alert*, *who* (a person of the people directory, or the channel when the
notice went to a channel) and *until when*, and is signed with HMAC-SHA256 under
``notifications.acknowledge_links.secret``::

    v1.<base64url of "alert_id:actor:expires_unix">.<base64url of HMAC-SHA256>

The signature covers a version prefix and the payload, so a token cannot be moved to another
alert, another person or another expiry without the secret. Verification is in constant time
and happens before anything in the payload is trusted. A token only ever opens a confirmation
page; the acknowledgement itself is a POST from that page (``console/ack.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = ["LinkRefused", "LinkSigner", "SignedAck"]

_VERSION: Final = "v1"
_CONTEXT: Final = b"firebreak-acknowledge-link:v1:"
_MAX_TOKEN: Final = 512  # characters; a longer one is refused unread
_ACTOR_RE: Final = re.compile(r"(person|channel):[A-Za-z0-9_.@+-]{1,128}")
_PAYLOAD_RE: Final = re.compile(
    r"([0-9]{1,18}):((?:person|channel):[A-Za-z0-9_.@+-]{1,128}):([0-9]{1,12})"
)


class LinkRefused(Exception):
    """The link cannot be used; ``reason`` is ``invalid`` or ``expired``, ``message`` says why
    in words a person can act on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class SignedAck:
    """What a valid token says."""

    alert_id: int
    actor: str  # "person:<id>" or "channel:<name>"
    expires: datetime

    @property
    def person(self) -> str | None:
        kind, _, name = self.actor.partition(":")
        return name if kind == "person" else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks tokens under one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("an acknowledge link secret needs at least 32 characters")
        self._key = secret.encode("utf-8")

    def _signature(self, payload: str) -> bytes:
        return hmac.new(self._key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()

    def token(self, alert_id: int, actor: str, expires: datetime) -> str:
        """A token for ``actor`` (``person:<id>`` or ``channel:<name>``) on ``alert_id``."""
        if not _ACTOR_RE.fullmatch(actor):
            raise ValueError(f"not an actor for a link: {actor!r}")
        payload = f"{alert_id}:{actor}:{int(expires.timestamp())}"
        return f"{_VERSION}.{_b64(payload.encode('ascii'))}.{_b64(self._signature(payload))}"

    def verify(self, token: str, now: datetime) -> SignedAck:
        """What ``token`` says; raises ``LinkRefused`` when it is malformed, not ours, altered
        or expired."""
        invalid = LinkRefused("invalid", "This link is not valid: it was altered or cut short.")
        if len(token) > _MAX_TOKEN or token.count(".") != 2:
            raise invalid
        version, encoded, signature = token.split(".")
        if version != _VERSION:
            raise invalid
        try:
            payload = _unb64(encoded).decode("ascii")
            presented = _unb64(signature)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid from None
        if not hmac.compare_digest(presented, self._signature(payload)):
            raise invalid
        match = _PAYLOAD_RE.fullmatch(payload)
        if match is None:
            raise invalid
        expires = datetime.fromtimestamp(int(match[3]), UTC)
        if now >= expires:
            raise LinkRefused(
                "expired", "This link has expired. Open the alert in the console instead."
            )
        return SignedAck(int(match[1]), match[2], expires)
