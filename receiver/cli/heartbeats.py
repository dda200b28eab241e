"""``firebreak heartbeats`` lists the heartbeats from the store, as the API does;
``firebreak heartbeat NAME`` sends a beat to a running Firebreak, for a cron job.

The beat's token is read from ``$FIREBREAK_HEARTBEAT_TOKEN`` or from ``--token-file``, never
from the command line, where any user of the machine could read it in the process list. It
needs no configuration file: the host a cron job runs on has only the URL and the token. A
connection error or a 5xx is tried again (``client.py``): another beat is only another beat.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Mapping

from receiver.automation.definitions import Runbooks
from receiver.cli.client import ApiClient, base_url, read_token
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services
from receiver.config import Config
from receiver.errors import FirebreakError, InvalidInput
from receiver.heartbeats import heartbeat_json
from receiver.model import system_clock

TOKEN_VARIABLE = "FIREBREAK_HEARTBEAT_TOKEN"
URL_VARIABLE = "FIREBREAK_URL"
DEFAULT_URL = "http://127.0.0.1:9095"


def list_heartbeats(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak heartbeats``."""
    return shell_command("heartbeats", _list(args, loaded.config))


async def _list(args: argparse.Namespace, config: Config) -> int:
    async with shell_services(config, Runbooks()) as shell:
        statuses = await shell.heartbeats.statuses(system_clock())
    if args.json:
        print(json.dumps([heartbeat_json(s) for s in statuses], indent=2))
        return 0
    print(f"{'HEARTBEAT':<24} {'STATE':<8} {'LAST BEAT':<26} MISSING FROM")
    for s in statuses:
        last = s.last_beat_at.isoformat() if s.last_beat_at else "never"
        print(f"{s.name:<24} {s.state:<8} {last:<26} {s.missing_at.isoformat()}")
    if not statuses:
        print("(no heartbeats are configured)")
    return 0


def beat(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``firebreak heartbeat NAME``: 0 once Firebreak recorded the beat, 1 when it was refused
    or Firebreak could not be reached, 2 without a usable token or address."""
    try:
        token = read_token(
            environ,
            TOKEN_VARIABLE,
            args.token_file,
            missing=f"no token: set ${TOKEN_VARIABLE} or give --token-file",
        )
        base = base_url(args.url or environ.get(URL_VARIABLE) or DEFAULT_URL)
    except InvalidInput as exc:
        print(f"firebreak heartbeat: {exc}", file=sys.stderr)
        return 2
    return shell_command("heartbeat", _beat(args, base, token))


async def _beat(args: argparse.Namespace, base: str, token: str) -> int:
    path = "/api/v1/heartbeats/" + urllib.parse.quote(args.name, safe="")
    body = {"message": args.message} if args.message is not None else {}
    client = ApiClient(
        base, token=token, attempts=args.attempts, timeout=args.timeout, ca_file=args.ca_file
    )
    async with client:
        answer = await client.post(path, body)
    if not answer.ok:
        raise FirebreakError(f"{args.name}: HTTP {answer.status}: {answer.error()}")
    if not args.quiet:
        said = answer.body if isinstance(answer.body, dict) else {}
        print(f"{said.get('name')}: {said.get('state')}, next due by {said.get('due_at')}")
    return 0
