"""Prometheus duration strings (``30s``, ``5m``, ``1h30m``, ``250ms``) to and from ``timedelta``.

The syntax is Prometheus's own (``model.ParseDuration``) so that people can copy values between
their Prometheus, Alertmanager and Firebreak configurations without translating them.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

_MS_PER_DAY = 24 * 60 * 60 * 1000

# Largest first: the syntax requires units in this order, and formatting emits them in it.
_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * _MS_PER_DAY),  # Prometheus ignores leap years, so must we
    ("w", 7 * _MS_PER_DAY),
    ("d", _MS_PER_DAY),
    ("h", 60 * 60 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)

# [0-9] rather than \d: \d also matches other scripts' digits, which Prometheus rejects.
_PATTERN = re.compile("".join(f"(?:([0-9]+){unit})?" for unit, _ in _UNITS))

# Longer numbers cannot fit in a timedelta anyway, and int() refuses very long digit strings.
_MAX_DIGITS = 20

# Years and weeks are only used when they divide the duration exactly: "90d" reads better than
# "12w6d" (Prometheus formats the same way).
_EXACT_ONLY = frozenset({"y", "w"})


def _quote(text: str) -> str:
    """Quote ``text`` for an error message, escaping control characters and cutting it short."""
    return json.dumps(text if len(text) <= 60 else text[:57] + "...", ensure_ascii=False)


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus duration such as ``30s``, ``5m``, ``1h30m`` or ``250ms``.

    Units are ``ms``, ``s``, ``m``, ``h``, ``d``, ``w`` and ``y`` (365 days), largest first,
    each at most once; ``0`` alone means zero. Raises ``ValueError`` for anything else.
    """
    if text == "0":
        return timedelta(0)
    match = _PATTERN.fullmatch(text)
    if text == "" or match is None:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h30m, got {_quote(text)}")
    too_long = f"expected a duration shorter than {timedelta.max.days}d, got {_quote(text)}"
    milliseconds = 0
    for number, (_, size) in zip(match.groups(), _UNITS, strict=True):
        digits = (number or "").lstrip("0")
        if len(digits) > _MAX_DIGITS:
            raise ValueError(too_long)
        milliseconds += int(digits or "0") * size
    try:
        return timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise ValueError(too_long) from None


def format_duration(td: timedelta) -> str:
    """Format ``td`` the way Prometheus does: ``1h30m``, ``2w``, ``90d``, ``250ms``, ``0s``.

    ``parse_duration(format_duration(td)) == td`` for every ``td`` this accepts. Raises
    ``ValueError`` for negative durations and for ones finer than a millisecond, which the
    syntax cannot express.
    """
    if td < timedelta(0):
        raise ValueError(f"cannot format a negative duration ({td})")
    microseconds = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    milliseconds, remainder = divmod(microseconds, 1000)
    if remainder:
        raise ValueError(f"cannot format a duration finer than a millisecond ({td})")
    if milliseconds == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNITS:
        count, rest = divmod(milliseconds, size)
        if count == 0 or (unit in _EXACT_ONLY and rest != 0):
            continue
        parts.append(f"{count}{unit}")
        milliseconds = rest
    return "".join(parts)
