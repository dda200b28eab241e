"""What every command is given: the configuration as read, where it was found, and (for the
commands that use them) what the runbook files hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from receiver.config import Config


@dataclass(frozen=True)
class Loaded:
    """``config`` read from ``path``; for ``check-config`` and ``serve``, how many runbooks
    there are, the warnings they deserve and the automation mode line."""

    config: Config
    path: str
    runbooks: int = 0
    runbook_warnings: list[str] = field(default_factory=list)
    automation: str = ""


def check_runbooks(command: str, config: Config) -> tuple[int, list[str], str]:
    """Validate the runbook files for the commands that use them: how many there are, what
    in them deserves a warning, and which mode automation is in."""
    if command not in ("check-config", "serve"):
        return 0, [], ""
    from receiver.automation.definitions import (
        allow_list_warnings,
        load_runbooks,
        runbook_sources,
    )
    from receiver.automation.mode import mode_line
    from receiver.automation.paramcheck import implicit_fill_warnings
    from receiver.errors import ConfigError
    from receiver.templates import check_templates

    template_problems = check_templates(config)
    if template_problems:
        raise ConfigError([f"{config.source}: {p}" for p in template_problems])
    runbooks = load_runbooks(config)
    automation = mode_line(config.automation, runbooks)
    unmatched = list(runbook_sources(config).warnings)
    warnings = allow_list_warnings(runbooks, config) + implicit_fill_warnings(runbooks)
    return len(runbooks), [*unmatched, *warnings], automation
