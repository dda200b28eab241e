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
import asyncio
import json
import secrets
import sys
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

import aiohttp

from receiver.cli.shell import shell_command
from receiver.errors import FirebreakError, InvalidInput
from receiver.manual_pages import message_fields

_ATTEMPTS: Final = 3
_BACKOFF: Final = 0.5  # seconds before the second attempt; doubled before the third
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)
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
        url = _api_url(args.url or environ.get("FIREBREAK_URL", ""))
        token = environ.get("FIREBREAK_TOKEN", "")
        if not token:
            raise InvalidInput("$FIREBREAK_TOKEN", "expected a responder's API token")
        body = _body(args)
    except InvalidInput as exc:
        print(f"firebreak page: {_spelled(exc)}", file=sys.stderr)
        return 2
    return shell_command("page", _send(url, token, body, as_json=args.json))


def _api_url(base: str) -> str:
    if not base:
        raise InvalidInput("--url", "expected Firebreak's URL (or $FIREBREAK_URL)")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("--url", "expected an http or https URL such as https://firebreak:9095")
    return base.rstrip("/") + "/api/v1/alerts"


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
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=_TIMEOUT) as http:
        status, answer = await _post(http, url, body)
    if status in (200, 201):
        if as_json:
            print(json.dumps(answer, indent=2, sort_keys=True))
        else:
            print(_said(answer, created=status == 201))
        return 0
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, str) and 400 <= status < 500:
        field = str(answer.get("field") or "")
        if not field:
            raise FirebreakError(error)
        # The API's message names the field as the API spells it: say it as ours.
        message = error.removeprefix(f"{field}: ")
        raise FirebreakError(_spelled(InvalidInput(field, message)))
    raise FirebreakError(f"{url} answered {status}; send the page again with --key {body['key']}")


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    """The answer to the page, tried again under its key after trouble that may pass."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with http.post(url, json=body) as response:
                status = response.status
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            if attempt == _ATTEMPTS:
                raise FirebreakError(
                    f"{url} could not be reached ({exc.__class__.__name__}); the page may not "
                    f"be raised: send it again with --key {body['key']}"
                ) from None
        else:
            if status < 500 or attempt == _ATTEMPTS:
                return status, answer
        await asyncio.sleep(_BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _said(alert: dict[str, Any], *, created: bool) -> str:
    annotations = alert.get("annotations") or {}
    name = (alert.get("labels") or {}).get("alertname", "")
    whom = annotations.get("target")
    what = f"alert {alert.get('id')} ({name})"
    if not created:
        return f"already raised: {what}"
    return f"paged {whom}: {what}" if whom else f"raised {what}"
