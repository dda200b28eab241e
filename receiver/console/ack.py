"""One-click acknowledge: ``/ack/<token>``, the page a signed link in a Teams card or an e-mail
opens (``acklinks.py`` makes and checks the tokens).

``GET`` (and ``HEAD``) only ever shows a confirmation page: mail scanners and link previewers
fetch every link they see, and must never acknowledge anything. The page's form ``POST``s back
to the same address with a CSRF token (a random value in a ``SameSite=Strict`` cookie and in the
form, compared in constant time; ``Origin``/``Sec-Fetch-Site`` must name this site). The POST
checks the token again, then the alert: a resolved one, or one already acknowledged, changes
nothing and says so. Each POST is an audit row from interface ``link``, the person the link was
made for as the actor (``channel:<name>`` when the notice went to a channel).
"""

from __future__ import annotations

import hmac
import html
import secrets
from typing import Final

from aiohttp import web

from receiver.acklinks import LinkRefused, LinkSigner, SignedAck
from receiver.console.access import read_form
from receiver.console.session import same_origin
from receiver.errors import FirebreakError, NotFound
from receiver.model import Actor, Alert
from receiver.obs import request_id_var
from receiver.typedefs import ACTIONS, AUDIT, CLOCK, CONFIG, STORE

CSRF_COOKIE: Final = "firebreak_ack_csrf"
CSRF_FIELD: Final = "csrf"
_HEADERS: Final = {
    "Cache-Control": "no-store",
    # The token is in the address: never hand it to another site, never index it.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    """A small page of its own: the person following a link has no console session."""
    text = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - Firebreak</title></head>\n"
        '<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto;">\n'
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)


def _signer(request: web.Request) -> LinkSigner | None:
    links = request.app[CONFIG].notifications.acknowledge_links
    return None if links is None else LinkSigner(links.secret)


def _alert_facts(alert: Alert) -> str:
    name = alert.labels.get("alertname", "") or f"alert {alert.id}"
    summary = alert.annotations.get("summary", "")
    facts = f"<p><strong>{html.escape(name)}</strong> (id {alert.id})</p>"
    if summary:
        facts += f"<p>{html.escape(summary)}</p>"
    return facts


class _Refusal(Exception):
    """An answer that changes nothing: its page, and what the audit row says."""

    def __init__(self, response: web.Response, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.response = response
        self.outcome = outcome
        self.detail = detail
        self.actor: str | None = None  # once the link is known to be ours
        self.target: str | None = None


async def _checked(request: web.Request) -> tuple[SignedAck, Alert]:
    """The link's claim and its alert, or a ``_Refusal`` with the page to answer."""
    signer = _signer(request)
    if signer is None:
        page = _page("Not available", "<p>Acknowledge links are not enabled here.</p>", 404)
        raise _Refusal(page, "rejected", "acknowledge links are not enabled")
    try:
        claim = signer.verify(request.match_info["token"], request.app[CLOCK]())
    except LinkRefused as exc:
        status = 410 if exc.reason == "expired" else 400
        raise _Refusal(
            _page("Link not usable", f"<p>{html.escape(exc.message)}</p>", status),
            "refused",
            f"link {exc.reason}",
        ) from None
    try:
        return claim, await _alert_for(request, claim)
    except _Refusal as refusal:
        refusal.actor, refusal.target = claim.person or claim.actor, str(claim.alert_id)
        raise


async def _alert_for(request: web.Request, claim: SignedAck) -> Alert:
    person = claim.person
    if person is not None and person not in {p.id for p in request.app[CONFIG].people}:
        page = _page(
            "Link not usable", "<p>This link was made for someone no longer here.</p>", 403
        )
        raise _Refusal(page, "refused", "person not in the people directory")
    try:
        alert = await request.app[STORE].get_alert(claim.alert_id)
    except NotFound:
        page = _page("No such alert", "<p>The alert this link names is gone.</p>", 404)
        raise _Refusal(page, "rejected", "no such alert") from None
    if alert.status == "resolved" or alert.resolved_by is not None:
        body = _alert_facts(alert) + "<p>It is already resolved; nothing was changed.</p>"
        raise _Refusal(_page("Already resolved", body, 409), "rejected", "already resolved")
    if alert.acknowledged_at is not None:
        who = html.escape(alert.acknowledged_by or "someone")
        body = _alert_facts(alert) + f"<p>{who} acknowledged it already; nothing was changed.</p>"
        raise _Refusal(_page("Already acknowledged", body), "rejected", "already acknowledged")
    return alert


async def page(request: web.Request) -> web.StreamResponse:
    """``GET /ack/<token>``: the confirmation page. Never acknowledges."""
    try:
        claim, alert = await _checked(request)
    except _Refusal as refusal:
        return refusal.response
    csrf = secrets.token_urlsafe(32)
    who = claim.person or claim.actor
    body = (
        _alert_facts(alert) + f"<p>Acknowledge this alert as <strong>{html.escape(who)}</strong>? "
        "Escalation stops for it.</p>"
        f'<form method="post"><input type="hidden" name="{CSRF_FIELD}" value="{csrf}">'
        '<button type="submit">Acknowledge</button></form>'
    )
    response = _page("Acknowledge alert", body)
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        path="/ack/",
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.app[CONFIG].api.secure_cookies,
        max_age=3600,
    )
    return response


def _csrf_ok(request: web.Request, presented: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or presented is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8", "replace"))


async def confirm(request: web.Request) -> web.StreamResponse:
    """``POST /ack/<token>`` from the confirmation page: acknowledge, audited."""
    actor = "unverified link"
    target: str | None = None
    try:
        if not same_origin(request.headers, request.host):
            raise _Refusal(
                _page("Refused", "<p>A form posted from another site is refused.</p>", 403),
                "refused",
                "cross-site post",
            )
        try:
            form = await read_form(request)
        except FirebreakError as exc:
            page_ = _page("Refused", f"<p>{html.escape(str(exc))}</p>", 400)
            raise _Refusal(page_, "rejected", str(exc)) from None
        if not _csrf_ok(request, form.get(CSRF_FIELD)):
            body = "<p>The form's token is missing or wrong: open the link again.</p>"
            raise _Refusal(_page("Refused", body, 403), "refused", "CSRF token missing or wrong")
        claim, alert = await _checked(request)
        actor, target = claim.person or claim.actor, str(alert.id)
        await request.app[ACTIONS].acknowledge(
            alert.id,
            Actor(actor, "link"),
            "acknowledged through a signed link",
            request_id_var.get(),
        )
    except _Refusal as refusal:
        await _audit(
            request,
            refusal.actor or actor,
            refusal.target or target,
            refusal.outcome,
            refusal.response.status,
            refusal.detail,
        )
        return refusal.response
    await _audit(request, actor, target, "ok", 200, None)
    body = _alert_facts(alert) + "<p>Acknowledged. Escalation has stopped for this alert.</p>"
    return _page("Acknowledged", body)


async def _audit(
    request: web.Request,
    actor: str,
    target: str | None,
    outcome: str,
    status: int,
    detail: str | None,
) -> None:
    await request.app[AUDIT].record(
        actor=actor,
        interface="link",
        action="acknowledge",
        target=target,
        outcome=outcome,
        status=status,
        request_id=request_id_var.get(),
        **({"detail": {"reason": detail}} if detail else {}),
    )
