"""Slack's mrkdwn, for text from outside: the one escaping every Slack message uses.

Slack reads ``&``, ``<`` and ``>`` as control characters (``<!here>``, ``<@U123>``,
``<!subteam^S1>``, ``<http://x|label>`` all start with ``<``), and its documentation asks for
exactly those three as HTML entities and nothing else ("Formatting text for app surfaces",
"Escaping text"). A backtick can open or close inline code and a code block around the text
Firebreak puts it in, so outside text gets a look-alike (U+02CB) instead: a summary cannot close
the code block of a digest or the inline code of a label and have what follows read as
markup. ``*``, ``_`` and ``~`` stay: Slack has no way to escape them, they only style text, and
changing them would change the label values people copy from a message.

Text objects are sent with ``verbatim: true``, so Slack does not turn bare names, channels or
URLs in them into links or mentions either; only the ``<url|label>`` links Firebreak writes
itself are links, and their URLs are http(s) only with the characters that would end them
percent-encoded. ``plain_text`` objects (button labels, confirmations) need none of this.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import quote

from receiver.notify.render import safe_url

__all__ = ["escape", "escape_within", "link", "mrkdwn", "user_mention"]

_ENTITIES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "\u02cb"})
# What may stay as it is in a link's URL; "|" and ">" would end the link, "<" start another.
_URL_SAFE: Final = ":/?#[]@!$&()*+,;=%~-._"
_NOT_IN_URL: Final = re.compile(r"[|<>\s`\"]")
_SLACK_USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,30}")


def escape(text: str) -> str:
    """``text`` shown as itself in mrkdwn, whatever it holds."""
    return text.translate(_ENTITIES)


def escape_within(text: str, limit: int) -> str:
    """``escape(text)`` in at most ``limit`` characters: cut before escaping (an entity is
    never cut in two), with an ellipsis when something was left out."""
    escaped = escape(text)
    while len(escaped) > limit:
        text = text[: max(0, len(text) * (limit - 1) // len(escaped) - 1)]
        escaped = escape(text) + "…"
    return escaped


def link(url: str, label: str) -> str | None:
    """A Slack link to ``url`` shown as ``label``, or None when ``url`` is not an absolute
    http(s) URL (``javascript:``, relative, control characters) or holds what a URL never
    does and a Slack link reads as its end or its label (``|``, ``<``, ``>``, spaces): such
    a value is someone's attempt at a link of their own, not a URL to send people to."""
    safe = safe_url(url)
    if safe is None or _NOT_IN_URL.search(safe):
        return None
    target = quote(safe, safe=_URL_SAFE).replace("&", "&amp;")
    return f"<{target}|{escape(label)}>"


def user_mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id (the person who did something, as Slack's signed request
    names them); anything else is shown as text, never as a mention."""
    return f"<@{user_id}>" if _SLACK_USER_ID.fullmatch(user_id) else escape(user_id)


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object for ``text`` (already escaped where it came from outside)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}
