"""A real HTTP server on loopback that receives Firebreak webhooks the way a user's would.

It records every request (method, path, headers, raw body, arrival time, whether the signature
verified) and answers from a script: ``receiver.script(Reply(500), Reply.timeout(5), Reply(429,
retry_after="7"), Reply(200))`` answers the next requests in that order, then 200 with a JSON
``id`` once the script runs out. ``receiver.down = 503`` answers every request with that status
(an outage) until it is set back to ``None``; with ``receiver.down_on = "/chat"`` as well, only
the requests to that path (one channel's outage, the others up).

    async with WebhookReceiver(secret="s3cret") as receiver:
        channel = WebhookChannel("hook", receiver.url, ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from receiver.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer: a status, headers and body, given after ``delay`` seconds."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0

    @classmethod
    def timeout(cls, seconds: float) -> Reply:
        """Answer only after ``seconds``: longer than the client's timeout, it never gets it."""
        return cls(200, delay=seconds)

    @classmethod
    def throttled(cls, retry_after: str | None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        return cls(429, headers=headers, body=b"slow down")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, headers={"Location": location})


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    received_at: float  # time.time() on arrival
    signature_ok: bool | None  # None when the receiver has no secret to check with


class WebhookReceiver:
    """Listens on 127.0.0.1 on a free port; ``url`` is ``http://127.0.0.1:<port>/hook``."""

    def __init__(self, secret: str | None = None, path: str = "/hook") -> None:
        self.secret = secret
        self.path = path
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        # While set, every request is answered with this status (an outage), script untouched.
        self.down: int | None = None
        self.down_on: str | None = None  # the one path that is down, when set; else every one
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._next_id = 0
        self.url = ""
        self.base_url = ""

    def script(self, *replies: Reply | int) -> None:
        """Queue answers for the next requests (an int is a bare status)."""
        self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, await request.read())

    def _accepted(self) -> web.Response:
        """The answer once the script has run out."""
        self._next_id += 1
        return web.json_response({"id": f"evt-{self._next_id}"})

    async def _answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Record the request and answer it from the script."""
        signature_ok = None
        if self.secret is not None:
            signature_ok = verify_signature(
                self.secret,
                request.headers.get(TIMESTAMP_HEADER),
                body,
                request.headers.get(SIGNATURE_HEADER),
                now=time.time(),
            )
        self.requests.append(
            Received(
                request.method, request.path_qs, request.headers, body, time.time(), signature_ok
            )
        )
        if self.down is not None and self.down_on in (None, request.path):
            return web.Response(status=self.down, body=b"down")
        reply = self._script.popleft() if self._script else None
        if reply is None:
            return self._accepted()
        if reply.delay:
            # Woken early by stop(), so a test never waits out a simulated timeout.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that timed out cancels its handler's sleep.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.url = self.base_url + self.path
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def json(self, index: int = -1) -> Any:
        """The JSON body of a recorded request (the last by default)."""
        return json.loads(self.requests[index].body)
