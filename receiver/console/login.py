"""The way in: logging in with an API token and out again, and the addresses people guess for
the console (``/console``) leading to it."""

from __future__ import annotations

from aiohttp import web

from receiver.console.access import Form, action, check_origin, read_form, session_of
from receiver.console.render import redirect, render
from receiver.console.session import COOKIE, Session, cookie_value, safe_next
from receiver.errors import Unauthenticated
from receiver.model import Role
from receiver.typedefs import CONFIG, PRINCIPAL, TOKEN_AUTH


async def to_the_console(request: web.Request) -> web.StreamResponse:
    """``/console`` and ``/console/``: the alerts page at ``/``, with the same query."""
    home = request.app.router["console_alerts"].url_for()
    return redirect(str(home.with_query(request.query)))


async def login_form(request: web.Request) -> web.StreamResponse:
    if session_of(request) is not None:  # already signed in
        return redirect(safe_next(request.query.get("next")))
    return render(
        request, "login.html", None, problem=None, next=safe_next(request.query.get("next"))
    )


async def login(request: web.Request) -> web.StreamResponse:
    """Check the token as the API does (a wrong one is a failed authentication, limited per
    address like the API's), then keep it in an HttpOnly, SameSite=Strict cookie."""
    check_origin(request)
    form = await read_form(request)
    token = form.get("token", "").strip()
    if not token:
        raise Unauthenticated("enter an API token")
    principal = request.app[TOKEN_AUTH].authenticate_token(token)
    request[PRINCIPAL] = principal
    response = redirect(safe_next(form.get("next")))
    response.set_cookie(
        COOKIE,
        cookie_value(token),
        path="/",
        httponly=True,
        samesite="Strict",
        # Served over TLS, here or at a proxy in front: never sent over plain HTTP.
        secure=request.secure or request.app[CONFIG].api.secure_cookies,
    )
    return response


@action(Role.VIEWER)
async def logout(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    response = redirect(str(request.app.router["console_login_form"].url_for()))
    response.del_cookie(COOKIE, path="/")
    return response
