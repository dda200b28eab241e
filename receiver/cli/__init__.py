"""The ``firebreak`` command: serve, check-config, routes test, db, alerts, runbooks, drill,
automation.

``parser.py`` builds the command line (argparse only: nothing heavy is imported to build it);
``main.py`` reads the configuration and runs the command the parser names; one module per
family of commands (``check``, ``serve``, ``db``, ``alerts``, ``runbooks``) runs them, and the
commands that work on the store get their services from ``shell.shell_services``, which builds
them as the server does (``receiver/services.py``).
"""

from receiver.cli.main import main
from receiver.cli.parser import build_parser

_parser = build_parser  # the name the command line's own checks have long used

__all__ = ["build_parser", "main"]
