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
from receiver.typedefs import (
    AUDIT,
    AUDITED_PER_ALERT,
    AUTH_FAILURES,
    CLIENT_ADDRESS,
    ERROR_PAGE,
    METRICS,
    PRINCIPAL,
    TOKEN_AUTH,
    TRUSTED_PROXIES,
)

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


def status_of(exc: errors.FirebreakError) -> int:
    """The HTTP status a domain error is answered with."""
    return next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)


def audit_outcome(status: int) -> str:
    """An audit row's outcome for an action answered with ``status``."""
    if status < 400:
        return "ok"
    if status in (401, 403, 429):
        return "refused"
    return "rejected" if status < 500 else "failed"


def error_response(status: int, message: str, request_id: str, **fields: Any) -> web.Response:
    """The one error shape every endpoint answers with."""
    body: dict[str, Any] = {"status": "error", "error": message, **fields}
    body["request_id"] = request_id
    return web.json_response(body, status=status)


def _from_error(exc: errors.FirebreakError, request_id: str) -> web.Response:
    status = status_of(exc)
    if isinstance(exc, errors.InvalidInput):
        return error_response(status, str(exc), request_id, field=exc.field)
    if isinstance(exc, errors.HeldBack):
        return error_response(status, str(exc), request_id, execution_id=exc.execution_id)
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


# The routes that change something on a person's or token's word, and the console's logins
# and logouts: each request to one is an audit row, allowed or refused (a wrong token too; the
# webhooks are Alertmanager's and PagerDuty's, not people's).
AUDITED = frozenset(
    {
        "login",
        "logout",
        "acknowledge",
        "resolve",
        "snooze",
        "job_retry",
        "runbook_execute",
        "runbook_reset",
        "cancel",
        "approve",
        "reject",
        "drills",
        "pause",
        "resume",
        "reload",
        "schedule_override",
        "schedule_override_delete",
        "maintenance_create",
        "maintenance_end",
        "raise_alert",
        "bulk",  # the console's: one row per alert once it acts, else one for the request
    }
)


# Routes of the operator console are named with this prefix: they answer HTML (errors too),
# are not part of the JSON API's OpenAPI document, and ``console_<action>`` is audited as
# ``<action>`` from the ``console`` interface.
CONSOLE_ROUTE_PREFIX = "console_"


def audited_action(route: str) -> tuple[str, str] | None:
    """(interface, action) when a request to ``route`` is an audit row."""
    if route in AUDITED:
        return "api", route
    action = route.removeprefix(CONSOLE_ROUTE_PREFIX)
    if action != route and action in AUDITED:
        return "console", action
    return None


def _actor(request: web.Request) -> str:
    if PRINCIPAL in request:  # the console checked its session cookie
        return request[PRINCIPAL].audit_name
    try:
        return request.app[TOKEN_AUTH].authenticate(request.headers).audit_name
    except errors.FirebreakError:
        return f"unauthenticated@{request.remote or '?'}"


async def _audit(
    request: web.Request,
    response: web.StreamResponse,
    request_id: str,
    interface: str,
    action: str,
) -> None:
    await request.app[AUDIT].record(
        actor=_actor(request),
        interface=interface,
        action=action,
        target=request.match_info.get("id"),
        outcome=audit_outcome(response.status),
        status=response.status,
        request_id=request_id,
    )


def _as_page(
    request: web.Request, response: web.StreamResponse, problem: str
) -> web.StreamResponse:
    """A console route's error as the console's HTML page, same status and headers."""
    if ERROR_PAGE not in request.app or not isinstance(response, web.Response):
        return response
    page = request.app[ERROR_PAGE](request, response.status, problem)
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


# Routes the failed-authentication limit never answers 429: Alertmanager drops a notification
# it gets a 4xx for, and liveness and scrapes must keep working whatever a neighbour did.
_WEBHOOKS = frozenset({"webhook", "grafana_webhook"})
_NEVER_LIMITED = _WEBHOOKS | {"health", "metrics"}


def _client(request: web.Request) -> web.Request:
    """The request as its handler sees it: ``remote`` is the client's address, which behind a
    trusted proxy comes from ``X-Forwarded-For`` (every use of ``request.remote`` then names
    the client: audit rows, logs, the limit)."""
    proxies = request.app[TRUSTED_PROXIES]
    remote = request.remote
    address = proxies.client(remote, request.headers.getall("X-Forwarded-For", ()))
    request[CLIENT_ADDRESS] = address  # on the original too: the access log is given that one
    return request if address == remote else request.clone(remote=address)


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request_id_from(request.headers.get("X-Request-ID"))
    token = request_id_var.set(request_id)
    try:
        problem: str | None = None
        unhandled = False
        request = _client(request)
        route = request.match_info.route
        route_name = route.name or ""
        is_webhook = route_name in _WEBHOOKS
        try:
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
            unhandled = True
        if response.status == 401 and route_name not in _NEVER_LIMITED:
            # Only a failure is ever limited: a request with a valid credential never reaches
            # here, so a neighbour behind the same NAT or proxy cannot lock anyone out.
            failures = request.app[AUTH_FAILURES]
            address = request.remote or ""
            wait = failures.retry_after(address)
            if wait is None:
                failures.record(address)
            else:
                limited = errors.TooManyFailures(
                    "too many failed authentications from this address", retry_after=wait
                )
                response = _from_error(limited, request_id)
                problem = str(limited)
        if (problem is not None or unhandled) and route_name.startswith(CONSOLE_ROUTE_PREFIX):
            response = _as_page(request, response, problem or "internal error")
        audited = audited_action(route_name)
        if audited is not None and not request.get(AUDITED_PER_ALERT, False):
            await _audit(request, response, request_id, *audited)
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
        name = route_name or (route.resource.canonical if route.resource else "unmatched")
        request.app[METRICS].count_http(name, response.status, elapsed if is_webhook else None)
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
