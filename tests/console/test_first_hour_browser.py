"""The console as a newcomer meets it, in a real browser (headless Chromium through
Playwright): the address people guess leads to a login page that says where tokens come from;
a run an alert started in dry-run mode carries a "dry run" badge wherever it is listed, and a
dry run says what a live run would refuse; a step that could not connect says so in a
sentence, not in the HTTP client's words."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.automation.conftest import finished, runbooks
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, auth, eventually
from tests.console.conftest import ON_THE_BROWSERS_LOOP, Start, console_config_text, fire
from tests.console.test_dry_run_badges import RESTART  # starts by itself, as a dry run
from tests.e2e.conftest import free_port  # a port nothing listens on any more
from tests.payloads import alert

pytestmark = ON_THE_BROWSERS_LOOP


@pytest.fixture
def aiohttp_client(browsers_aiohttp_client: Any) -> Any:
    return browsers_aiohttp_client


# Run live by hand, against a port nothing listens on.
POKE = """
id: poke
title: Poke a service that is down
steps:
  - id: poke
    http: {{method: POST, url: "http://127.0.0.1:{port}/admin/restart"}}
"""

# Dry-run by hand: the allow-list (127.0.0.1) does not list its host.
FAR = """
id: far
title: Restart a service on a host the allow-list does not name
steps:
  - id: restart
    http: {method: POST, url: "http://192.0.2.10/restart"}
"""


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The browser tests run on SQLite only: the store is tested on both elsewhere."""
    return sqlite_url


async def test_the_console_address_leads_to_a_login_that_says_where_tokens_come_from(
    start: Start, browser: Any
) -> None:
    client = await start()
    base = str(client.make_url("")).rstrip("/")
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base}/console")
    await page.wait_for_url(re.compile(re.escape(base) + r"/console/login\?next=/$"))
    said = " ".join((await page.inner_text("section.login")).split())
    assert "Log in with an API token from firebreak.yml (api.tokens)" in said
    assert "a viewer token to look, a responder token to act" in said
    await page.fill("input[name=token]", VIEWER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    assert (await page.inner_text("h1")).startswith("Alerts")
    # And /console/ once logged in: the alerts page, not a JSON 404.
    await page.goto(f"{base}/console/")
    await page.wait_for_url(f"{base}/")
    assert (await page.inner_text("h1")).startswith("Alerts")


async def _app(aiohttp_client: Any, db_url: str, port: int) -> TestClient[Any, Any]:
    config = parse_config(console_config_text(db_url), env={})  # no automation.mode: dry run
    app = create_app(
        config,
        registry=CollectorRegistry(),
        runbooks=runbooks(RESTART, POKE.format(port=port), FAR),
        step_actions={},
    )
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def _executions(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/executions", headers=auth(VIEWER_TOKEN))
    return list((await resp.json())["executions"])


async def test_dry_runs_are_badged_and_a_step_that_cannot_connect_says_so_in_a_sentence(
    aiohttp_client: Any, db_url: str, browser: Any
) -> None:
    port = free_port()
    client = await _app(aiohttp_client, db_url, port)
    [alert_id] = await fire(client, alert())
    [auto] = await eventually(lambda: _executions(client))
    dry = (await finished(client, auto["id"]))["id"]
    resp = await client.post(
        "/api/v1/runbooks/poke/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 202, await resp.text()
    live = int((await resp.json())["id"])
    assert (await finished(client, live))["state"] == "failed"
    resp = await client.post(
        "/api/v1/runbooks/far/execute", json={"dry_run": True}, headers=auth(RESPONDER_TOKEN)
    )
    far = (await finished(client, int((await resp.json())["id"])))["id"]

    base = str(client.make_url("")).rstrip("/")
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base}/console/alerts/{alert_id}")
    await page.fill("input[name=token]", VIEWER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/alerts/{alert_id}")

    # The alert's page: its run is a dry run, badged as one, not a plain "succeeded".
    row = page.locator("tr", has=page.locator(f"a[href='/console/executions/{dry}']"))
    assert await row.locator(".tag.dry-run").is_visible()
    assert "succeeded dry run" in " ".join((await row.inner_text()).split())

    # The executions page: the dry run badged, the live run not.
    await page.goto(f"{base}/console/executions")
    dry_row = page.locator("tr", has=page.locator(f"a[href='/console/executions/{dry}']"))
    live_row = page.locator("tr", has=page.locator(f"a[href='/console/executions/{live}']"))
    assert await dry_row.locator(".tag.dry-run").is_visible()
    assert await live_row.locator(".tag.dry-run").count() == 0

    # The dry run's own page: the badge, and what the step would have done.
    await page.click(f"a[href='/console/executions/{dry}']")
    await page.wait_for_url(f"{base}/console/executions/{dry}")
    assert await page.locator(".execution-state .tag.dry-run").is_visible()
    assert "would POST http://127.0.0.1:9/restart/checkout" in await page.inner_text("main")

    # The failed live run: the step's problem is a sentence; the client's words are only detail.
    await page.goto(f"{base}/console/executions/{live}")
    problem = page.locator(".step .problem, div.problem").first
    assert await problem.inner_text() == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert await page.locator(".execution-state .tag.dry-run").count() == 0

    # A dry run of a step a live run would refuse says so, after what it would do.
    await page.goto(f"{base}/console/executions/{far}")
    action = await page.inner_text(".step-action")
    assert action.startswith("would POST http://192.0.2.10/restart — refused when live: 192.0.2.10")
    assert action.endswith("automation.http_allow")
