"""GET /api/v1/audit: the audit trail, newest first (admin)."""

from __future__ import annotations

from aiohttp import web

from receiver.api.common import parse_since, ts
from receiver.errors import InvalidInput
from receiver.model import Role
from receiver.typedefs import AUDIT, CLOCK, TOKEN_AUTH


async def list_audit(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    q = request.query
    limit = q.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise InvalidInput("limit", "expected an integer from 1 to 1000")
    cursor = q.get("cursor")
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput("cursor", "expected the next_cursor of the previous page")
    since = None
    if "since" in q:
        since = parse_since(q["since"], request.app[CLOCK]())
    found = await request.app[AUDIT].entries(
        actor=q.get("actor"),
        action=q.get("action"),
        since=since,
        limit=int(limit) + 1,
        before_id=int(cursor) if cursor else None,
    )
    page = found[: int(limit)]
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
