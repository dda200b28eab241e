"""The console's ``/console/page``: a responder pages a schedule's on-call from a form with its
CSRF token; the alert's page says who raised it and whom it paged, and it is resolved from
there; the same form sent twice raises one page; a forged token, a viewer, an unknown or
hostile target change nothing; every attempt is audited as from the console."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import alerts, manual_pages
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import login, press
from tests.console.pages import parse_page as parse
from tests.oncall.paging_setup import ALICE, Outside, detail
from tests.oncall.test_manual_page_targets import ONCALL, TIERS

KEY = re.compile(r'name="key" value="([0-9a-z-]+)"')


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def form_key(client: Any) -> str:
    resp = await client.get("/console/page")
    assert resp.status == 200
    found = KEY.search(await resp.text())
    assert found is not None
    return found.group(1)


async def test_a_responder_pages_a_schedule_from_the_console_and_resolves_it(
    outside: Outside, manual_clock: ManualClock
) -> None:
    client = await outside.run(TIERS, ONCALL)
    csrf = await login(client, RESPONDER_TOKEN)
    shown = parse(await (await client.get("/console/page")).text())
    options = [o.attrs["value"] for o in shown.find_all("option") if "value" in o.attrs]
    assert "schedule:primary" in options and "person:alice" in options and "team:dba" in options
    key = await form_key(client)
    fields = {"key": key, "target": "schedule:primary", "title": "Database down", "details": "eu-1"}
    made = await press(client, "/console/page", csrf, severity="warning", **fields)
    assert made.status == 303
    where = made.headers["Location"]
    again = await press(client, "/console/page", csrf, severity="warning", **fields)
    assert again.status == 303 and again.headers["Location"] == where
    await manual_clock.settle()
    assert len(outside.slack.direct_messages(ALICE)) == 1
    assert await count(client, alerts) == 1

    page = parse(await (await client.get(where)).text())
    facts = page.find("dl", cls="facts").text
    assert "Raised by hand by console:bob, paging schedule:primary first" in facts
    assert page.find("a", href="/console/schedules/primary").text == "schedule:primary"
    alert_id = int(where.rsplit("/", 1)[1])
    resolved = await press(client, f"/console/alerts/{alert_id}/resolve", csrf)
    assert resolved.status == 303
    assert (await detail(client, alert_id))["resolved_by"] == "bob"
    audit = await client.get("/api/v1/audit?limit=10", headers=auth(ADMIN_TOKEN))
    rows = [
        (e["action"], e["interface"], e["outcome"])
        for e in (await audit.json())["entries"]
        if e["action"] in ("raise_alert", "resolve")
    ]
    assert rows == [
        ("resolve", "console", "ok"),
        ("raise_alert", "console", "ok"),
        ("raise_alert", "console", "ok"),
    ]


async def test_forged_refused_and_hostile_pages_change_nothing(
    outside: Outside, manual_clock: ManualClock
) -> None:
    client = await outside.run(TIERS, ONCALL)
    csrf = await login(client, RESPONDER_TOKEN)
    fields = {"key": "console-1", "title": "Database down"}
    forged = await press(client, "/console/page", "0" * 32, target="schedule:primary", **fields)
    assert forged.status == 403
    for target, says in [
        ("schedule:nope", "target: no schedule of that id is configured"),
        ("<script>alert(1)</script>", "target: no schedule, person or team of that id"),
        ("pager:duty", "target: expected schedule:ID, person:ID or team:ID"),
    ]:
        bad = await press(client, "/console/page", csrf, target=target, **fields)
        text = await bad.text()
        assert bad.status == 400 and says in text and "<script>alert(1)" not in text
    huge = await press(
        client, "/console/page", csrf, target="primary", **{**fields, "title": "t" * 201}
    )
    assert huge.status == 400 and "title: expected at most 200 characters" in await huge.text()
    viewer = await client.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert viewer.status in (302, 303)
    csrf = await login(client, VIEWER_TOKEN)
    assert (await client.get("/console/page")).status == 403
    refused = await press(client, "/console/page", csrf, target="schedule:primary", **fields)
    assert refused.status == 403
    assert await count(client, alerts) == 0 and await count(client, manual_pages) == 0
    hostile = "<img src=x onerror=alert(1)>"
    csrf = await login(client, RESPONDER_TOKEN)
    made = await press(
        client, "/console/page", csrf, target="person:alice", key="console-2", title=hostile
    )
    assert made.status == 303
    html = await (await client.get(made.headers["Location"])).text()
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
