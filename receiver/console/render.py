"""Pages from templates: one jinja2 environment with autoescaping, the console's filters, and
the headers every console page carries."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from receiver.console.session import COOKIE, CSRF_FIELD, Session
from receiver.durations import format_duration
from receiver.model import Role
from receiver.typedefs import CLOCK, CONSOLE_TEMPLATES

# No inline script or style anywhere: everything the pages load comes from /console/static.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One page in the console's navigation: its title and the name of its route."""

    title: str
    route: str


def environment(nav: tuple[NavItem, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("receiver.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        age=age,
        seconds=seconds,
        span=span,
        share=share,
        code=code,
        pretty=pretty,
        is_link=is_link,
    )
    env.globals.update(nav=nav, Role=Role)
    return env


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def age(value: datetime | None, now: datetime) -> str:
    """How long ago in Prometheus duration syntax, to the second under an hour (``3m12s``),
    then to the minute (``2h5m``), then to the hour (``3d4h``)."""
    if value is None:
        return "—"
    elapsed = int(max(timedelta(0), now - value).total_seconds())
    unit = 3600 if elapsed >= 86_400 else 60 if elapsed >= 3600 else 1
    return format_duration(timedelta(seconds=elapsed - elapsed % unit))


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.2f}s"
    return format_duration(timedelta(seconds=round(value)))


# Units of ``span``, largest first.
_SPAN_UNITS = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))
_BACKTICKED = re.compile(r"`([^`]+)`")


def span(value: float | None) -> str:
    """A duration in seconds as its two largest units, to the second: ``4m 10s``, ``1h 30m``,
    ``2d 3h``; a zero second unit is left out (``1h``)."""
    if value is None:
        return "—"
    left = round(value)
    parts: list[tuple[int, str]] = []
    for unit, size in _SPAN_UNITS:
        count, left = divmod(left, size)
        if count or parts:
            parts.append((count, unit))
    shown = [f"{count}{unit}" for count, unit in parts[:2] if count]
    return " ".join(shown) or "0s"


def share(value: float | None) -> str:
    """A ratio as a percentage to a tenth (``66.7%``)."""
    return "—" if value is None else f"{value * 100:.1f}".removesuffix(".0") + "%"


def code(text: str) -> Markup:
    """Text with its `backticked` parts (rule fields such as `for:`) set as code."""
    return Markup(_BACKTICKED.sub(r"<code>\1</code>", str(escape(text))))


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def is_link(value: object) -> bool:
    """Whether a value may be a link's href: http(s) only, never ``javascript:``."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _secured(response: web.Response) -> web.Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"  # pages hold alert data; Back after logout
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def render(
    request: web.Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    **context: Any,
) -> web.Response:
    router = request.app.router

    def url(route: str, query: Mapping[str, Any] | None = None, **parts: Any) -> str:
        found = router[route].url_for(**{k: str(v) for k, v in parts.items()})
        return str(found.with_query(query) if query else found)

    page = request.app[CONSOLE_TEMPLATES].get_template(template)
    body = page.render(
        request=request,
        session=session,
        now=request.app[CLOCK](),
        url=url,
        csrf_field=CSRF_FIELD,
        **context,
    )
    return _secured(web.Response(text=body, status=status, content_type="text/html"))


def redirect(location: str) -> web.Response:
    """See Other: after a form post the browser GETs the page (Post/Redirect/Get)."""
    return _secured(web.Response(status=303, headers={"Location": location}))


def error_page(request: web.Request, status: int, problem: str) -> web.Response:
    """A console route's error: the login form for 401 (the session cookie is dropped), else
    a page naming the problem."""
    if status == 401:
        back = request.path_qs if request.method == "GET" else "/"
        response = render(request, "login.html", None, status=401, problem=problem, next=back)
        response.del_cookie(COOKIE, path="/")
        return response
    return render(request, "error.html", None, status=status, problem=problem)
