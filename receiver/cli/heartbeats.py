"""``firebreak heartbeats`` lists the heartbeats from the store, as the API does;
``firebreak heartbeat NAME`` sends a beat to a running Firebreak, for a cron job.

The beat's token is read from ``$FIREBREAK_HEARTBEAT_TOKEN`` or from ``--token-file``, never
from the command line, where any user of the machine could read it in the process list. It
needs no configuration file: the host a cron job runs on has only the URL and the token.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from receiver.automation.definitions import Runbooks
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services
from receiver.config import Config
from receiver.heartbeats import heartbeat_json
from receiver.model import system_clock

TOKEN_VARIABLE = "FIREBREAK_HEARTBEAT_TOKEN"
URL_VARIABLE = "FIREBREAK_URL"
DEFAULT_URL = "http://127.0.0.1:9095"
_BACKOFF = 1.0  # seconds before the second attempt; doubled before each next one
# A token file holds one token; anything much longer is not one (a key, a whole config).
_TOKEN_FILE_LIMIT = 4096


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
    or Firebreak could not be reached, 2 without a usable token."""
    try:
        token = _token(args.token_file, environ)
    except ValueError as exc:
        print(f"firebreak heartbeat: {exc}", file=sys.stderr)
        return 2
    base = args.url or environ.get(URL_VARIABLE) or DEFAULT_URL
    name = urllib.parse.quote(args.name, safe="")
    url = f"{base.rstrip('/')}/api/v1/heartbeats/{name}"
    body = json.dumps({"message": args.message} if args.message is not None else {}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    for attempt in range(1, args.attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=args.timeout, context=context) as response:
                answer: dict[str, Any] = json.loads(response.read())
            break
        except urllib.error.HTTPError as exc:
            # A refusal is final; a 5xx (Firebreak starting, its store away) may pass.
            if exc.code < 500 or attempt == args.attempts:
                print(f"firebreak heartbeat: {args.name}: {_problem(exc)}", file=sys.stderr)
                return 1
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if attempt == args.attempts:
                reason = getattr(exc, "reason", exc)
                print(f"firebreak heartbeat: cannot reach {base}: {reason}", file=sys.stderr)
                return 1
        # Another beat is only another beat: sending it again never doubles anything.
        time.sleep(_BACKOFF * 2 ** (attempt - 1))
    if not args.quiet:
        print(f"{answer.get('name')}: {answer.get('state')}, next due by {answer.get('due_at')}")
    return 0


def _token(token_file: str | None, environ: Mapping[str, str]) -> str:
    if token_file is not None:
        try:
            with open(token_file, "rb") as f:
                raw = f.read(_TOKEN_FILE_LIMIT + 1)
        except OSError as exc:
            raise ValueError(f"--token-file: cannot read it: {exc.strerror}") from None
        if len(raw) > _TOKEN_FILE_LIMIT:
            raise ValueError(f"--token-file: longer than {_TOKEN_FILE_LIMIT} bytes")
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError("--token-file: not UTF-8 text") from None
        where = "--token-file"
    else:
        token = environ.get(TOKEN_VARIABLE, "").strip()
        where = f"${TOKEN_VARIABLE}"
    if not token:
        raise ValueError(f"no token: set ${TOKEN_VARIABLE} or give --token-file")
    if any(not c.isprintable() or c.isspace() for c in token):
        raise ValueError(f"{where}: a token is one line without spaces or control characters")
    return token


def _problem(exc: urllib.error.HTTPError) -> str:
    """The answer's error text, as Firebreak put it, or its status."""
    try:
        error = json.loads(exc.read(_TOKEN_FILE_LIMIT)).get("error")
    except (ValueError, AttributeError, OSError):
        error = None
    shown = error if isinstance(error, str) else exc.reason
    text = "".join(c if c.isprintable() else "?" for c in str(shown))[:300]
    return f"HTTP {exc.code}: {text}"
