"""What a configuration field accepts beyond its type: checks and short forms shared by the
sections.

A check takes a converted value and returns what is wrong with it, or None; a field names it in
its metadata (``"check"``, ``"check_each"``; see ``receiver.config.walker``). Checks and short
forms that only one section uses live beside it.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sized
from datetime import timedelta

from receiver.config.walker import Shorthand, one_item_list
from receiver.errors import MatcherError
from receiver.matchers import parse_matchers


def greater_than_zero(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def at_least_zero(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def not_empty(value: Sized) -> str | None:
    return None if len(value) else "must not be empty"


def positive_duration(value: timedelta) -> str | None:
    return None if value > timedelta(0) else "must be longer than 0s"


def non_negative_duration(value: timedelta) -> str | None:
    return None if value >= timedelta(0) else "must not be negative"


_LISTEN = re.compile(r"(?:\[(?P<v6>[^\[\]\s]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>[0-9]{1,5})")


def split_listen(listen: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``, or None when it is neither."""
    match = _LISTEN.fullmatch(listen)
    if match is None:
        return None
    return match["v6"] or match["host"], int(match["port"])


def check_listen(listen: str) -> str | None:
    split = split_listen(listen)
    if split is None:
        return "expected host:port such as 127.0.0.1:9095 or [::1]:9095"
    return None if 1 <= split[1] <= 65535 else "port must be between 1 and 65535"


def check_http_url(url: str) -> str | None:
    # The URL itself is never quoted: webhook URLs often carry a secret in the path or query.
    if url.startswith(("http://", "https://")):
        return None
    return "expected a URL starting with http:// or https://"


# "ops@example.com" or "Firebreak <ops@example.com>"; no whitespace in the address itself and no
# line breaks anywhere, so a value can never smuggle an extra mail header in.
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+|[^<>\r\n]*<[^@\s<>]+@[^@\s<>]+>")


def check_address(address: str) -> str | None:
    if _ADDRESS.fullmatch(address):
        return None
    return "expected an email address such as oncall@example.com"


def check_matchers(text: str) -> str | None:
    try:
        parse_matchers(text, field="match")
    except MatcherError as exc:
        return exc.message
    return None


# Slack ids: channels (public C, private G, direct D), users (U, or W on Enterprise Grid) and
# user groups (S). Names like #ops are not accepted: they change when a channel is renamed.
_SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
SLACK_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


def check_slack_channel(value: str) -> str | None:
    if _SLACK_CHANNEL_ID.fullmatch(value):
        return None
    return "expected a Slack channel id such as C0123ABCD (not a #name)"


def check_slack_user(value: str) -> str | None:
    if SLACK_USER_ID.fullmatch(value):
        return None
    return "expected a Slack user id such as U0123ABCD"


def check_time_zone(value: str) -> str | None:
    if value in _zones():
        return None
    return "expected an IANA time zone such as Europe/London or America/New_York"


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(zoneinfo.available_timezones())
    return _ZONES


# Short forms more than one section accepts.
PATTERNS = Shorthand(str, one_item_list, "a glob pattern or a list of them")
MATCHERS = Shorthand(str, one_item_list, "a matcher string or a list of them")
