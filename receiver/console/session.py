"""The console's session: the API token in a cookie, and what protects its forms.

The cookie holds a random nonce and the token itself (base64url), so a session is exactly
as good as its token: rotating the token in ``api.tokens`` ends it, and nothing is kept on
the server (any replica can check it). The CSRF token of a session is an HMAC of its nonce
keyed with the API token: a page from another site cannot read it, and a fresh login gets a
fresh one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from receiver.access.auth import Principal

COOKIE = "firebreak_session"
CSRF_FIELD = "csrf_token"
_CSRF_CONTEXT = b"firebreak console csrf\x00"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in operator and the CSRF token their forms carry."""

    principal: Principal
    csrf: str


def cookie_value(token: str) -> str:
    """A new session's cookie for ``token``."""
    encoded = base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{secrets.token_hex(16)}.{encoded}"


def parse_cookie(value: str) -> tuple[str, str] | None:
    """(nonce, token) of a session cookie, or None when it is not one."""
    nonce, _, encoded = value.partition(".")
    if len(nonce) != 32 or not encoded:
        return None
    try:
        token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return nonce, token


def csrf_token(token: str, nonce: str) -> str:
    return hmac.new(
        token.encode("utf-8"), _CSRF_CONTEXT + nonce.encode("ascii"), hashlib.sha256
    ).hexdigest()


def csrf_ok(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        expected.encode("ascii"), presented.encode("utf-8", "replace")
    )


def same_origin(headers: Mapping[str, str], host: str | None) -> bool:
    """Whether a form post comes from the console's own pages, as far as the browser says.

    ``Sec-Fetch-Site`` (every current browser) and ``Origin`` must name this site when
    present; a client that sends neither is not a browser another site can drive. Only the
    host is compared: behind a proxy that terminates TLS the scheme seen here differs.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    if origin is None:
        return True
    if origin == "null" or host is None:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


# What a browser removes from a URL before reading it (WHATWG URL parsing): ASCII tab and
# newlines anywhere. ``/\t/evil.example`` is ``//evil.example`` to it: another site.
_STRIPPED = str.maketrans("", "", "\t\r\n")
# Percent-decoding rounds looked through: ``%252F`` is ``%2F`` once decoded, ``/`` twice.
_DECODE_ROUNDS = 4


def _plain_path(path: str) -> bool:
    """Whether the path part of ``path`` (before any query or fragment) can only mean a path
    on this site: one leading ``/`` not followed by ``/`` or ``\\`` (both start another host
    for a browser), no backslash (browsers read it as ``/``), no space or control character."""
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return False
    where = path.split("?", 1)[0].split("#", 1)[0]
    return "\\" not in where and all(" " < char != "\x7f" for char in where)


def safe_next(path: str | None) -> str:
    """Where to go after logging in (or after a console form): a path on this site as a
    browser would read it, never another site; ``/`` for anything else.

    Tabs and newlines are removed first, as the browser does; what is left must be a plain
    same-origin path, and so must each percent-decoding of it (``/%2F%2Fevil.example``,
    ``/%5Cevil.example``), so that nothing that later decodes it can be led elsewhere."""
    if not path:
        return "/"
    normal = path.translate(_STRIPPED)
    if any(not "!" <= char <= "~" for char in normal):  # a URL we make is printable ASCII
        return "/"
    decoded = normal
    for _ in range(_DECODE_ROUNDS):
        if not _plain_path(decoded):
            return "/"
        again = unquote(decoded)
        if again == decoded:
            return normal
        decoded = again
    return "/"  # still encoded after every round: not a path a page of ours would make
