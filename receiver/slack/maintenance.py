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
    "maintenance [list | start <name> <matchers> <duration> <reason> | end <name>]"
)
_START: Final = "maintenance start <name> <matchers> <duration> <reason>"


@dataclass(frozen=True, slots=True)
class MaintenanceArgs:
    action: str  # list | start | end
    name: str | None = None
    matchers: tuple[str, ...] = ()
    duration: str | None = None
    reason: str | None = None


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
    rest = args[1:]
    split = next((i for i, a in enumerate(rest) if i > 1 and is_duration(a)), None)
    if len(rest) < 3 or split is None:
        raise Usage(f"expected a name, matchers and then a duration: `{escape(_START)}`")
    parse_matcher_words(rest[1:split], _START)  # refused here, before anything is asked
    reason = " ".join(rest[split + 1 :]).strip()
    if not reason:
        raise Usage(f"expected a reason after the duration: `{escape(_START)}`")
    return MaintenanceArgs("start", rest[0], tuple(rest[1:split]), rest[split], reason)


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
    return (
        f"• maintenance window *{escape(window.name)}* ({when}) holds `{{{matchers}}}`: "
        f"{escape(window.reason)} (owner {escape(window.owner)})"
    )
