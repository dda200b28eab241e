"""Who may see and do what in the console: the same tokens and roles as the API.

``page(role)`` wraps a handler that reads; ``action(role)`` one that changes something, and
checks before it runs that the post came from the console's own page (same origin, the
session's CSRF token) and that the operator's role allows it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from receiver.access.auth import require_role
from receiver.console.render import redirect
from receiver.console.session import (
    COOKIE,
    CSRF_FIELD,
    Session,
    csrf_ok,
    csrf_token,
    parse_cookie,
    same_origin,
)
from receiver.errors import Forbidden, InvalidInput, Unauthenticated, UnsupportedMediaType
from receiver.model import Role
from receiver.typedefs import PRINCIPAL, TOKEN_AUTH
from receiver.web.request import read_body

Form = MultiDictProxy[str]
PageHandler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
ActionHandler = Callable[[web.Request, Session, Form], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FORM_LIMIT = 64 * 1024
_FORM_FIELDS = 100
_STALE = "the console session is not valid any more; log in again"


def session_of(request: web.Request) -> Session | None:
    """The signed-in operator, or None without a session cookie; a cookie whose token is
    not (or no longer) valid is a failed authentication, like a wrong bearer token."""
    raw = request.cookies.get(COOKIE)
    if raw is None:
        return None
    parsed = parse_cookie(raw)
    if parsed is None:
        raise Unauthenticated(_STALE)
    nonce, token = parsed
    principal = request.app[TOKEN_AUTH].authenticate_token(token, _STALE)
    request[PRINCIPAL] = principal
    return Session(principal, csrf_token(token, nonce))


def login_url(request: web.Request) -> str:
    login = request.app.router["console_login_form"].url_for()
    return str(login.with_query(next=request.path_qs))


def page(role: Role) -> Callable[[PageHandler], Handler]:
    def wrap(handler: PageHandler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            session = session_of(request)
            if session is None:
                return redirect(login_url(request))
            require_role(session.principal, role)
            return await handler(request, session)

        return run

    return wrap


def action(role: Role, *, fields: int = _FORM_FIELDS) -> Callable[[ActionHandler], Handler]:
    """A handler that changes something, on a form of at most ``fields`` fields."""

    def wrap(handler: ActionHandler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            session = session_of(request)
            if session is None:
                raise Unauthenticated("log in to the console first")
            check_origin(request)
            form = await read_form(request, fields)
            if not csrf_ok(session.csrf, form.get(CSRF_FIELD)):
                raise Forbidden("the form's CSRF token is missing or wrong; reload the page")
            require_role(session.principal, role)
            return await handler(request, session, form)

        return run

    return wrap


def check_origin(request: web.Request) -> None:
    if not same_origin(request.headers, request.host):
        raise Forbidden("a form posted from another site is refused")


async def read_form(request: web.Request, fields: int = _FORM_FIELDS) -> Form:
    """An ``application/x-www-form-urlencoded`` body of at most ``fields`` fields, bounded
    like every API body."""
    body = await read_body(request, _FORM_LIMIT)
    if body and request.content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            f"expected a form (application/x-www-form-urlencoded), got {request.content_type}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("form", f"not a form: {exc}") from None
    if text.count("&") + 1 > fields:  # as parse_qsl counts them, before it splits anything
        raise InvalidInput("form", f"expected at most {fields} fields")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=fields)
    except ValueError as exc:
        raise InvalidInput("form", f"not a form: {exc}") from None
    return MultiDictProxy(MultiDict(pairs))


def text_field(form: Form, name: str) -> str | None:
    """A form field, None when left empty."""
    value = form.get(name, "").strip()
    return value or None
