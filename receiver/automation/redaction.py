"""What a step's record may hold: every secret taken out, and a bound on its size.

A step's inputs, output and error pass through one ``Redactor`` on their way into the store;
everything that shows or sends them (the API, the console, the Slack thread, the CLI, logs,
later steps' templates) reads what was stored. The secrets are every configured credential
(the fields ``receiver.config`` marks ``secret``, the password in ``database.url``, the credentials
of ``automation.actions`` settings) and the execution's ``secret: true`` parameters, each
searched for as written, percent-encoded and base64-encoded (a secret on its own in a header
or a query). A secret inside a larger encoded blob (a basic-auth header of user:password, a
JWT) cannot be found by searching; the configured basic-auth pairs are searched for whole.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yarl

from receiver.automation.params import REDACTED, redact
from receiver.config import BasicAuth, Config, DatabaseConfig

# Shorter values are not searched for: they would blank ordinary words of every output.
MIN_SECRET = 4
# What update_step keeps of an error; cut here so the marker shows where.
ERROR_LIMIT = 4000
# Header names whose values are credentials (a webhook channel's other headers are not).
_CREDENTIAL_KEY = re.compile(r"authorization|cookie|token|secret|passw(or)?d|api[-_]?key", re.I)


def configured_secrets(config: Config) -> frozenset[str]:
    """Every credential the configuration holds, as written."""
    found: set[str] = set()
    _collect(config, found)
    url = yarl.URL(config.database.url)
    if url.password:
        found |= {url.password, url.raw_password or url.password}
    for settings in config.automation.actions.values():
        for key, value in settings.items():
            if _CREDENTIAL_KEY.search(key) and isinstance(value, str):
                found.add(value)
    return frozenset(s for s in found if len(s) >= MIN_SECRET)


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, BasicAuth):  # the pair as an Authorization: Basic header carries it
        pair = f"{value.username}:{value.password}".encode()
        found.add(base64.b64encode(pair).decode("ascii"))
    if isinstance(value, DatabaseConfig):
        return  # secret for the password its URL carries, taken on its own
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("secret"):
                _strings(item, found, only_credentials=f.name == "headers")
            else:
                _collect(item, found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, tuple):
        for item in value:
            _collect(item, found)


def _strings(value: Any, found: set[str], *, only_credentials: bool = False) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not only_credentials or _CREDENTIAL_KEY.search(str(key)):
                _strings(item, found)
    elif isinstance(value, tuple | list):
        for item in value:
            _strings(item, found)


def encodings(secret: str) -> set[str]:
    """The forms a secret is searched for in: as written, percent-encoded, base64 alone."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
    }
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if len(form) >= MIN_SECRET}


@dataclass(frozen=True, slots=True)
class Redactor:
    """Takes secrets out of what a step records, and bounds its size."""

    secrets: frozenset[str] = frozenset()
    max_output_bytes: int = 128 * 1024
    _pattern: re.Pattern[str] | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def of(cls, secrets: Iterable[str], max_output_bytes: int = 128 * 1024) -> Redactor:
        kept = frozenset(s for s in secrets if s and len(s) >= MIN_SECRET)
        forms = sorted({f for s in kept for f in encodings(s)}, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
        return cls(kept, max_output_bytes, pattern)

    def adding(self, more: Iterable[str]) -> Redactor:
        """This redactor with more secrets (an execution's secret parameters)."""
        extra = {s for s in more if s}
        if not extra - self.secrets:
            return self
        return Redactor.of(self.secrets | extra, self.max_output_bytes)

    def text(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def value(self, value: Any) -> Any:
        """``value`` with secrets replaced in every string (keys too), and every value under a
        secret-looking key (``token``, ``password``, ``authorization``...) replaced whole."""
        return self._walk(redact(value, frozenset()))

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value

    def error(self, error: str | None) -> str | None:
        if error is None:
            return None
        return cut_text(self.text(error), ERROR_LIMIT)

    def output(self, value: Any) -> Any:
        """What is stored of a step's output or inputs: redacted, then bounded."""
        return bound(self.value(value), self.max_output_bytes)


def cut_text(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    return text[:keep] + marker(len(text) - keep)


def marker(cut: int) -> str:
    return f"...[{cut} characters cut: automation.max_step_output_bytes]"


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False).encode("utf-8"))


def bound(value: Any, limit: int) -> Any:
    """``value`` whose JSON is at most about ``limit`` bytes: its longest strings cut first,
    each with a marker saying how much went; what still does not fit becomes a preview."""
    size = _size(value)
    if size <= limit:
        return value
    keep = max(_longest(value), 1)
    while keep > 64:
        keep //= 2
        cut = _cut(value, keep)
        if _size(cut) <= limit:
            return cut
    text = json.dumps(value, default=str, ensure_ascii=False)
    room = max(limit // 2, 64)
    return {"truncated": True, "bytes": size, "preview": cut_text(text, room)}


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return max((_longest(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return max((_longest(v) for v in value), default=0)
    return 0


def _cut(value: Any, keep: int) -> Any:
    if isinstance(value, str):
        return cut_text(value, keep)
    if isinstance(value, Mapping):
        return {k: _cut(v, keep) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v, keep) for v in value]
    return value
