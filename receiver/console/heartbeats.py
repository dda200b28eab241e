"""Heartbeats: every configured one, its state, last beat (with the message it carried) and
deadlines, through the same ``Heartbeats`` service as the API."""

from __future__ import annotations

from aiohttp import web

from receiver.console.access import page
from receiver.console.render import render
from receiver.console.session import Session
from receiver.model import Role
from receiver.typedefs import BUILT, CLOCK


@page(Role.VIEWER)
async def heartbeats_page(request: web.Request, session: Session) -> web.StreamResponse:
    now = request.app[CLOCK]()
    statuses = await request.app[BUILT][-1].heartbeats.statuses(now)
    return render(request, "heartbeats.html", session, heartbeats=statuses)
