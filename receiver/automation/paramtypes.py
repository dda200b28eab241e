"""Runbook parameters: their declaration (``ParamSpec``), and what a value of each ``type:`` may
be, checked and converted.

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

import functools
import ipaddress
import json
import math
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from receiver.config.checks import greater_than_zero
from receiver.durations import format_duration, parse_duration
from receiver.errors import InvalidInput
from receiver.regex import AnchoredRegex, RegexRefused, compile_anchored

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
        if spec.pattern is not None and not _whole(spec.pattern).matches(text):
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


@functools.lru_cache(maxsize=1024)
def _whole(pattern: str) -> AnchoredRegex:
    """``pattern`` as a param's values must match it, whole: RE2, like every regex Firebreak
    runs over what an alert carries. Python's engine backtracks: ``([a-z0-9]+-?)+`` over a
    40-character label would hold the event loop for hours; RE2 is linear in the value."""
    return compile_anchored(pattern)


def check_pattern(pattern: str) -> str | None:
    """For the runbook loader: None, or why ``pattern`` is no regular expression RE2 runs."""
    try:
        _whole(pattern)
    except RegexRefused as exc:
        return f"not a regular expression: {exc.reason}"
    return None


ParamType = Literal["string", "int", "float", "bool", "duration", "enum", "url", "host"]


_SOURCE = re.compile(r"(labels|annotations|trigger_context)\.[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter. Filled, in this order, by a person at a manual run (only when
    ``settable``), from where ``from`` says (a label, an annotation or the trigger context),
    or from ``default``; never from a label by its name alone. Its value is checked against
    ``type``, ``pattern`` and ``max_length`` before the first step (see ``convert``)."""

    type: ParamType = "string"
    default: object = None
    # Where to read it: "labels.NAME", "annotations.NAME" or "trigger_context.NAME".
    from_: str | None = field(default=None, metadata={"key": "from"})
    required: bool = False
    secret: bool = False  # redacted wherever a step's inputs are recorded
    # A person may give it at a manual run (API, Slack, CLI, console); never a secret one.
    settable: bool = False
    values: tuple[str, ...] = ()  # the choices of an enum
    # A regular expression the whole value must match (text types).
    pattern: str | None = field(default=None, metadata={"check": check_pattern})
    max_length: int = field(default=256, metadata={"check": greater_than_zero})
    description: str = ""

    @property
    def source(self) -> tuple[str, str] | None:
        """``from`` split: ("labels", "instance"), or None."""
        if self.from_ is None:
            return None
        kind, _, key = self.from_.partition(".")
        return kind, key

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.from_ is not None and not _SOURCE.fullmatch(self.from_):
            problems.append(
                (f"{path}.from", "expected labels.NAME, annotations.NAME or trigger_context.NAME")
            )
        if self.settable and self.secret:
            problems.append(
                (f"{path}.settable", "a secret parameter is never set by hand at a run")
            )
        if (
            self.from_ is not None
            and self.from_.startswith("trigger_context.")
            and not self.settable
        ):
            problems.append(
                (
                    f"{path}.from",
                    "the trigger context is what a person gives at a manual run: a parameter "
                    "read from it must be settable: true (and so not secret)",
                )
            )
        if (self.type == "enum") != bool(self.values):
            where, text = (
                (f"{path}.values", "an enum needs its values: values: [a, b]")
                if self.type == "enum"
                else (f"{path}.values", "values go with type: enum")
            )
            problems.append((where, text))
        if self.pattern is not None and self.type not in TEXT_TYPES:
            problems.append(
                (
                    f"{path}.pattern",
                    f"a pattern applies to {', '.join(sorted(TEXT_TYPES))} parameters",
                )
            )
        if not problems and self.default is not None:
            try:
                convert("", self, self.default)
            except InvalidInput as exc:
                problems.append((f"{path}.default", exc.message))
        return problems
