"""GET /api/v1/audit: the audit trail, newest first (admin)."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import InvalidInput
from receiver.model import Role
from receiver.typedefs import AUDIT, CLOCK, TOKEN_AUTH
from receiver.views import ts
from receiver.web.params import parse_int, parse_limit, parse_since


async def list_audit(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    q = request.query
    limit = parse_limit(q, 100)
    cursor = parse_int(q["cursor"]) if "cursor" in q else None
    if "cursor" in q and cursor is None:
        raise InvalidInput("cursor", "expected the next_cursor of the previous page")
    since = None
    if "since" in q:
        since = parse_since(q["since"], request.app[CLOCK]())
    found = await request.app[AUDIT].entries(
        actor=q.get("actor"),
        action=q.get("action"),
        since=since,
        limit=limit + 1,
        before_id=cursor,
    )
    page = found[:limit]
    return web.json_response(
        {
            "entries": [
                {
                    "id": e.id,
                    "at": ts(e.at),
                    "actor": e.actor,
                    "interface": e.interface,
                    "action": e.action,
                    "target": e.target,
                    "outcome": e.outcome,
                    "status": e.status,
                    "request_id": e.request_id,
                    "detail": e.detail,
                }
                for e in page
            ],
            "next_cursor": str(page[-1].id) if len(found) > int(limit) else None,
        }
    )
