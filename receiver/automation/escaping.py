"""Escaping per sink: template filters that keep a value one value wherever it lands.

A label or a parameter dropped into a URL path, a PromQL query, a silence matcher or a
command's argv is data; each filter below makes sure it cannot become syntax there:

- ``promql_string``: inside a PromQL double-quoted string (a label matcher's value). PromQL
  reads Go's escapes there, so a backslash, a double quote and a line break are escaped and
  ``"} or vector(1) or {a="`` stays one (odd) label value;
- ``path_segment``: one URL path segment. Everything outside RFC 3986's unreserved characters
  is percent-encoded (``/``, ``?``, ``#`` and ``%`` included), and ``.``, ``..`` and the empty
  string are refused: no value walks up the path or ends it early;
- ``matcher_value``: inside an Alertmanager matcher's double-quoted value (a ``silence`` step's
  ``match``), escaped as Alertmanager's matcher parser and ``receiver/matchers.py`` unescape it;
- ``not_option``: an argv item that must not be read as an option (it may not start with
  ``-``); put ``--`` before positional values where the program supports it.

A refused value fails the step with a message naming the field, never renders.
"""

from __future__ import annotations

import json
import urllib.parse

__all__ = ["UnsafeValue", "matcher_value", "not_option", "path_segment", "promql_string"]


class UnsafeValue(ValueError):
    """A value a filter will not put where the template puts it; the message says why."""


def _text(value: object, sink: str) -> str:
    """The value as text: a string or a number; anything else is not one value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    kind = "null" if value is None else type(value).__name__
    raise UnsafeValue(f"{sink}: expected a string or a number, got {kind}")


def _shown(text: str) -> str:
    return json.dumps(text if len(text) <= 60 else text[:57] + "...", ensure_ascii=False)


# Go's short escapes, which PromQL's lexer and strconv.Unquote both read.
_PROMQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_string(value: object) -> str:
    """``value`` escaped for a double-quoted PromQL string: ``"{{ x | promql_string }}"``."""
    out: list[str] = []
    for char in _text(value, "promql_string"):
        escaped = _PROMQL_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")  # a raw control character ends the lexer's string
        else:
            out.append(char)
    return "".join(out)


def path_segment(value: object) -> str:
    """``value`` as one percent-encoded URL path segment; refuses ``.``, ``..`` and ``""``."""
    text = _text(value, "path_segment")
    if text in ("", ".", ".."):
        what = "an empty segment" if not text else "a dot segment, which walks the path"
        raise UnsafeValue(f"path_segment: {_shown(text)} is {what}")
    # safe="" leaves only RFC 3986's unreserved characters (letters, digits, - . _ ~) as they
    # are; a "." inside a longer segment is harmless.
    return urllib.parse.quote(text, safe="")


def matcher_value(value: object) -> str:
    """``value`` escaped for an Alertmanager matcher's double-quoted value:
    ``'instance="{{ x | matcher_value }}"'``."""
    text = _text(value, "matcher_value")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def not_option(value: object) -> str:
    """``value`` unchanged, unless a program would read it as an option (``-x``, ``--x``)."""
    text = _text(value, "not_option")
    if text.startswith("-"):
        raise UnsafeValue(f"not_option: {_shown(text)} starts with '-' and would be an option")
    return text


FILTERS = {
    "promql_string": promql_string,
    "promql_label": promql_string,  # the same escape, named for where it is used most
    "path_segment": path_segment,
    "matcher_value": matcher_value,
    "not_option": not_option,
}
