"""Regular expressions written by people (``=~`` and ``!~`` label matchers): RE2, as
Alertmanager and Prometheus read them.

RE2 runs in time linear in the text whatever the pattern, so a viewer's ``(a+)+$`` over a long
label value costs microseconds, not hours of the event loop. A pattern is anchored the way
Alertmanager anchors it (``^(?:pattern)$``) and its compiled program is bounded in memory;
what RE2 refuses (back-references, look-arounds, a program over the bound) is a
``RegexRefused`` saying why.

``google-re2`` ships no type stubs; this module is the one place that touches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import re2

__all__ = ["MAX_PROGRAM_BYTES", "AnchoredRegex", "RegexRefused", "compile_anchored"]

# Memory RE2 may spend on one compiled pattern (and its matching caches). An alternation of
# 500 host names fits comfortably; "\pL{1000}" does not.
MAX_PROGRAM_BYTES: Final = 1 << 20


class RegexRefused(ValueError):
    """RE2 does not accept the pattern; ``reason`` says why, in words for the person who
    wrote it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False  # a refused pattern is the caller's answer, not stderr noise
    options.never_capture = True  # only whether it matches counts: the fastest engine
    return options


_OPTIONS: Final = _options()


def _reason(error: Exception) -> str:
    raw = error.args[0] if error.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "pattern too large" in text:
        return f"too large: it compiles to more than {MAX_PROGRAM_BYTES // 1024} KiB"
    if "invalid perl operator" in text or "invalid escape sequence" in text:
        text += " (RE2 syntax, as in Alertmanager: no look-arounds or back-references)"
    return text


@dataclass(frozen=True, slots=True)
class AnchoredRegex:
    """A compiled pattern that must match a whole value."""

    pattern: str
    _program: Any = field(compare=False, repr=False)

    def matches(self, value: str) -> bool:
        # Encoded here (lone surrogates kept) rather than by the binding, which would raise.
        return self._program.search(value.encode("utf-8", "surrogatepass")) is not None


def compile_anchored(pattern: str) -> AnchoredRegex:
    """``pattern`` compiled as Alertmanager compiles a matcher's value: ``^(?:pattern)$``."""
    try:
        return AnchoredRegex(pattern, re2.compile(f"^(?:{pattern})$", _OPTIONS))
    except re2.error as exc:
        error: Exception = exc
    except UnicodeEncodeError:
        raise RegexRefused("not valid UTF-8 text") from None
    try:  # say what is wrong in terms of the pattern as written, not of its anchored form
        re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        error = exc
    raise RegexRefused(_reason(error))
