"""Runbook parameter types: what a value of each ``type:`` may be, checked and converted.

A parameter's value comes from a label, an annotation, a person at a manual run or the
runbook's default; whichever it is, it goes through ``convert`` before the first step, so a
template only ever sees a value of the declared type that passed the parameter's ``pattern``
and ``max_length``. Types:

- ``string``; ``int``; ``float`` (finite); ``bool`` (true/false, yes/no, 1/0);
- ``duration``: Prometheus syntax (``30s``, ``1h30m``), kept as text in that syntax;
- ``enum``: one of the parameter's ``values``;
- ``url``: an absolute ``http://`` or ``https://`` URL with a host and no ``user@``;
- ``host``: a host name or an IP address, without scheme, port or path.

No value holds a control character (a line break, NUL, ESC...), whatever its type.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import unicodedata
import urllib.parse
from typing import TYPE_CHECKING, Any

from receiver.durations import format_duration, parse_duration
from receiver.errors import InvalidInput

if TYPE_CHECKING:
    from receiver.automation.definitions import ParamSpec

TYPES = ("string", "int", "float", "bool", "duration", "enum", "url", "host")
# Types whose value is text: the ones ``pattern`` and ``max_length`` apply to.
TEXT_TYPES = frozenset({"string", "duration", "url", "host"})

_INT = re.compile(r"[-+]?[0-9]{1,18}")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")
_EXPECTED = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "duration": "a duration such as 30s, 5m or 1h30m",
    "url": "an absolute http:// or https:// URL with a host",
    "host": "a host name or an IP address (no scheme, port or path)",
}


def expected(spec: ParamSpec) -> str:
    """What a value of this parameter must be, in words."""
    if spec.type == "enum":
        return "one of " + ", ".join(spec.values)
    return _EXPECTED[spec.type]


def convert(name: str, spec: ParamSpec, value: Any) -> Any:
    """``value`` as parameter ``name`` holds it; raises ``InvalidInput`` naming
    ``params.<name>`` and what was expected. ``value`` is not None."""
    field = f"params.{name}"
    if isinstance(value, dict | list | tuple) or value is None:
        raise InvalidInput(field, f"expected {expected(spec)}, got {_described(value, spec)}")
    if isinstance(value, str) and (bad := _control(value)):
        raise InvalidInput(field, f"expected no control characters, got {bad}")
    converted = _typed(spec, value)
    if converted is None:
        raise InvalidInput(field, f"expected {expected(spec)}, got {_described(value, spec)}")
    if spec.type in TEXT_TYPES:
        text = str(converted)
        if len(text) > spec.max_length:
            raise InvalidInput(
                field, f"expected at most {spec.max_length} characters, got {len(text)}"
            )
        if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
            raise InvalidInput(
                field,
                f"expected a value matching {spec.pattern}, got {_described(value, spec)}",
            )
    return converted


def _typed(spec: ParamSpec, value: Any) -> Any:
    """The converted value, or None when it is not of the type."""
    kind = spec.type
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, bool):  # true is no number, no name and no URL
        return None
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else None
        return int(value) if _INT.fullmatch(value.strip()) else None
    if kind == "float":
        number = (
            float(value) if not isinstance(value, str) or _FLOAT.fullmatch(value.strip()) else None
        )
        return number if number is not None and math.isfinite(number) else None
    text = value if isinstance(value, str) else str(value)
    if kind == "string":
        return text
    if kind == "enum":
        return text if text in spec.values else None
    if kind == "duration":
        try:
            return format_duration(parse_duration(text.strip()))
        except ValueError:
            return None
    if kind == "url":
        return text if _is_url(text) else None
    return text if _is_host(text) else None


def _is_url(text: str) -> bool:
    if text != text.strip() or any(c.isspace() for c in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    return _is_host(parts.hostname)


def _is_host(text: str) -> bool:
    if len(text) > 253:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return _HOST_NAME.fullmatch(text) is not None
    return True


def _control(text: str) -> str | None:
    """The first control character of ``text``, described; None when there is none."""
    for index, char in enumerate(text):
        # Cc: C0/C1 controls (NUL, ESC, line breaks); Cs: lone surrogates; Zl/Zp: U+2028/9.
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            return f"U+{ord(char):04X} at position {index}"
    return None


def _described(value: Any, spec: ParamSpec) -> str:
    """A value for an error message: quoted and cut short, a secret's never shown."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if spec.secret:
        return "a value (not shown: the parameter is secret)"
    text = str(value)
    return json.dumps(text if len(text) <= 60 else text[:57] + "...", ensure_ascii=False)


def check_pattern(pattern: str) -> str | None:
    """For the runbook loader: None, or why ``pattern`` is no regular expression."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    except RecursionError:
        return "not a regular expression: nested too deeply"
    return None
