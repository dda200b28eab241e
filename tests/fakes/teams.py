"""A Microsoft Teams Workflows webhook on loopback ("When a Teams webhook request is received"
followed by "Post card in a chat or channel"), strict about what it accepts.

Every request must be a ``message`` whose first attachment is an Adaptive Card; the card is
validated against the official JSON schema of the version it declares. Only the schemas
shipped beside this file are known (``adaptive-card-1.4.json``: schemas/1.4.0/adaptive-card.json
of github.com/microsoft/AdaptiveCards, MIT licence, commit 644d933e). A card that does not
validate, declares an unknown version, or a body above 28 KB is refused the way Teams refuses
it (400 / 413) and recorded in ``rejected``; a valid card is answered 202 with an empty body,
as the Workflows trigger does. Scripted answers (``script(Reply(429, ...))``) come after the
validation, like the real service's throttling.

    async with TeamsWorkflow() as teams:
        channel = TeamsChannel("teams", teams.url, ...)
        ...
        [card] = teams.cards
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema_rs
from aiohttp import web

from tests.fakes.webhook_receiver import Received, WebhookReceiver

MAX_BYTES: Final = 28 * 1024
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
_SCHEMAS: Final = {"1.4": "adaptive-card-1.4.json"}


@cache
def _validator(version: str) -> Any:
    schema = json.loads((Path(__file__).parent / _SCHEMAS[version]).read_text("utf-8"))
    return jsonschema_rs.Draft6Validator(schema, validate_formats=True)


def card_problems(body: bytes) -> list[str]:
    """Why Teams would refuse ``body``; empty when it would post the card."""
    if len(body) > MAX_BYTES:
        return [f"body of {len(body)} bytes is above {MAX_BYTES}"]
    try:
        document = json.loads(body)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(document, dict) or document.get("type") != "message":
        return ['expected {"type": "message", ...}']
    attachments = document.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["expected a non-empty attachments list"]
    first = attachments[0]
    if not isinstance(first, dict) or first.get("contentType") != CARD_CONTENT_TYPE:
        return [f"attachments[0].contentType must be {CARD_CONTENT_TYPE}"]
    content = first.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        return ["attachments[0].content must be an AdaptiveCard"]
    version = content.get("version")
    if version not in _SCHEMAS:
        return [f"no schema for Adaptive Card version {version!r}"]
    return [
        f"{'/'.join(map(str, error.instance_path))}: {error.message}"
        for error in _validator(version).iter_errors(content)
    ]


class TeamsWorkflow(WebhookReceiver):
    """Listens on 127.0.0.1; ``url`` is the workflow's trigger URL (with a ``sig`` query, as
    the real ones carry, so tests see it never leaks into errors)."""

    def __init__(self) -> None:
        super().__init__(path="/workflows/trigger/manual?api-version=1&sig=s3cr3t-sig")
        self.rejected: list[tuple[Received, list[str]]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        problems = card_problems(body)
        if problems:
            received = Received(request.method, request.path_qs, request.headers, body, 0.0, None)
            self.rejected.append((received, problems))
            status = 413 if body and len(body) > MAX_BYTES else 400
            return web.json_response({"error": {"code": "InvalidRequest"}}, status=status)
        return await self._answer(request, body)

    def _accepted(self) -> web.Response:
        return web.Response(status=202)  # the Workflows trigger's answer: no body, no id

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The cards of every request answered so far, in order (valid ones only)."""
        return [json.loads(r.body)["attachments"][0]["content"] for r in self.requests]
