"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

An operator logs in with a token, acknowledges an alert, approves the step a runbook waits
at and watches the timeline move on. A screenshot of every page is written to
``$FIREBREAK_SCREENSHOTS`` when set, else to ``screenshots/`` in the test's tmp directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, auth
from tests.console.conftest import Start, fire
from tests.payloads import alert

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Chromium is not installed (scripts/system-deps.sh test)"
)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The browser tests run on SQLite only: the store is tested on both elsewhere."""
    return sqlite_url


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("FIREBREAK_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        found = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox"],  # CI runs as root, where Chromium's sandbox cannot start
        )
        yield found
        await found.close()


async def test_an_operator_acknowledges_and_approves_and_sees_the_timeline_move_on(
    start: Start, browser: Any, screenshots: Path
) -> None:
    client = await start()
    await fire(
        client,
        alert("HighErrorRate"),
        alert(
            "DiskFilling",
            labels={"severity": "warning", "instance": "db-1:9100", "service": "postgres"},
            annotations={"summary": "/var/lib/postgresql fills within 4h"},
        ),
        alert(
            "LatencyHigh",
            labels={"severity": "info", "service": "search"},
            annotations={"summary": "p99 above 400ms"},
        ),
    )
    listing = await client.get(
        '/api/v1/alerts?match[]={alertname="HighErrorRate"}', headers=auth(ADMIN_TOKEN)
    )
    (high,) = (await listing.json())["alerts"]
    started = await client.post(
        "/api/v1/runbooks/restart-checkout/execute",
        json={"alert_id": high["id"]},
        headers=auth(ADMIN_TOKEN),
    )
    execution_id = (await started.json())["id"]
    base = str(client.make_url("")).rstrip("/")

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    await page.goto(f"{base}/")
    assert "/console/login" in page.url
    await page.screenshot(path=screenshots / "login.png")
    await page.fill("input[name=token]", RESPONDER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    assert "bob (responder)" in await page.inner_text("header")

    row = page.locator("tr", has_text="HighErrorRate")
    await row.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_url(f"{base}/")
    row = page.locator("tr", has_text="HighErrorRate")
    assert "acknowledged" in await row.inner_text()
    assert await row.get_by_role("button", name="Acknowledge").count() == 0
    await page.screenshot(path=screenshots / "alerts.png", full_page=True)
    resp = await client.get(f"/api/v1/alerts/{high['id']}", headers=auth(ADMIN_TOKEN))
    assert (await resp.json())["acknowledged_by"] == "bob"

    await row.get_by_role("link", name="HighErrorRate").click()
    await page.wait_for_selector("text=History")
    await page.screenshot(path=screenshots / "alert.png", full_page=True)

    await page.click("nav >> text=Executions")
    await page.wait_for_selector(f"text=#{execution_id}")
    await page.screenshot(path=screenshots / "executions.png", full_page=True)
    await page.click(f"a:text-is('#{execution_id}')")
    await page.wait_for_selector("button:text-is('Approve')")
    assert "waiting approval" in await page.inner_text(".execution-state")
    await page.screenshot(path=screenshots / "execution-waiting.png", full_page=True)

    await page.click("button:text-is('Approve')")
    await page.wait_for_url(f"{base}/console/executions/{execution_id}")
    # No reload from here: the page's live region follows the execution to its end.
    await page.wait_for_selector(".execution-state >> text=succeeded", timeout=20_000)
    timeline = await page.inner_text("ol.timeline")
    assert "approved by console:bob" in timeline
    assert "settle" in timeline and "not started" not in timeline
    await page.screenshot(path=screenshots / "execution.png", full_page=True)

    for name, path in (
        ("runbooks", "/console/runbooks"),
        ("runbook", "/console/runbooks/restart-checkout"),
        ("health", "/console/health"),
        ("reports", "/console/reports"),
    ):
        await page.goto(f"{base}{path}")
        await page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    assert errors == []  # no script error, and nothing refused by the CSP
    await context.close()
    for name in (
        "login",
        "alerts",
        "alert",
        "executions",
        "execution",
        "runbook",
        "health",
        "reports",
    ):
        assert (screenshots / f"{name}.png").stat().st_size > 0


async def test_the_read_pages_work_with_javascript_off(start: Start, browser: Any) -> None:
    client = await start()
    await fire(client)
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{base}/console/health")
    await page.fill("input[name=token]", RESPONDER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/health")
    assert "database" in await page.inner_text("main")
    await page.goto(f"{base}/")
    assert "HighErrorRate on checkout" in await page.inner_text("main")
    await page.click("text=HighErrorRate")
    assert "service" in await page.inner_text("main")
    await context.close()
