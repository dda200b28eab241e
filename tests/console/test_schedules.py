"""The console's schedules: the list, one schedule drawn over two weeks (each layer, the
overrides, the final rota), overrides made and deleted from the page (responders only,
audited as from the console), and the same in headless Chromium with nothing refused by the
page's Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, config_text
from tests.console.conftest import BROWSERS_LOOP, login, needs_chromium, press
from tests.oncall.common import OFFICE, utc

ONCALL = (
    """
people:
  - {id: alice, name: Alice Archer}
  - {id: bob, name: Bob Baker}
  - {id: carol, name: "Carol <b>Chen</b>"}
oncall: {feed_secret: "feed-secret-0123456789abcdef"}
schedules:
  - id: payments
    name: Payments primary
    time_zone: Europe/London
    layers:
      - {name: weekly, members: [alice, bob], shift: weekly, start: "2026-01-05"}
      - name: office hours
        members: [carol]
        start: "2026-01-05"
        restrictions: [{days: weekdays, start: "09:00", end: "17:00"}]
"""
    + OFFICE
)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def _app(db_url: str) -> web.Application:
    clock = ManualClock(utc(2026, 1, 6, 10))  # a Tuesday, in Alice's week
    config = parse_config(config_text(db_url, ONCALL), env={})
    return create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], db_url: str) -> TestClient[Any, Any]:
    return await aiohttp_client(_app(db_url))  # type: ignore[no-any-return]


def _rows(html: str) -> dict[str, list[str]]:
    """Each drawn row's bars, by their tooltips."""
    found: dict[str, list[str]] = {}
    for name, body in re.findall(
        r'<g class="row[^"]*" data-row="([^"]+)">(.*?)</g>\s*</g>|'
        r'<g class="row[^"]*" data-row="([^"]+)">()\s*</g>',
        html,
        re.S,
    ):
        found[name] = re.findall(r"<title>([^<]*)</title>", body)
    return found


async def test_the_list_and_the_two_weeks_of_a_schedule(client: TestClient[Any, Any]) -> None:
    await login(client, VIEWER_TOKEN)
    listing = await (await client.get("/console/schedules")).text()
    assert re.search(
        r"Payments primary</a></td>\s*<td>Europe/London</td>\s*<td>2 layer\(s\)</td>\s*"
        r"<td>Carol &lt;b&gt;Chen&lt;/b&gt;</td>",
        listing,
    ), listing
    assert re.search(r"office</a>.*?<span class=\"problem\">nobody</span>", listing, re.S)
    page = await client.get("/console/schedules/payments")
    assert page.status == 200
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert " style=" not in html  # the drawing is SVG attributes and classes only
    assert "<b>Chen</b>" not in html and "Carol &lt;b&gt;Chen&lt;/b&gt;" in html
    titles = dict.fromkeys(re.findall(r'data-row="([^"]+)"', html))
    assert list(titles) == ["Layer 1: weekly", "Layer 2: office hours", "Overrides", "On call"]
    final = html.split('data-row="On call"')[1]
    assert "Alice Archer: Tue 2026-01-06 00:00 GMT → Tue 2026-01-06 09:00 GMT" in final
    assert (
        "Carol &lt;b&gt;Chen&lt;/b&gt;: Tue 2026-01-06 09:00 GMT → Tue 2026-01-06 17:00 GMT"
        in final
    )
    assert "Bob Baker: Mon 2026-01-12 09:00 GMT → Mon 2026-01-12 09:00 GMT" not in final
    assert len(re.findall(r'class="day( weekend)?"', html)) == 14
    assert "/oncall/feeds/schedule/payments/" in html and "Override</button>" not in html
    missing = await client.get("/console/schedules/nope")
    assert missing.status == 404 and "no schedule" in await missing.text()


