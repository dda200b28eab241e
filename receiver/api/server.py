"""How connections are served: what aiohttp's protocol handler may do with the bytes a client
sends before any handler sees a request, how long a client may take to send a request's head,
and how many connections one client address may hold open.

``serve`` is what ``firebreak serve`` runs: ``web.run_app`` with one difference, a server that
counts connections per address as they are accepted (aiohttp has no such setting; its
``Server.connection_made`` and ``connection_lost`` are where it tracks connections itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler

from receiver.access.connections import ConnectionCap, peer_address
from receiver.config import Config
from receiver.typedefs import CLIENT_ADDRESS, CONNECTION_CAP

log = logging.getLogger("firebreak.http")

# What a connection over the cap is told before it is closed: an HTTP answer rather than a bare
# reset, so a person or a client library sees why.
_REFUSED = b"too many open connections from this address\n"
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n"
    b"\r\n"
    b"%s" % (len(_REFUSED), _REFUSED)
)


def handler_args(config: Config) -> dict[str, Any]:
    """The protocol handler's settings, for every server that runs the application (``firebreak
    serve`` and the tests' servers alike)."""
    return {
        # aiohttp inflates a gzip or deflate body as it arrives, before anyone has looked at
        # the request: a 1 MB bomb from an unauthenticated caller cost seconds of CPU on the
        # one event loop. Bodies are taken as sent; one with a Content-Encoding is refused
        # (web/request.py refuse_encoded).
        "auto_decompress": False,
        # aiohttp's keep-alive timer runs from a connection's start and again from the end of
        # each answer, and closes the connection if no whole request head has arrived by then
        # (bytes trickling in do not reset it). So this one setting is both the header timeout
        # that cuts a slowloris client off and the idle keep-alive timeout (aiohttp: 75 s).
        "keepalive_timeout": config.api.header_timeout.total_seconds(),
        # aiohttp's own limits, written out because the documentation promises them: a request
        # line and each header at most 8 KB, at most 128 headers (else 400).
        "max_line_size": 8190,
        "max_field_size": 8190,
        "max_headers": 128,
    }


class _DrainingHandler(RequestHandler):
    """aiohttp's protocol handler, but one that goes on reading the request it is answering
    after shutdown began.

    At shutdown aiohttp marks every connection closing and from then on drops what arrives on
    it, the rest of a body included, while it waits ``shutdown_grace`` for the handler that
    reads that body: a webhook whose body was still on its way at SIGTERM could only run out
    the grace and be cut off (Alertmanager sent it again later). This handler lets the body of
    the request in progress arrive, so the webhook is stored and answered within the grace.
    Nothing new is taken: a connection with no request in progress still drops what arrives,
    and one answered is closed."""

    def data_received(self, data: bytes) -> None:
        # Every chunk of every request comes through here: the usual case costs two lookups.
        if not (self._close or self._force_close) or not self._request_in_progress:
            super().data_received(data)
            return
        closing = (self._close, self._force_close)
        self._close = self._force_close = False
        try:
            super().data_received(data)
        finally:
            self._close, self._force_close = closing


class _CappedServer(web.Server):
    """aiohttp's server, counting connections per address as they are accepted, with
    ``_DrainingHandler`` for each."""

    def __init__(self, plain: web.Server, cap: ConnectionCap) -> None:
        # The same server the runner made, with the same handler settings (aiohttp keeps them
        # in _kwargs and hands them to each connection's RequestHandler).
        super().__init__(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            **plain._kwargs,
        )
        self._cap = cap
        self._admitted: dict[RequestHandler, str] = {}

    def __call__(self) -> RequestHandler:
        return _DrainingHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        address = peer_address(transport)
        if self._cap.admit(address):
            self._admitted[handler] = address
            return
        transport.write(_REFUSAL)
        handler.force_close()  # closes once the answer is written; no request is read

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        address = self._admitted.pop(handler, None)
        if address is not None:
            self._cap.release(address)


class _CappedRunner(web.AppRunner):
    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._cap = app[CONNECTION_CAP]

    async def _make_server(self) -> web.Server:
        return _CappedServer(await super()._make_server(), self._cap)


class AccessLog(AbstractAccessLogger):
    """One line per request naming the client as the edge does (behind a trusted proxy, the
    client the proxy names) rather than the connection's peer."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        client = request.get(CLIENT_ADDRESS) or request.remote or "-"
        self.logger.info(
            '%s "%s %s" %d %.3fs',
            client,
            request.method,
            request.rel_url.raw_path,
            response.status,
            time,
            extra={"remote": client, "status": response.status},
        )


async def _serve_forever(
    app: web.Application,
    *,
    sockets: Sequence[socket.socket],
    announce: Callable[[], None],
    ssl_context: ssl.SSLContext | None,
    access_log: logging.Logger | None,
    shutdown_timeout: float,
) -> None:
    runner = _CappedRunner(
        app,
        access_log=access_log,
        access_log_class=AccessLog,
        shutdown_timeout=shutdown_timeout,
        handle_signals=True,  # SIGINT and SIGTERM raise web.GracefulExit
    )
    await runner.setup()
    try:
        for sock in sockets:
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        announce()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(
    app: web.Application,
    *,
    sockets: Sequence[socket.socket],
    announce: Callable[[], None],
    ssl_context: ssl.SSLContext | None,
    access_log: logging.Logger | None,
    shutdown_timeout: float,
) -> None:
    """Run ``app`` on ``sockets`` (bound already, so a busy port stopped us before anything
    started), ``announce`` once they accept connections, until SIGINT or SIGTERM; then shut it
    down gracefully, as ``web.run_app`` does: the application's cleanup runs while its own tasks
    (the job runner's workers) are still alive, and only then is what is left cancelled."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(
        _serve_forever(
            app,
            sockets=sockets,
            announce=announce,
            ssl_context=ssl_context,
            access_log=access_log,
            shutdown_timeout=shutdown_timeout,
        )
    )
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_the_rest(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    left = asyncio.all_tasks(loop)
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
