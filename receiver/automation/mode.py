"""Which mode automation is in, in one line: what ``firebreak serve`` logs when it starts (and
after a reload that changes it) and ``firebreak check-config`` prints, so nobody has to read the
configuration to know whether an alert will make a runbook act."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from receiver.automation.definitions import RunbookConfig, Runbooks
from receiver.config import AutomationConfig

__all__ = ["announce", "armed", "mode_line"]

log = logging.getLogger("firebreak.automation")

_NAMED = 8  # runbook ids the line names before it only counts the rest


def armed(automation: AutomationConfig, runbooks: Iterable[RunbookConfig]) -> list[RunbookConfig]:
    """The runbooks an alert starts by itself (as dry runs in ``dry_run`` mode)."""
    if not automation.automatic:
        return []
    return [rb for rb in runbooks if rb.automatic and rb.match]


def mode_line(automation: AutomationConfig, runbooks: Runbooks) -> str:
    if not automation.automatic:
        return (
            "automation: manual runs only — automation.automatic is false, so no runbook "
            "starts by itself"
        )
    starting = armed(automation, runbooks)
    if automation.mode == "dry_run":
        which = (
            _which(starting, "starts by itself", "start by themselves")
            if starting
            else "none starts by itself yet"
        )
        return (
            "automation: dry run — runbooks started by alerts render and record what they "
            f"would do, and change nothing ({which}); set automation.mode: live to act"
        )
    if not starting:
        return "automation: live — no runbook starts by itself (none has a match and automatic)"
    return f"automation: live — {_which(starting, 'acts by itself', 'act by themselves')}"


def announce(automation: AutomationConfig, runbooks: Runbooks) -> str:
    """Log the mode line (INFO, with ``mode`` and ``armed`` fields) and return it."""
    line = mode_line(automation, runbooks)
    mode = automation.mode if automation.automatic else "manual"
    log.info("%s", line, extra={"mode": mode, "armed": len(armed(automation, runbooks))})
    return line


def _which(runbooks: list[RunbookConfig], one: str, several: str) -> str:
    """``3 runbooks act by themselves: a, b, c`` (the first few ids, then a count)."""
    ids = sorted(rb.id for rb in runbooks)
    shown = ", ".join(ids[:_NAMED])
    if len(ids) > _NAMED:
        shown += f" and {len(ids) - _NAMED} more"
    if len(ids) == 1:
        return f"1 runbook {one}: {shown}"
    return f"{len(ids)} runbooks {several}: {shown}"
