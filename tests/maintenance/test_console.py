"""The console's maintenance page: windows listed, made and ended from the page (responders
only, audited as from the console), and "held by" on the alerts a window holds, escaped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.config import parse_config
from tests.clock import ManualClock
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    config_text,
)
from tests.console.conftest import login, press
from tests.payloads import alert, webhook


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def client(
    on_clock: Callable[..., Awaitable[TestClient[Any, Any]]], db_url: str
) -> TestClient[Any, Any]:
    return await on_clock(parse_config(config_text(db_url), env={}))


async def test_a_responder_starts_and_ends_a_window_from_the_page_and_alerts_show_it(
    client: TestClient[Any, Any], manual_clock: ManualClock
) -> None:
    csrf = await login(client, RESPONDER_TOKEN)
    empty = await (await client.get("/console/maintenance")).text()
    assert "No maintenance windows are open or planned." in empty
    assert "Start window</button>" in empty
    made = await press(
        client,
        "/console/maintenance",
        csrf,
        name="db-upgrade",
        matchers='service="checkout"\n\nseverity="critical"',
        reason="<script>alert(1)</script> upgrade",
        duration="2h",
        start="",
    )
    assert made.status == 303 and made.headers["Location"] == "/console/maintenance"
    page = await (await client.get("/console/maintenance")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; upgrade" in page and "<script>alert" not in page
    assert "<strong>open</strong> until" in page and "End now</button>" in page

    await client.post("/webhook", json=webhook(alert("Held")), headers=auth(WEBHOOK_TOKEN))
    await manual_clock.settle()
    listing = await (await client.get("/")).text()
    assert 'held by maintenance window <a href="/console/maintenance">db-upgrade</a>' in listing
    alert_id = (await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json())[
        "alerts"
    ][0]["id"]
    detail = await (await client.get(f"/console/alerts/{alert_id}")).text()
    assert 'held by maintenance window <a href="/console/maintenance">db-upgrade</a>' in detail

    bad = await press(client, "/console/maintenance", csrf, name="x y", matchers="a=b", reason="r")
    assert bad.status == 400 and "name: expected 1 to 64 letters" in await bad.text()
    forged = await press(client, "/console/maintenance/end", "0" * 32, name="db-upgrade")
    assert forged.status == 403
    ended = await press(client, "/console/maintenance/end", csrf, name="db-upgrade")
    assert ended.status == 303
    await manual_clock.settle()
    after = await (await client.get(f"/console/alerts/{alert_id}")).text()
    assert 'held by maintenance window <a href="/console/maintenance">' not in after
    assert "released: its maintenance window closed; escalating from now" in after
    audit = await client.get("/api/v1/audit?limit=10", headers=auth(ADMIN_TOKEN))
    rows = [
        (e["action"], e["interface"], e["outcome"])
        for e in (await audit.json())["entries"]
        if e["action"].startswith("maintenance")
    ]
    assert rows == [
        ("maintenance_end", "console", "ok"),
        ("maintenance_end", "console", "refused"),
        ("maintenance_create", "console", "rejected"),
        ("maintenance_create", "console", "ok"),
    ]


async def test_a_viewer_sees_windows_but_may_not_make_one(client: TestClient[Any, Any]) -> None:
    csrf = await login(client, VIEWER_TOKEN)
    page = await (await client.get("/console/maintenance")).text()
    assert "Start window</button>" not in page
    refused = await press(
        client, "/console/maintenance", csrf, name="w", matchers="a=b", reason="r", duration="1h"
    )
    assert refused.status == 403
    listed = await client.get("/api/v1/maintenance", headers=auth(VIEWER_TOKEN))
    assert (await listed.json())["windows"] == []


async def test_silence_without_an_alertmanager_section_is_refused_naming_the_field(
    client: TestClient[Any, Any],
) -> None:
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/console/maintenance")).text()
    assert "Start window</button>" in page and 'name="silence"' not in page
    refused = await press(
        client,
        "/console/maintenance",
        csrf,
        name="db-upgrade",
        matchers='service="db"',
        reason="upgrade",
        duration="1h",
        silence="on",
    )
    assert refused.status == 400
    assert "silence: needs the alertmanager section" in await refused.text()
    listed = await client.get("/api/v1/maintenance", headers=auth(VIEWER_TOKEN))
    assert (await listed.json())["windows"] == []
