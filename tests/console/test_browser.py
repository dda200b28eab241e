"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

An operator logs in with a token, acknowledges an alert, approves the step a runbook waits
at and watches the timeline move on; triages a storm: ticks a group and one more alert and
acknowledges them at once, snoozes a group and resolves it with one more, sorts, narrows by a
count and flattens the groups. A screenshot of
every page is written to ``$FIREBREAK_SCREENSHOTS`` when set, else to ``screenshots/`` in the
test's tmp directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import ON_THE_BROWSERS_LOOP, Start, fire
from tests.console.storm import ago, post, storm
from tests.payloads import alert

pytestmark = ON_THE_BROWSERS_LOOP


@pytest.fixture
def aiohttp_client(browsers_aiohttp_client: Any) -> Any:
    return browsers_aiohttp_client


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The browser tests run on SQLite only: the store is tested on both elsewhere."""
    return sqlite_url


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

    row = page.locator("tr[data-alert]", has_text="HighErrorRate")
    await row.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_url(f"{base}/")
    row = page.locator("tr[data-alert]", has_text="HighErrorRate")
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
    await page.click("tr[data-alert] a:text-is('HighErrorRate')")
    await page.wait_for_url(f"{base}/console/alerts/*")
    assert "service" in await page.inner_text("main")
    await context.close()


async def _logged_in(browser: Any, base: str, path: str, **options: Any) -> Any:
    """A page on ``path`` of the console, after logging in as the responder."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    page = await context.new_page()
    await page.goto(f"{base}{path}")
    await page.fill("input[name=token]", RESPONDER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{path}")
    return page


async def test_an_operator_ticks_a_group_and_one_more_alert_and_acknowledges_them_at_once(
    start: Start, browser: Any, screenshots: Path
) -> None:
    client = await start()
    ids = await storm(client)
    base = str(client.make_url("")).rstrip("/")
    page = await _logged_in(browser, base, "/?sort=severity")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    counter = page.locator("[data-selected]")

    disk = page.locator(
        "tbody[data-group]", has=page.locator("tr.group-head strong", has_text="DiskFilling")
    )
    group_box = disk.locator("input[data-select-group]")
    await group_box.check()
    assert [await box.is_checked() for box in await disk.locator("input[data-select]").all()] == [
        True,
        True,
        True,
    ]
    assert await counter.inner_text() == "3 selected:"
    await disk.get_by_label(f"select DiskFilling #{ids['DiskFilling/db-2']}").uncheck()
    assert not await group_box.is_checked()
    assert await group_box.evaluate("box => box.indeterminate")
    assert await counter.inner_text() == "2 selected:"
    await disk.get_by_label(f"select DiskFilling #{ids['DiskFilling/db-2']}").check()
    assert await group_box.is_checked() and not await group_box.evaluate("b => b.indeterminate")
    await page.get_by_label(f"select HighErrorRate #{ids['HighErrorRate/web-2']}").check()
    assert await counter.inner_text() == "4 selected:"
    await page.screenshot(path=screenshots / "triage.png", full_page=True)

    await page.get_by_role("button", name="Acknowledge selected").click()
    await page.wait_for_url(f"{base}/console/alerts/bulk")
    assert await page.inner_text("p.result") == "3 acknowledged, 1 already acknowledged."
    await page.screenshot(path=screenshots / "triage-result.png", full_page=True)
    await page.get_by_role("link", name="Back to the alerts").click()
    await page.wait_for_url(f"{base}/?sort=severity")
    for name in ("DiskFilling/db-1", "DiskFilling/db-2", "DiskFilling/db-3", "HighErrorRate/web-2"):
        resp = await client.get(f"/api/v1/alerts/{ids[name]}", headers=auth(ADMIN_TOKEN))
        assert (await resp.json())["acknowledged_by"] == "bob", name
        row = page.locator(f"tr[data-alert='{ids[name]}']")
        assert "acknowledged" in await row.inner_text()
    resp = await client.get("/api/v1/audit?action=acknowledge", headers=auth(ADMIN_TOKEN))
    rows = [e for e in (await resp.json())["entries"] if e["interface"] == "console"]
    assert sorted(int(e["target"]) for e in rows) == sorted(
        ids[name]
        for name in (
            "DiskFilling/db-1",
            "DiskFilling/db-2",
            "DiskFilling/db-3",
            "HighErrorRate/web-2",
        )
    )
    assert errors == []
    await page.context.close()


async def test_an_operator_sorts_narrows_by_a_count_and_flattens_the_groups(
    start: Start, browser: Any
) -> None:
    client = await start()
    await storm(client)
    base = str(client.make_url("")).rstrip("/")
    page = await _logged_in(browser, base, "/")
    names = page.locator("tr[data-alert] td:nth-child(3) a")
    heads = page.locator("tr.group-head strong")
    assert await heads.all_inner_texts() == [
        "LatencyHigh, Mystery",
        "DiskFilling",
        "HighErrorRate",
    ]  # newest

    await page.select_option("select[name=sort]", "severity")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/?*sort=severity*")
    assert await heads.all_inner_texts() == [
        "HighErrorRate",
        "DiskFilling",
        "LatencyHigh, Mystery",
    ]
    assert await names.all_inner_texts() == [
        "HighErrorRate",
        "HighErrorRate",
        "DiskFilling",
        "DiskFilling",
        "DiskFilling",
        "LatencyHigh",
        "Mystery",
    ]

    await page.locator("p.counts a.count", has_text="warning").click()
    await page.wait_for_url("**/?*match*")
    assert await names.all_inner_texts() == ["DiskFilling"] * 3
    assert await page.input_value("input[name='match[]']") == '{severity="warning"}'
    assert await page.input_value("select[name=sort]") == "severity"

    await page.get_by_role("link", name="show a flat list").click()
    await page.wait_for_url("**/?*view=flat*")
    assert await heads.count() == 0
    labels = await page.locator("tr[data-alert] td.labels").all_inner_texts()
    assert all('alertname="DiskFilling"' in text for text in labels) and len(labels) == 3

    await page.get_by_role("link", name="Age", exact=True).click()
    await page.wait_for_url("**/?*sort=newest*")
    assert "view=flat" in page.url and "severity" in page.url  # the filter and view are kept
    await page.context.close()


async def test_a_group_is_acknowledged_with_javascript_off(start: Start, browser: Any) -> None:
    client = await start()
    ids = await storm(client)
    base = str(client.make_url("")).rstrip("/")
    page = await _logged_in(browser, base, "/", java_script_enabled=False)
    disk = page.locator(
        "tbody[data-group]", has=page.locator("tr.group-head strong", has_text="DiskFilling")
    )
    await disk.locator("input[data-select-group]").check()
    # Nothing ticks the rows without a script; the group's box stands for them all.
    assert not await disk.locator("input[data-select]").first.is_checked()
    await page.get_by_role("button", name="Acknowledge selected").click()
    await page.wait_for_url(f"{base}/console/alerts/bulk")
    assert await page.inner_text("p.result") == "2 acknowledged, 1 already acknowledged."
    for n in (1, 2, 3):
        resp = await client.get(
            f"/api/v1/alerts/{ids[f'DiskFilling/db-{n}']}", headers=auth(VIEWER_TOKEN)
        )
        assert (await resp.json())["acknowledged_by"] == "bob"
    await page.context.close()


async def test_ticked_alerts_hold_the_live_listing_still(start: Start, browser: Any) -> None:
    client = await start()
    ids = await storm(client)
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    await page.clock.install()  # the page's timers run when the test says
    await page.goto(f"{base}/")
    await page.fill("input[name=token]", RESPONDER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if r.resource_type == "fetch" else None)

    await post(client, alert("Newcomer", starts_at=ago(1)), group="Newcomer")
    await page.clock.run_for(3_100)
    await page.wait_for_selector("tr[data-alert] >> text=Newcomer")  # nothing ticked: it follows

    box = page.get_by_label(f"select LatencyHigh #{ids['LatencyHigh']}")
    await box.check()
    await page.locator("h1").click()  # away from the box: only the tick holds the page
    seen = len(fetched)
    await post(client, alert("Latecomer", starts_at=ago(1)), group="Latecomer")
    await page.clock.run_for(10_000)
    await page.evaluate("1")
    assert len(fetched) == seen and await box.is_checked()
    assert await page.locator("tr[data-alert]", has_text="Latecomer").count() == 0

    await box.uncheck()
    await page.locator("h1").click()
    await page.clock.run_for(3_100)
    await page.wait_for_selector("tr[data-alert] >> text=Latecomer")
    await context.close()


async def test_an_operator_snoozes_a_group_and_resolves_it_with_one_more(
    start: Start, browser: Any
) -> None:
    client = await start()
    ids = await storm(client)
    disk = [ids[f"DiskFilling/db-{n}"] for n in (1, 2, 3)]
    base = str(client.make_url("")).rstrip("/")
    page = await _logged_in(browser, base, "/")
    group = page.locator(
        "tbody[data-group]", has=page.locator("tr.group-head strong", has_text="DiskFilling")
    )
    await group.locator("input[data-select-group]").check()
    await page.select_option("select[name=for]", "4h")
    await page.get_by_role("button", name="Snooze selected").click()
    await page.wait_for_url(f"{base}/console/alerts/bulk")
    assert await page.inner_text("p.result") == "3 snoozed."
    for alert_id in disk:
        resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
        assert (await resp.json())["snoozed_until"] is not None

    await page.get_by_role("link", name="Back to the alerts").click()
    await page.wait_for_url(f"{base}/")
    await group.locator("input[data-select-group]").check()
    await page.get_by_label(f"select LatencyHigh #{ids['LatencyHigh']}").check()
    await page.get_by_role("button", name="Resolve selected").click()
    await page.wait_for_url(f"{base}/console/alerts/bulk")
    assert await page.inner_text("p.result") == "4 resolved."
    resp = await client.get("/api/v1/audit?action=resolve", headers=auth(ADMIN_TOKEN))
    rows = [e for e in (await resp.json())["entries"] if e["interface"] == "console"]
    assert sorted(int(e["target"]) for e in rows) == sorted([*disk, ids["LatencyHigh"]])
    for alert_id in [*disk, ids["LatencyHigh"]]:
        resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
        assert (await resp.json())["resolved_by"] == "bob"
    await page.context.close()
