"""One middleware for every response: request id, timing, security headers, compression,
metrics, and the translation of domain errors into one JSON error shape."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from receiver import errors
from receiver.obs import request_id_from, request_id_var
from receiver.typedefs import AUTH_FAILURES, METRICS

log = logging.getLogger("firebreak.http")

# API bodies over this size are gzip-compressed when the client accepts it; smaller ones
# would grow, or cost more CPU than they save on the wire.
_COMPRESS_OVER = 1024

_STATUS: dict[type[errors.FirebreakError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RequestTimeout: 408,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.TooManyFailures: 429,
    errors.StoreUnavailable: 503,
}


def error_response(status: int, message: str, request_id: str, **fields: Any) -> web.Response:
    """The one error shape every endpoint answers with."""
    body: dict[str, Any] = {"status": "error", "error": message, **fields}
    body["request_id"] = request_id
    return web.json_response(body, status=status)


def _from_error(exc: errors.FirebreakError, request_id: str) -> web.Response:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
    if isinstance(exc, errors.InvalidInput):
        return error_response(status, str(exc), request_id, field=exc.field)
    response = error_response(status, str(exc), request_id)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="firebreak"'
    elif status == 503:
        response.headers["Retry-After"] = "5"
    elif isinstance(exc, errors.TooManyFailures):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def _from_http(exc: web.HTTPException, request_id: str) -> web.Response:
    response = error_response(exc.status, exc.reason, request_id)
    for name in ("Allow", "Location", "WWW-Authenticate"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request_id_from(request.headers.get("X-Request-ID"))
    token = request_id_var.set(request_id)
    try:
        problem: str | None = None
        failures = request.app[AUTH_FAILURES]
        address = request.remote or ""
        is_webhook = request.match_info.route.name == "webhook"
        wait = None if is_webhook else failures.retry_after(address)
        try:
            if wait is not None:
                raise errors.TooManyFailures(
                    "too many failed authentications from this address", retry_after=wait
                )
            response = await handler(request)
        except errors.FirebreakError as exc:
            response = _from_error(exc, request_id)
            problem = str(exc)
        except web.HTTPException as exc:
            response = _from_http(exc, request_id)
            problem = exc.reason
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.path)
            response = error_response(500, "internal error", request_id)
        if response.status == 401 and not is_webhook:
            failures.record(address)
        elapsed = time.perf_counter() - started
        headers = response.headers
        headers["X-Request-ID"] = request_id
        headers["X-Process-Time"] = f"{elapsed:.6f}"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        if (
            isinstance(response, web.Response)
            and request.path.startswith("/api/")
            and response.body is not None
            and len(response.body) > _COMPRESS_OVER  # type: ignore[arg-type]
        ):
            response.enable_compression()  # only when Accept-Encoding allows it
        metrics = request.app[METRICS]
        route = request.match_info.route
        name = route.name or (route.resource.canonical if route.resource else "unmatched")
        metrics.count_http(name, response.status, elapsed if is_webhook else None)
        if is_webhook and problem is not None:
            # Alertmanager drops a notification it got a 4xx for: say so where people look.
            log.warning(
                "webhook refused with %d: %s",
                response.status,
                problem,
                extra={"remote": request.remote},
            )
        return response
    finally:
        request_id_var.reset(token)
