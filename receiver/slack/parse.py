"""Slash-command arguments: pure parsers from words to typed values.

Each parser either returns what the subcommand needs or raises ``Usage`` with a message that
says what was expected, quoting the command's usage line. Nothing here touches the store or
the network, so the whole of it runs inside Slack's three-second window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from receiver.durations import format_duration, parse_duration
from receiver.errors import FirebreakError, InvalidInput
from receiver.matchers import Matcher, MatchOp, parse_matcher_args
from receiver.model import parse_id
from receiver.notify.slack.mrkdwn import escape

_NOTE_LIMIT: Final = 4000
_MAX_SNOOZE: Final = timedelta(days=7)
_MAX_SILENCE: Final = timedelta(days=30)


class Usage(FirebreakError):
    """The command's arguments are not what it expects; the message says what is."""


@dataclass(frozen=True, slots=True)
class AlertArgs:
    alert_id: int
    note: str | None = None
    duration: timedelta | None = None


@dataclass(frozen=True, slots=True)
class SilenceArgs:
    matchers: tuple[Matcher, ...]
    duration: timedelta
    comment: str | None


def _alert_id(args: list[str], usage: str) -> int:
    if not args:
        raise Usage(f"expected an alert id: `{escape(usage)}`")
    found = parse_id(args[0].lstrip("#"))
    if found is None:
        raise Usage(
            f"expected an alert id (a number such as 42), got `{escape(args[0])}`: "
            f"`{escape(usage)}`"
        )
    return found


def _note(words: list[str]) -> str | None:
    note = " ".join(words).strip()
    if len(note) > _NOTE_LIMIT:
        raise Usage(f"expected a note of at most {_NOTE_LIMIT} characters")
    return note or None


def _duration(raw: str, limit: timedelta, usage: str) -> timedelta:
    try:
        value = parse_duration(raw)
    except ValueError:
        raise Usage(
            f"expected a duration such as 30m or 2h, got `{escape(raw)}`: `{escape(usage)}`"
        ) from None
    if not timedelta(0) < value <= limit:
        raise Usage(f"expected a duration above 0 and at most {format_duration(limit)}")
    return value


def parse_matcher_words(args: Sequence[str], usage: str) -> tuple[Matcher, ...]:
    try:
        return parse_matcher_args(args, field="matchers")
    except InvalidInput as exc:
        raise Usage(
            f"{escape(exc.message)}; expected matchers such as alertname=DiskFull: "
            f"`{escape(usage)}`"
        ) from None


def is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def parse_none(args: list[str]) -> None:
    if args:
        raise Usage("this subcommand takes no arguments")


def parse_alerts(args: list[str]) -> tuple[Matcher, ...]:
    return parse_matcher_words(args, "alerts [matchers]")


def parse_alert_note(usage: str) -> Callable[[list[str]], AlertArgs]:
    def parse(args: list[str]) -> AlertArgs:
        return AlertArgs(_alert_id(args, usage), _note(args[1:]))

    return parse


def parse_snooze(args: list[str]) -> AlertArgs:
    usage = "snooze <alert-id> <duration>"
    alert_id = _alert_id(args, usage)
    if len(args) < 2:
        raise Usage(f"expected a duration such as 30m: `{escape(usage)}`")
    return AlertArgs(alert_id, _note(args[2:]), _duration(args[1], _MAX_SNOOZE, usage))


def parse_silence(args: list[str]) -> SilenceArgs:
    usage = "silence <matchers> <duration> [comment]"
    split = next((i for i, a in enumerate(args) if i > 0 and is_duration(a)), None)
    if not args or split is None:
        raise Usage(f"expected matchers and then a duration: `{escape(usage)}`")
    matchers = parse_matcher_words(args[:split], usage)
    return SilenceArgs(
        matchers, _duration(args[split], _MAX_SILENCE, usage), _note(args[split + 1 :])
    )


def parse_oncall(args: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for matcher in parse_matcher_words(args, "oncall [label=value ...]"):
        if matcher.op is not MatchOp.EQ:
            raise Usage(f"expected label=value pairs, got `{escape(str(matcher))}`")
        labels[matcher.name] = matcher.value
    return labels


def parse_run(args: list[str]) -> tuple[str, dict[str, str]]:
    if not args:
        raise Usage("expected a runbook name: `run &lt;runbook&gt; [key=value ...]`")
    params: dict[str, str] = {}
    for word in args[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise Usage(
                f"expected key=value, got `{escape(word)}`: `run &lt;runbook&gt; [key=value ...]`"
            )
        params[key] = value
    return args[0], params


def parse_execution(usage: str) -> Callable[[list[str]], tuple[int, str | None]]:
    def parse(args: list[str]) -> tuple[int, str | None]:
        if not args:
            raise Usage(f"expected an execution id: `{escape(usage)}`")
        found = parse_id(args[0])
        if found is None:
            raise Usage(
                f"expected an execution id (a number such as 12), got `{escape(args[0])}`: "
                f"`{escape(usage)}`"
            )
        return found, _note(args[1:])

    return parse


PAGE_USAGE: Final = "page <schedule|person|team> <message>"


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Whom to page (as typed: ``schedule:primary``, ``alice``), what about, and what Slack
    knows the request by (so that the same request sent again raises one page)."""

    target: str
    message: str
    request: str = ""


def parse_page(text: str, request: str = "") -> PageArgs:
    """``page`` takes the text as typed, not shell words: a message is free text, quotes and
    apostrophes included."""
    target, _, message = text.strip().partition(" ")
    if not target or not message.strip():
        raise Usage(f"expected whom to page and a message: `{escape(PAGE_USAGE)}`")
    if len(message) > _NOTE_LIMIT:
        raise Usage(f"expected a message of at most {_NOTE_LIMIT} characters")
    if not target.startswith("<@"):  # a mention is read as its person when it runs
        target = target.lstrip("@")
    return PageArgs(target, message.strip(), request)
