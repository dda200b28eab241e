"""The command line as a client of a running Firebreak over HTTP (``firebreak page``, ``firebreak
heartbeat``, the webhook ``runbooks drill`` posts to): one check of the address, one way of
reading a token, one policy for trying again.

The policy: a connection error, a timeout or a 5xx (Firebreak starting, its store away, a proxy
losing the answer) may pass, and is tried again after 1 s, 2 s…; a 4xx is Firebreak's answer and
is never tried again. Only requests that are safe to repeat come here: a page carries its key, a
beat is only another beat, a webhook is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import aiohttp

from receiver.errors import FirebreakError, InvalidInput

ATTEMPTS: Final = 3
BACKOFF: Final = 1.0  # seconds before the second attempt; doubled before each next one
# A token file holds one token; anything much longer is not one (a key, a whole config).
TOKEN_FILE_LIMIT: Final = 4096
# The longest answer read: Firebreak's are a few KiB (an alert, a heartbeat).
_ANSWER_LIMIT: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """Firebreak's last answer: its status, its JSON (None when the body was not JSON), and a
    reason to show when it has no error of its own."""

    status: int
    body: Any
    reason: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> str:
        """The answer's ``error`` as Firebreak put it (else its status's reason), printable and
        short enough for one line."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        shown = error if isinstance(error, str) else self.reason
        return "".join(c if c.isprintable() else "?" for c in shown)[:300]


class Unreachable(FirebreakError):
    """Every attempt failed before Firebreak answered (no connection, a timeout, a TLS error)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


def base_url(value: str, field: str = "--url") -> str:
    """Firebreak's address, checked: http or https with a host, and nothing else (a ``file:``
    or ``unix:`` address would send the token somewhere that is not Firebreak)."""
    if not value:
        raise InvalidInput(field, "expected Firebreak's URL (or $FIREBREAK_URL)")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(field, "expected an http or https URL such as https://firebreak:9095")
    return value.rstrip("/")


def read_token(
    environ: Mapping[str, str], variable: str, token_file: str | None, *, missing: str
) -> str:
    """The token from ``token_file`` when one is given, else from ``$variable``; never from the
    command line, where every user of the machine could read it in the process list.
    ``missing`` is what to say when there is none."""
    if token_file is not None:
        try:
            with open(token_file, "rb") as f:
                raw = f.read(TOKEN_FILE_LIMIT + 1)
        except OSError as exc:
            raise InvalidInput("--token-file", f"cannot read it: {exc.strerror}") from None
        if len(raw) > TOKEN_FILE_LIMIT:
            raise InvalidInput("--token-file", f"longer than {TOKEN_FILE_LIMIT} bytes")
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidInput("--token-file", "not UTF-8 text") from None
        where = "--token-file"
    else:
        token = environ.get(variable, "").strip()
        where = f"${variable}"
    if not token:
        raise InvalidInput("", missing)
    if any(not c.isprintable() or c.isspace() for c in token):
        # It goes into a header line: a line break would start another header.
        raise InvalidInput(where, "a token is one line without spaces or control characters")
    return token


class ApiClient:
    """Posts to one Firebreak (``async with``), trying again as the module says."""

    def __init__(
        self,
        base: str,
        *,
        token: str | None = None,
        auth: aiohttp.BasicAuth | None = None,
        attempts: int = ATTEMPTS,
        timeout: float = 30.0,
        ca_file: str | None = None,
    ) -> None:
        self.base = base_url(base)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._auth = auth
        self._attempts = attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else None
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            auth=self._auth,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(ssl=context if context is not None else True),
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, path: str, body: Any) -> Answer:
        """``body`` as JSON to ``path``: the answer to the last attempt, or ``Unreachable``."""
        assert self._session is not None, "use the client in `async with`"
        url = self.base + path
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._session.post(url, json=body) as response:
                    answer = Answer(response.status, await _json(response), response.reason or "")
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt == self._attempts:
                    raise Unreachable(self.base, _reason(exc)) from None
            else:
                if answer.status < 500 or attempt == self._attempts:
                    return answer
            await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover


async def _json(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON; None when it is not JSON or longer than any answer of Firebreak's
    (a server that is not Firebreak may send without end)."""
    raw = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > _ANSWER_LIMIT:
            return None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return str(exc.os_error.strerror or exc.os_error)
    return str(exc) or exc.__class__.__name__
