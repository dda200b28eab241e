"""``firebreak page TARGET MESSAGE``: raise a page by hand through a running Firebreak's REST
API (``POST /api/v1/alerts``), from any machine that can reach it, with a responder's token.

Unlike the commands that open the store, it needs no configuration file: the URL comes from
``--url`` or ``$FIREBREAK_URL`` and the token from ``$FIREBREAK_TOKEN`` only (never an argument,
which other users can read in the process list). Each run sends its page under one key (``--key``
or a fresh one), and a connection error or a 5xx is tried again under that key: a page whose
answer was lost is answered again, not raised twice.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Mapping
from typing import Any, Final

from receiver.cli.client import ApiClient, Unreachable, base_url, read_token
from receiver.cli.shell import shell_command
from receiver.errors import FirebreakError, InvalidInput
from receiver.manual_pages import message_fields

_PATH: Final = "/api/v1/alerts"
# The API's names for what is wrong, as the command line spells them.
_ARGUMENTS: Final = {
    "key": "--key",
    "title": "MESSAGE",
    "details": "MESSAGE",
    "message": "MESSAGE",
    "target": "TARGET",
    "severity": "--severity",
    "labels": "--label",
}


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``firebreak page``: exit 0 once the page is raised (or was), 1 if it was refused or
    Firebreak could not be reached, 2 for a wrong command line."""
    try:
        url = base_url(args.url or environ.get("FIREBREAK_URL", ""))
        token = read_token(
            environ,
            "FIREBREAK_TOKEN",
            None,
            missing="$FIREBREAK_TOKEN: expected a responder's API token",
        )
        body = _body(args)
    except InvalidInput as exc:
        print(f"firebreak page: {_spelled(exc)}", file=sys.stderr)
        return 2
    return shell_command("page", _send(url, token, body, as_json=args.json))


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": args.key or "cli-" + secrets.token_hex(16),
        "target": args.target,
        **message_fields(" ".join(args.message)),
    }
    if args.severity:
        body["severity"] = args.severity
    labels: dict[str, str] = {}
    for pair in args.label:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput("labels", f"expected NAME=VALUE, got {pair!r}")
        labels[name] = value
    if labels:
        body["labels"] = labels
    return body


def _spelled(exc: InvalidInput) -> str:
    if not exc.field:
        return str(exc)
    name, dot, rest = exc.field.partition(".")  # labels.alertname is --label alertname
    spelled = _ARGUMENTS.get(name, name) + (f" {rest}" if dot else "")
    return f"{spelled}: {exc.message}"


async def _send(url: str, token: str, body: dict[str, Any], *, as_json: bool) -> int:
    again = f"send it again with --key {body['key']}"
    try:
        async with ApiClient(url, token=token) as client:
            answer = await client.post(_PATH, body)
    except Unreachable as exc:
        raise FirebreakError(f"{exc}; the page may not be raised: {again}") from None
    if answer.status in (200, 201) and isinstance(answer.body, dict):
        if as_json:
            print(json.dumps(answer.body, indent=2, sort_keys=True))
        else:
            print(_said(answer.body, created=answer.status == 201))
        return 0
    if 400 <= answer.status < 500 and isinstance(answer.body, dict):
        field = str(answer.body.get("field") or "")
        if field:
            # The API's message names the field as the API spells it: say it as ours.
            message = answer.error().removeprefix(f"{field}: ")
            raise FirebreakError(_spelled(InvalidInput(field, message)))
        raise FirebreakError(answer.error())
    lost = f"{url}{_PATH} answered {answer.status}"
    raise FirebreakError(f"{lost}; the page may not be raised: {again}")


def _said(alert: dict[str, Any], *, created: bool) -> str:
    annotations = alert.get("annotations") or {}
    name = (alert.get("labels") or {}).get("alertname", "")
    whom = annotations.get("target")
    what = f"alert {alert.get('id')} ({name})"
    if not created:
        return f"already raised: {what}"
    return f"paged {whom}: {what}" if whom else f"raised {what}"
