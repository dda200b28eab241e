"""``/firebreak maintenance``: maintenance windows listed, started and ended from Slack.

``parse_maintenance`` is pure (it runs in Slack's three-second window); ``MaintenanceCommands``
asks the maintenance service. Everything a window shows (its name is checked, its reason and
matchers are whatever people typed) is escaped for mrkdwn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from receiver.alertmanager import format_rfc3339
from receiver.maintenance import Maintenance
from receiver.model import Role
from receiver.notify.slack.mrkdwn import escape
from receiver.slack.parse import Usage, is_duration, parse_matcher_words
from receiver.web.maintenance import parse_window_request
from receiver.windows import MaintenanceWindow

MAINTENANCE_USAGE: Final = (
    "maintenance [list | start <name> <matchers> <duration> [--silence] <reason> | end <name>]"
)
_START: Final = "maintenance start <name> <matchers> <duration> [--silence] <reason>"
# Also an Alertmanager silence for the window, as the CLI's flag of the same name. Taken only
# before the reason (anywhere among name, matchers and duration, or right after the duration),
# so a reason may say "--silence" as text. Typing "--" on a Mac often turns it into an em
# dash on the way, which means the same.
SILENCE_FLAGS: Final = ("--silence", "\u2014silence")


@dataclass(frozen=True, slots=True)
class MaintenanceArgs:
    action: str  # list | start | end
    name: str | None = None
    matchers: tuple[str, ...] = ()
    duration: str | None = None
    reason: str | None = None
    silence: bool = False


def parse_maintenance(args: list[str]) -> MaintenanceArgs:
    if not args or args[0].lower() == "list":
        if len(args) > 1:
            raise Usage(f"`maintenance list` takes nothing more: `{escape(MAINTENANCE_USAGE)}`")
        return MaintenanceArgs("list")
    action = args[0].lower()
    if action == "end":
        if len(args) != 2:
            raise Usage("expected the name of the window to end: `maintenance end <name>`")
        return MaintenanceArgs("end", name=args[1])
    if action != "start":
        raise Usage(f"expected list, start or end: `{escape(MAINTENANCE_USAGE)}`")
    head, flags = _head(args[1:])
    if len(head) < 3:
        raise Usage(f"expected a name, matchers and then a duration: `{escape(_START)}`")
    name, matchers, duration = head[0], tuple(head[1:-1]), head[-1]
    parse_matcher_words(matchers, _START)  # refused here, before anything is asked
    tail = args[1 + len(head) + flags :]
    silence = flags > 0
    if tail and tail[0].lower() in SILENCE_FLAGS:
        silence, tail = True, tail[1:]
    reason = " ".join(tail).strip()
    if not reason:
        raise Usage(f"expected a reason after the duration: `{escape(_START)}`")
    return MaintenanceArgs("start", name, matchers, duration, reason, silence=silence)


def _head(words: list[str]) -> tuple[list[str], int]:
    """The name, matchers and duration (the first duration after a name and a matcher) of
    ``start``'s words, without the silence flags among them, and how many flags there were;
    the head is empty when no duration comes."""
    head: list[str] = []
    flags = 0
    for word in words:
        if word.lower() in SILENCE_FLAGS:
            flags += 1
            continue
        head.append(word)
        if len(head) > 2 and is_duration(word):
            return head, flags
    return [], flags


def maintenance_role(args: MaintenanceArgs) -> Role:
    return Role.VIEWER if args.action == "list" else Role.RESPONDER


class MaintenanceCommands:
    """The maintenance subcommand over the windows of the configuration in force."""

    def __init__(self, maintenance: Callable[[], Maintenance]) -> None:
        self._maintenance = maintenance

    async def run(self, args: MaintenanceArgs, owner: str, actor: str) -> tuple[str, bool]:
        """The reply, and whether the whole channel sees it."""
        maintenance = self._maintenance()
        now = maintenance.now()
        if args.action == "list":
            windows = await maintenance.windows(at=now)
            if not windows:
                return "No maintenance windows are open or planned.", False
            return "\n".join(_line(w, now) for w in windows), False
        assert args.name is not None
        if args.action == "end":
            ended = await maintenance.end(args.name, actor)
            return (
                f"Ended maintenance window *{escape(ended.name)}*: what it held escalates "
                "from now.",
                True,
            )
        body = {
            "name": args.name,
            "matchers": list(args.matchers),
            "reason": args.reason,
            "owner": owner,
            "duration": args.duration,
            "silence": args.silence,
        }
        made = await maintenance.create(parse_window_request(body, now), actor)
        return f"Started {_line(made, now)[2:]}", True


def _line(window: MaintenanceWindow, now: datetime) -> str:
    current = window.occurrence_at(now)
    coming = current or window.next_occurrence(now)
    if current is not None:
        when = f"open until {format_rfc3339(current.end)}"
    elif coming is not None:
        when = f"opens {format_rfc3339(coming.start)} until {format_rfc3339(coming.end)}"
    else:
        when = "closed"
    matchers = escape(", ".join(window.matchers))
    silenced = ", silenced in Alertmanager" if window.silence else ""
    return (
        f"• maintenance window *{escape(window.name)}* ({when}{silenced}) holds "
        f"`{{{matchers}}}`: {escape(window.reason)} (owner {escape(window.owner)})"
    )