async def test_a_responder_overrides_and_deletes_from_the_page_audited(
    client: TestClient[Any, Any],
) -> None:
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/console/schedules/payments")).text()
    assert "Override</button>" in page
    made = await press(
        client, "/console/schedules/payments/overrides", csrf, person="bob", duration="3h", start=""
    )
    assert made.status == 303 and made.headers["Location"] == "/console/schedules/payments"
    resp = await client.get("/api/v1/schedules/payments/oncall", headers=auth(VIEWER_TOKEN))
    now = await resp.json()
    assert now["on_call"] == [{"id": "bob", "name": "Bob Baker"}]
    override_id = now["shift"]["override"]
    html = await (await client.get("/console/schedules/payments")).text()
    overrides = html.split('data-row="Overrides"')[1].split("</g>\n  </g>")[0]
    assert "Bob Baker: Tue 2026-01-06 10:00 GMT → Tue 2026-01-06 13:00 GMT (by console:bob)" in (
        overrides
    )
    bad = await press(
        client, "/console/schedules/payments/overrides", csrf, person="mallory", duration="1h"
    )
    assert bad.status == 400 and "person: expected the id of a person" in await bad.text()
    forged = await press(
        client, "/console/schedules/payments/overrides", "0" * 32, person="bob", duration="1h"
    )
    assert forged.status == 403
    gone = await press(
        client, "/console/schedules/payments/overrides/delete", csrf, override=str(override_id)
    )
    assert gone.status == 303
    resp = await client.get("/api/v1/schedules/payments/oncall", headers=auth(VIEWER_TOKEN))
    assert [p["id"] for p in (await resp.json())["on_call"]] == ["carol"]
    audit = await client.get("/api/v1/audit?limit=10", headers=auth(ADMIN_TOKEN))
    rows = [
        (e["action"], e["interface"], e["target"], e["outcome"])
        for e in (await audit.json())["entries"]
        if e["action"].startswith("schedule")
    ]
    assert rows == [
        ("schedule_override_delete", "console", "payments", "ok"),
        ("schedule_override", "console", "payments", "refused"),
        ("schedule_override", "console", "payments", "rejected"),
        ("schedule_override", "console", "payments", "ok"),
    ]


async def test_a_viewer_may_not_override_from_the_console(client: TestClient[Any, Any]) -> None:
    csrf = await login(client, VIEWER_TOKEN)
    refused = await press(
        client, "/console/schedules/payments/overrides", csrf, person="bob", duration="1h"
    )
    assert refused.status == 403
    shifts = await client.get("/api/v1/schedules/payments/shifts", headers=auth(VIEWER_TOKEN))
    assert (await shifts.json())["overrides"] == []


@needs_chromium
@BROWSERS_LOOP
async def test_in_a_browser_the_rota_is_drawn_and_an_override_lands_in_it(
    browsers_aiohttp_client: Callable[..., Any], db_url: str, browser: Any, screenshots: Path
) -> None:
    client = await browsers_aiohttp_client(_app(db_url))
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{base}/console/login")
    await page.fill("input[name=token]", RESPONDER_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    await page.click("nav >> text=Schedules")
    await page.wait_for_url(f"{base}/console/schedules")
    await page.click("text=Payments primary")
    await page.wait_for_selector("svg.rota")
    final = page.locator("g.row.final g.bar")
    assert await final.count() >= 10  # two weeks of weekly turns cut by weekday office hours
    box = await page.locator("svg.rota").bounding_box()
    assert box is not None and box["width"] > 800  # drawn at the page's width
    # A bar is painted in its person's colour by the stylesheet (no inline style).
    fill = await final.first.locator("rect").evaluate("r => getComputedStyle(r).fill")
    assert fill.startswith("rgb(") and fill != "rgb(0, 0, 0)"
    await page.screenshot(path=screenshots / "schedule.png", full_page=True)

    await page.select_option("select[name=person]", "bob")
    await page.fill("input[name=duration]", "2h")
    await page.click("button:text-is('Override')")
    await page.wait_for_url(f"{base}/console/schedules/payments")
    overrides = page.locator('g.row[data-row="Overrides"] g.bar')
    assert await overrides.count() == 1
    assert "Bob Baker" in (await overrides.first.locator("title").text_content() or "")
    assert "Bob Baker" in await page.locator("table.overrides").inner_text()
    await page.screenshot(path=screenshots / "schedule-override.png", full_page=True)
    await page.click("table.overrides button:text-is('Delete')")
    await page.wait_for_url(f"{base}/console/schedules/payments")
    assert await page.locator('g.row[data-row="Overrides"] g.bar').count() == 0
    assert errors == []  # no script error, and nothing refused by the CSP
    await context.close()
