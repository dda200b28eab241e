"""A caller's text, checked before it is kept: printable characters only (no NUL, which
PostgreSQL cannot store, nor control, invisible or direction-changing characters, since what is
kept is shown in the console, Slack and logs as it was sent), and a caller's field name cut
short before an error echoes it (it may be as long as the body)."""

from __future__ import annotations

from typing import Final

__all__ = ["FIELD_NAME_ECHOED", "echoed_name", "printable"]

FIELD_NAME_ECHOED: Final = 64  # characters of a caller's field name an error repeats


def printable(text: str, allowed: str = "") -> bool:
    """Whether ``text`` holds printable characters only, or those in ``allowed`` (``"\\n\\t"``
    for text that may span lines)."""
    return all(c.isprintable() or c in allowed for c in text)


def echoed_name(key: object) -> str:
    """A caller's field name as an error may repeat it."""
    return str(key)[:FIELD_NAME_ECHOED]
