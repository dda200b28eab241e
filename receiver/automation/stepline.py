"""What a step does, in one line of text: ``POST http://10.0.0.5:8080/admin/restart``,
``argv "docker" "compose" "up"``, ``query "up == 0" expecting == 0``. The log and the CLI
show steps this way.

The values come from templates filled with alert labels, so the line is written for where it
lands: a log line or a terminal. Every argument is one quoted value, no character can start a
new line or move the cursor (control and other unprintable characters are escaped), and long
values are cut. Secrets are the caller's: it passes values already redacted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from receiver.durations import format_duration

__all__ = ["one_line", "quoted", "step_line", "word"]

VALUE_LIMIT = 200  # characters of one value (an argument, a URL, a query) shown
BODY_LIMIT = 500  # characters of a request body, as JSON
LINE_LIMIT = 1000  # characters of a whole line
_BARE = re.compile(r"[^\s\"'\\]+")  # shown without quotes (a plain URL)


def one_line(text: object, limit: int = VALUE_LIMIT) -> str:
    """Free text (an error, a note) on one line: unprintable characters escaped, cut short."""
    shown = str(text)
    cut = len(shown) > limit
    shown = _printable(shown[:limit])
    return shown + "…" if cut else shown


def quoted(value: object, limit: int = VALUE_LIMIT) -> str:
    """One value as one double-quoted string, JSON-escaped and cut short (``"…"…``)."""
    text = value if isinstance(value, str) else _json(value)
    cut = len(text) > limit
    shown = _printable(json.dumps(text[:limit], ensure_ascii=False))
    return shown + "…" if cut else shown


def word(value: object) -> str:
    """A URL or a name: bare when it is one plain word, else quoted."""
    text = str(value)
    if len(text) <= VALUE_LIMIT and _BARE.fullmatch(text) and text.isprintable():
        return text
    return quoted(text)


def _json(value: object, limit: int = VALUE_LIMIT) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _printable(text: str) -> str:
    # json.dumps escapes C0 controls; these are the rest a terminal or a log reader may act
    # on (DEL, C1 controls, line and paragraph separators, bidirectional overrides).
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _seconds(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return format_duration(timedelta(seconds=value))
    return one_line(value)


def _matchers(would: Mapping[str, Any]) -> str:
    """``{name="value", name=~"regex"}`` from Alertmanager v2 matchers, else the ``match``
    strings as written; none: every label of the alert."""
    found = would.get("matchers")
    if isinstance(found, list) and found:
        parts = []
        for m in found:
            if not isinstance(m, Mapping):
                continue
            op = ("=" if m.get("isEqual", True) else "!=") if not m.get("isRegex") else None
            if op is None:
                op = "=~" if m.get("isEqual", True) else "!~"
            parts.append(f"{word(m.get('name', ''))}{op}{quoted(m.get('value', ''))}")
        return "{" + ", ".join(parts) + "}"
    written = would.get("match")
    if isinstance(written, list) and written:
        return "{" + ", ".join(quoted(m) for m in written) + "}"
    return "every label of the alert"


def step_line(kind: str, would: Mapping[str, Any]) -> str:
    """What a step of type ``kind`` does, from its rendered inputs or a dry run's ``would``
    (the same keys, but ``seconds`` for a wait's ``duration`` and computed ``matchers``)."""
    line = _describe(kind, would)
    line = line if len(line) <= LINE_LIMIT else line[:LINE_LIMIT] + "…"
    refused = would.get("refused")
    return line + (f" — refused when live: {one_line(str(refused), 200)}" if refused else "")


def _describe(kind: str, would: Mapping[str, Any]) -> str:
    if kind == "http":
        line = f"{one_line(str(would.get('method') or 'GET').upper(), 10)} {word(would['url'])}"
        if would.get("body") is not None:
            line += f" body {_printable(_json(would['body'], BODY_LIMIT))}"
        return line
    if kind == "shell":
        argv = would.get("argv") or []
        line = "argv " + " ".join(quoted(a) for a in argv)
        return line + (f" in {word(would['cwd'])}" if would.get("cwd") else "")
    if kind == "promql":
        line = f"query {quoted(would.get('query', ''))}"
        expect = would.get("expect")
        return line + (f" expecting {one_line(expect, 40)}" if expect else "")
    if kind == "wait":
        return f"wait {_seconds(would.get('seconds', would.get('duration')))}"
    if kind == "silence":
        line = f"silence {_matchers(would)}"
        length = would.get("max_duration", would.get("seconds"))
        return line + (f" for {_seconds(length)}" if length is not None else "")
    if kind == "approval":
        who = would.get("approvers") or []
        asked = ", ".join(word(a) for a in who) if who else "any responder"
        return f"ask {asked} to approve"
    if kind == "notify":
        target = f" ({word(would['target'])})" if would.get("target") else ""
        return f"notify {word(would.get('channel', ''))}{target}: {quoted(would.get('message'))}"
    if kind == "python":
        args = would.get("args")
        shown = f" with {_printable(_json(args))}" if args else ""
        return f"call {word(would.get('function', ''))}{shown}"
    return kind
