"""``firebreak page TARGET MESSAGE`` against a running Firebreak's REST API: the target is paged,
the same key raises nothing new, a 503 on the way is tried again under the same key (one alert,
one page), a refused target names the argument and raises nothing, and the token is read from
the environment only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from receiver.cli.main import main
from receiver.store.tables import alerts, manual_pages
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN
from tests.oncall.paging_setup import ALICE, BOB, Outside
from tests.oncall.test_manual_page_targets import ONCALL, TIERS


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def page(*argv: str) -> int:
    """``firebreak page ...`` as a shell runs it (its own event loop, in a thread of its own)."""
    return await asyncio.to_thread(main, ["page", *argv])


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBREAK_TOKEN", RESPONDER_TOKEN)
    monkeypatch.delenv("FIREBREAK_URL", raising=False)


async def test_a_page_from_the_shell_pages_the_target_once_per_key(
    outside: Outside, manual_clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await outside.run(TIERS, ONCALL)
    url = str(client.make_url(""))
    assert await page("--url", url, "--key", "db-1", "primary", "Database", "down") == 0
    out = capsys.readouterr().out
    assert out.startswith("paged schedule:primary: alert ") and "(Database down)" in out
    assert await page("--url", url, "--key", "db-1", "primary", "Database", "down") == 0
    assert capsys.readouterr().out.startswith("already raised: alert ")
    await manual_clock.settle()
    assert len(outside.slack.direct_messages(ALICE)) == 1
    assert await count(client, alerts) == 1


async def test_a_503_on_the_way_is_tried_again_under_the_same_key(
    outside: Outside, manual_clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy that loses the first answer (the page is raised, the shell hears 503)."""
    client = await outside.run(TIERS, ONCALL)
    seen: list[str] = []

    async def lossy(request: web.Request) -> web.Response:
        body = await request.read()
        target = client.make_url(request.path)
        async with (
            ClientSession() as http,
            http.post(target, data=body, headers=request.headers) as resp,
        ):
            answer, status = await resp.read(), resp.status
        seen.append((await request.json())["key"])
        if len(seen) == 1:
            return web.json_response({"error": "lost on the way"}, status=503)
        return web.Response(body=answer, status=status, content_type="application/json")

    proxy = web.Application()
    proxy.router.add_post("/api/v1/alerts", lossy)
    async with TestServer(proxy) as server:
        url = str(server.make_url(""))
        assert await page("--url", url, "person:bob", "Disk", "full", "--json") == 0
    assert len(seen) == 2 and seen[0] == seen[1]
    await manual_clock.settle()
    assert await count(client, alerts) == 1 and len(outside.slack.direct_messages(BOB)) == 1
    assert '"target": "person:bob"' in capsys.readouterr().out


async def test_a_refused_page_names_the_argument_and_raises_nothing(
    outside: Outside,
    manual_clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await outside.run(TIERS, ONCALL)
    url = str(client.make_url(""))
    assert await page("--url", url, "'; DROP TABLE alerts; --", "x") == 1
    err = capsys.readouterr().err
    assert err.startswith("firebreak page: TARGET: no schedule, person or team of that id")
    assert await page("--url", url, "primary", "x" * 4001) == 2
    assert "MESSAGE: expected at most 4000 characters" in capsys.readouterr().err
    assert await page("--url", url, "primary", "x", "--label", "alertname=Other") == 1
    assert "--label alertname: set by Firebreak" in capsys.readouterr().err
    assert await page("--url", "file:///etc/passwd", "primary", "x") == 2
    assert "--url: expected an http or https URL" in capsys.readouterr().err
    monkeypatch.setenv("FIREBREAK_TOKEN", VIEWER_TOKEN)
    assert await page("--url", url, "primary", "x") == 1
    assert "responder" in capsys.readouterr().err
    monkeypatch.delenv("FIREBREAK_TOKEN")
    assert await page("--url", url, "primary", "x") == 2
    assert "$FIREBREAK_TOKEN: expected a responder's API token" in capsys.readouterr().err
    assert await count(client, alerts) == 0 and await count(client, manual_pages) == 0
