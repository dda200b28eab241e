"""``firebreak``: parse the command line, read the configuration, run the command that the
parser named (its module imported only then)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from receiver.cli.check import label_set
from receiver.cli.loaded import Loaded, check_runbooks
from receiver.cli.parser import build_parser
from receiver.config import load_config
from receiver.config.lookup import find_config, override_listen
from receiver.errors import ConfigError, MatcherError

Command = Callable[..., int]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "without_config", False):  # a client of a running Firebreak's API
        return _command(args.run)(args, os.environ)
    if args.command == "routes":
        # Before the configuration is read: a mistyped label is a usage error (exit 2).
        try:
            args.label_set = label_set(args.labels)
        except MatcherError as exc:
            print(f"firebreak routes test: {exc}", file=sys.stderr)
            return 2
    try:
        found = find_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"firebreak: {exc}", file=sys.stderr)
        return 1
    if not found.named:
        print(found.announcement(), file=sys.stderr)
    try:
        config = load_config(found.path)
        config = override_listen(config, getattr(args, "listen", None), os.environ)
        runbook_count, runbook_warnings, automation = check_runbooks(args.command, config)
    except ConfigError as exc:
        if args.command == "check-config":
            print(f"Checking '{found.path}'  FAILED:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    loaded = Loaded(config, found.path, runbook_count, runbook_warnings, automation)
    return _command(args.run)(args, loaded)


def _command(name: str) -> Command:
    """``module:function``, as the parser names a command's runner."""
    module, _, function = name.partition(":")
    command: Command = getattr(importlib.import_module(module), function)
    return command
