"""The way into the console: the addresses people guess lead to it, and the login page says
where tokens come from without saying anything about which ones exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN
from tests.console.conftest import Start, console_config_text, login
from tests.console.pages import parse_page


async def test_the_login_page_says_where_tokens_come_from(start: Start) -> None:
    client = await start()
    resp = await client.get("/console/login")
    assert resp.status == 200 and resp.content_type == "text/html"
    login_box = parse_page(await resp.text()).find("section", cls="login")
    said = login_box.text
    assert "Log in with an API token from firebreak.yml ( api.tokens )" in said
    assert "a viewer token to look, a responder token to act" in said
    assert login_box.find("input", name="token").attrs["type"] == "password"


async def test_the_login_page_reveals_nothing_about_the_tokens_that_exist(
    start: Start, aiohttp_client: Callable[..., Any], db_url: str
) -> None:
    client = await start()
    page = await (await client.get("/console/login")).text()
    for secret in (ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, "alice", "bob", "carol"):
        assert secret not in page
    # The same page whatever the tokens: only an admin one here, named otherwise.
    text = console_config_text(db_url)
    alone = "\n".join(line for line in text.splitlines() if "role: responder" not in line)
    alone = alone.replace("role: viewer, name: carol", "role: admin, name: dave")
    app = create_app(parse_config(alone, env={}), registry=CollectorRegistry(), step_actions={})
    other = await aiohttp_client(app)
    assert await (await other.get("/console/login")).text() == page


async def test_console_addresses_lead_to_the_console(start: Start) -> None:
    client = await start()
    for path, target in (
        ("/console", "/"),
        ("/console/", "/"),
        ("/console?status=firing", "/?status=firing"),
        (
            "/console/?match%5B%5D=%7Bseverity%3D%22x%22%7D",
            "/?match%5B%5D=%7Bseverity%3D%22x%22%7D",
        ),
    ):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"] == target, path
    # Without a session the console then asks for a token; with one it is the alerts page.
    anonymous = await client.get("/console")
    assert anonymous.status == 200 and anonymous.url.path == "/console/login"
    await login(client, VIEWER_TOKEN)
    page = await client.get("/console/")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.url.path == "/"
    assert parse_page(await page.text()).find("h1").text.startswith("Alerts")
