"""Triage on the alerts page over HTTP: counts by severity and state that narrow the filter,
alerts grouped by their Alertmanager group, sorting kept in the address, and acting on several
alerts at once — one post, each alert through the same actions and audited on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event
from yarl import URL

from receiver.obs import request_id_var
from receiver.typedefs import STORE
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import Start, login, press
from tests.console.pages import Element, parse_page
from tests.console.storm import ago, post, storm
from tests.payloads import alert

Client = TestClient[Any, Any]
BULK = "/console/alerts/bulk"


async def _alert(client: Client, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    return await resp.json()  # type: ignore[no-any-return]


async def _audit(client: Client, action: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/audit?action={action}&limit=1000", headers=auth(ADMIN_TOKEN))
    return list((await resp.json())["entries"])


async def _page(client: Client, path: str = "/", status: int = 200) -> Element:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text
    return parse_page(text)


def _rows(page: Element) -> list[int]:
    """The ids of the alert rows, top to bottom."""
    return [int(e.attrs["data-alert"]) for e in page.elements() if "data-alert" in e.attrs]


def _counts(page: Element) -> dict[str, tuple[int, str | None]]:
    """Each figure of the counts: its number, and where its link leads (None: no link)."""
    found = {}
    for figure in page.find("p", cls="counts").find_all(cls="count"):
        name, number = figure.text.rsplit(" ", 1)
        found[name] = (int(number), figure.attrs.get("href"))
    return found


async def _act(client: Client, csrf: str | None, *ids: str, **fields: str) -> Any:
    """The bulk form posted as the browser does: one ``ids`` field per box ticked."""
    data: list[tuple[str, str]] = [("ids", one) for one in ids]
    data += list(fields.items())
    if csrf is not None:
        data.append(("csrf_token", csrf))
    return await client.post(BULK, data=data, allow_redirects=False)


# --- counts ----------------------------------------------------------------------------------


async def test_counts_by_severity_and_state_each_narrow_the_filter_to_what_they_count(
    start: Start,
) -> None:
    client = await start()
    await storm(client)
    await login(client, VIEWER_TOKEN)
    page = await _page(client)
    counts = _counts(page)
    assert {name: number for name, (number, _) in counts.items()} == {
        "critical": 2,
        "warning": 3,
        "info": 1,
        "page-me": 1,
        "firing": 6,
        "unacknowledged": 5,
        "acknowledged": 1,
        "snoozed": 1,
        "resolved": 1,
    }
    assert "7 alerts" in page.find("p", cls="counts").text
    # Every figure leads to the page showing exactly the alerts it counted, counted again.
    for name, (number, href) in counts.items():
        assert href is not None, name
        narrowed = await _page(client, href + "&view=flat")
        assert len(_rows(narrowed)) == number, (name, href)
        assert _counts(narrowed)[name][0] == number, (name, href)
        assert f"{number} alert" in narrowed.find("p", cls="counts").text


async def test_counts_are_over_the_current_filter_and_keep_it(start: Start) -> None:
    client = await start()
    await storm(client)
    await login(client, VIEWER_TOKEN)
    page = await _page(client, '/?match[]={service="postgres"}&sort=severity')
    counts = _counts(page)
    assert counts["warning"][0] == 3 and "critical" not in counts
    assert counts["resolved"] == (0, None)  # nothing to narrow to: shown, not a link
    assert (counts["acknowledged"][0], counts["snoozed"][0]) == (1, 1)
    href = counts["acknowledged"][1]
    assert href is not None
    query = URL(href).query
    assert query["sort"] == "severity" and query["match[]"] == '{service="postgres"}'
    assert (query["status"], query["acknowledged"]) == ("firing", "true")
    severity = URL(counts["warning"][1] or "").query
    assert severity.getall("match[]") == ['{service="postgres", severity="warning"}']


# --- groups ----------------------------------------------------------------------------------


async def test_alerts_are_grouped_by_alertmanager_group_with_shared_labels_shown_once(
    start: Start,
) -> None:
    client = await start()
    ids = await storm(client)
    await login(client, VIEWER_TOKEN)
    page = await _page(client, "/?sort=oldest")
    groups = page.find_all("tbody", cls="group")
    heads = [group.find("tr", cls="group-head") for group in groups]
    assert [head.find("strong").text for head in heads] == [
        "Mystery, LatencyHigh",
        "HighErrorRate",
        "DiskFilling",
    ]
    disk = groups[2]
    assert disk.find("span", cls="common").text == (
        'alertname="DiskFilling" service="postgres" severity="warning"'
    )
    assert "3 alerts" in heads[2].text
    for n in (3, 2, 1):  # oldest first within the group too
        row = disk.find("tr", data_alert=str(ids[f"DiskFilling/db-{n}"]))
        assert row.find("td", cls="labels").text == f'instance="db-{n}"'
    assert _rows(disk) == [
        ids["DiskFilling/db-3"],
        ids["DiskFilling/db-2"],
        ids["DiskFilling/db-1"],
    ]
    assert groups[1].find("span", cls="common").text == (
        'alertname="HighErrorRate" service="checkout" severity="critical"'
    )
    # Different alert names in one group: they share nothing, so each row shows all.
    assert groups[0].find("span", cls="common").text == ""
    mystery = groups[0].find("tr", data_alert=str(ids["Mystery"]))
    assert 'alertname="Mystery"' in mystery.find("td", cls="labels").text

    flat = await _page(client, "/?sort=oldest&view=flat")
    assert flat.find_all("tr", cls="group-head") == []
    row = flat.find("tr", data_alert=str(ids["DiskFilling/db-1"]))
    assert row.find("td", cls="labels").text == (
        'alertname="DiskFilling" instance="db-1" service="postgres" severity="warning"'
    )
    toggle = flat.find("a", cls="view")
    assert URL(toggle.attrs["href"]).query["view"] == "grouped"


async def test_group_heads_and_counts_escape_what_alertmanager_sent(start: Start) -> None:
    client = await start()
    hostile = '"><script>alert(1)</script>'
    severity = "crit\"ical'><img src=x onerror=alert(1)>&x=1"
    wide = {f"label_{n:03}": "v" * 100 for n in range(150)}  # 150 labels of 100 characters
    await post(
        client,
        alert("X", labels={"team": hostile, "instance": "a", "severity": severity, **wide}),
        alert("X", labels={"team": hostile, "instance": "b", "severity": severity, **wide}),
        group=hostile.replace('"', "'"),
    )
    await login(client, RESPONDER_TOKEN)
    resp = await client.get("/")
    assert resp.status == 200
    text = await resp.text()
    assert "<script>alert(1)" not in text and "<img" not in text
    page = parse_page(text)
    head = page.find("tr", cls="group-head")
    common = head.find("span", cls="common").text
    assert f'team="{hostile}"' in common and 'label_149="' in common
    assert [
        row.find("td", cls="labels").text for row in page.find_all("tr", cls="status-firing")
    ] == [
        'instance="b"',
        'instance="a"',
    ]
    # The severity's count leads to the two alerts: a value, quoted in a matcher, never markup.
    number, href = _counts(page)[severity]
    assert number == 2 and href is not None
    assert len(_rows(await _page(client, href))) == 2


# --- sorting ---------------------------------------------------------------------------------


async def test_sorting_by_severity_and_age_is_a_parameter_the_page_keeps(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    await login(client, RESPONDER_TOKEN)
    newest = [
        "LatencyHigh",
        "DiskFilling/db-1",
        "DiskFilling/db-2",
        "HighErrorRate",
        "DiskFilling/db-3",
        "HighErrorRate/web-2",
        "Mystery",
    ]
    expected = {
        "": newest,
        "sort=newest": newest,
        "sort=oldest": newest[::-1],
        "sort=severity": [
            "HighErrorRate",
            "HighErrorRate/web-2",
            "DiskFilling/db-1",
            "DiskFilling/db-2",
            "DiskFilling/db-3",
            "LatencyHigh",
            "Mystery",
        ],
    }
    for query, names in expected.items():
        page = await _page(client, f"/?view=flat&{query}")
        assert _rows(page) == [ids[name] for name in names], query

    page = await _page(client, "/?sort=severity&status=firing")
    kept = [
        page.find("form", id="bulk").find("input", name="back").attrs["value"],
        *(f.find("input", name="back").attrs["value"] for f in page.find_all("form", cls="inline")),
        *(a.attrs["href"] for a in page.find("p", cls="counts").find_all("a")),
    ]
    assert len(kept) > 10
    for address in kept:
        assert URL(address).query.get("sort") == "severity", address
    chosen = page.find("select", name="sort").find("option", selected="")
    assert chosen.attrs["value"] == "severity"
    age = next(th for th in page.find_all("th") if th.text == "Age")
    assert URL(age.find("a").attrs["href"]).query["sort"] == "newest"


async def test_pages_of_a_sorted_listing_follow_on_in_order(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    await login(client, VIEWER_TOKEN)
    seen: list[int] = []
    path: str | None = "/?sort=severity&limit=2&view=flat"
    while path is not None:
        page = await _page(client, path)
        seen += _rows(page)
        more = [a for a in page.find_all("a") if a.text == "More alerts"]
        path = more[0].attrs["href"] if more else None
        if path is not None:
            assert URL(path).query["sort"] == "severity"
    everything = await _page(client, "/?sort=severity&view=flat")
    assert seen == _rows(everything) and len(seen) == len(ids)


async def test_a_parameter_that_does_not_parse_is_named(start: Start) -> None:
    client = await start()
    await login(client, VIEWER_TOKEN)
    for query, named in (
        ("sort=worst", "sort"),
        ("view=tree", "view"),
        ("snoozed=maybe", "snoozed"),
        ("cursor=12", "cursor"),
        ("cursor=0.1.1%3Cscript%3E", "cursor"),
        ("limit=0", "limit"),
    ):
        page = await _page(client, f"/?{query}", status=400)
        assert page.find("p", cls="problem").text.startswith(f"{named}:"), query
    # The filter form sends every field, empty ones meaning "any".
    page = await _page(client, "/?match[]=&status=&acknowledged=&snoozed=&sort=&view=")
    assert page.find_all("p", cls="problem") == []


# --- acting on several alerts ----------------------------------------------------------------


async def test_acknowledging_several_alerts_is_one_post_audited_per_alert(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    csrf = await login(client, RESPONDER_TOKEN)
    page = await _page(client)
    bulk = page.find("form", id="bulk")
    assert bulk.attrs["action"] == BULK and bulk.attrs["method"] == "post"
    boxes = page.find_all("input", name="ids", form="bulk")
    assert len([b for b in boxes if "data-select" in b.attrs]) == 7
    chosen = [
        ids["HighErrorRate"],
        ids["DiskFilling/db-1"],
        ids["DiskFilling/db-3"],
        ids["Mystery"],
    ]

    resp = await _act(client, csrf, *map(str, chosen), action="acknowledge", back="/?sort=oldest")
    assert resp.status == 200
    result = parse_page(await resp.text())
    assert result.find("p", cls="result").text == (
        "2 acknowledged, 1 already acknowledged, 1 already resolved."
    )
    outcomes = {
        int(r.attrs["data-alert"]): r.find("td", cls="outcome").text
        for r in result.find_all("tr")
        if "data-alert" in r.attrs
    }
    assert outcomes == {
        ids["HighErrorRate"]: "acknowledged",
        ids["DiskFilling/db-1"]: "already acknowledged",
        ids["DiskFilling/db-3"]: "acknowledged",
        ids["Mystery"]: "already resolved",
    }
    back = next(a for a in result.find_all("a") if a.text == "Back to the alerts")
    assert back.attrs["href"] == "/?sort=oldest"

    for name in ("HighErrorRate", "DiskFilling/db-3"):
        found = await _alert(client, ids[name])
        assert found["acknowledged_by"] == "bob", name
        (acked,) = [e for e in found["events"] if e["kind"] == "acknowledged"]
        assert acked["actor"] == "console:bob"
    assert (await _alert(client, ids["HighErrorRate/web-2"]))["acknowledged_at"] is None

    rows = [r for r in await _audit(client, "acknowledge") if r["interface"] == "console"]
    assert sorted((int(r["target"]), r["outcome"], r["status"]) for r in rows) == sorted(
        [
            (ids["HighErrorRate"], "ok", 200),
            (ids["DiskFilling/db-1"], "ok", 200),
            (ids["DiskFilling/db-3"], "ok", 200),
            (ids["Mystery"], "rejected", 409),
        ]
    )
    assert {(r["actor"], r["detail"]["bulk"]) for r in rows} == {("bob", True)}
    assert len({r["request_id"] for r in rows}) == 1
    assert await _audit(client, "bulk") == []  # the request is its alerts' rows, no more


async def test_snoozing_and_resolving_several_alerts(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    csrf = await login(client, RESPONDER_TOKEN)
    disk = [str(ids[f"DiskFilling/db-{n}"]) for n in (1, 2, 3)]
    before = datetime.now(UTC)
    resp = await _act(client, csrf, " ".join(disk), action="snooze", **{"for": "4h"})
    assert resp.status == 200
    assert parse_page(await resp.text()).find("p", cls="result").text == "3 snoozed."
    for alert_id in disk:
        until = datetime.fromisoformat((await _alert(client, int(alert_id)))["snoozed_until"])
        assert before + timedelta(hours=4) <= until <= datetime.now(UTC) + timedelta(hours=4)
    rows = await _audit(client, "snooze")
    assert sorted(r["target"] for r in rows if r["interface"] == "console") == sorted(disk)
    assert {r["detail"]["for"] for r in rows if r["interface"] == "console"} == {"4h"}

    resp = await _act(client, csrf, *disk, str(ids["Mystery"]), action="resolve")
    assert parse_page(await resp.text()).find("p", cls="result").text == (
        "3 resolved, 1 already resolved."
    )
    for alert_id in disk:
        assert (await _alert(client, int(alert_id)))["resolved_by"] == "bob"
    again = await _act(client, csrf, *disk, action="snooze", **{"for": "15m"})
    assert parse_page(await again.text()).find("p", cls="result").text == "3 already resolved."
    rows = [r for r in await _audit(client, "snooze") if r["status"] == 409]
    assert len(rows) == 3 and {r["outcome"] for r in rows} == {"rejected"}


async def test_a_selection_is_each_alert_once_and_names_those_that_do_not_exist(
    start: Start,
) -> None:
    client = await start()
    ids = await storm(client)
    csrf = await login(client, RESPONDER_TOKEN)
    one, two = str(ids["HighErrorRate"]), str(ids["LatencyHigh"])
    # Its row, its group's box and the page's box: the same alert three times.
    resp = await _act(
        client, csrf, one, f"{one} {two}", f"{two},{one}", "999999", "0", action="acknowledge"
    )
    assert resp.status == 200
    result = parse_page(await resp.text())
    assert result.find("p", cls="result").text == "2 acknowledged, 2 not found."
    rows = await _audit(client, "acknowledge")
    assert [r["target"] for r in rows if r["interface"] == "console"] == [
        "0",
        "999999",
        two,
        one,
    ]
    missing = result.find("tr", data_alert="999999")
    assert "alert 999999 does not exist" in missing.text


async def test_a_selection_that_does_not_parse_changes_nothing(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    csrf = await login(client, RESPONDER_TOKEN)
    valid = str(ids["HighErrorRate"])
    for bad in ("abc", "-1", "1.5", "1e3", "0x10", "١٢", "99999999999999999999", "<script>"):
        resp = await _act(client, csrf, valid, bad, action="acknowledge")
        assert resp.status == 400, bad
        problem = parse_page(await resp.text()).find("p", cls="problem").text
        assert problem.startswith("ids: expected alert ids (whole numbers)"), (bad, problem)
    for fields, named in (
        ({"action": "acknowledge"}, "ids: select at least one alert"),
        ({"action": "delete", "ids": valid}, "action: expected one of"),
        ({"action": "snooze", "ids": valid, "for": "30d"}, "for: expected a duration"),
        ({"action": "snooze", "ids": valid}, "for: expected a duration"),
    ):
        resp = await press(client, BULK, csrf, **fields)
        assert resp.status == 400, fields
        assert named in await resp.text(), fields
    found = await _alert(client, int(valid))
    assert found["acknowledged_at"] is None and found["snoozed_until"] is None
    assert [r for r in await _audit(client, "acknowledge") if r["interface"] == "console"] == []
    rows = await _audit(client, "bulk")
    assert len(rows) == 12 and {(r["outcome"], r["status"]) for r in rows} == {("rejected", 400)}


async def test_a_selection_is_capped(start: Start) -> None:
    client = await start()
    ids = await storm(client)
    csrf = await login(client, RESPONDER_TOKEN)
    # 100,000 ids: refused before it is read.
    huge = ",".join(str(n) for n in range(1, 100_001))
    resp = await _act(client, csrf, huge, action="acknowledge")
    assert resp.status == 413
    assert "the limit is 65536" in await resp.text()
    # 501 distinct alerts, small enough a body: refused by name.
    resp = await _act(client, csrf, " ".join(str(n) for n in range(1, 502)), action="resolve")
    assert resp.status == 400
    assert "ids: expected at most 500 alerts at once" in await resp.text()
    # As many fields as a form may carry, and one more.
    resp = await _act(client, csrf, *(["1"] * 1015), action="acknowledge")
    assert resp.status == 400
    assert "form: expected at most 1016 fields" in await resp.text()
    # 500 is allowed (every one but the storm's seven does not exist).
    resp = await _act(client, csrf, *map(str, range(1, 501)), action="acknowledge")
    assert resp.status == 200
    assert "5 acknowledged, 1 already acknowledged, 1 already resolved, 493 not found" in (
        await resp.text()
    )
    for name in ("DiskFilling/db-2", "DiskFilling/db-3", "HighErrorRate", "LatencyHigh"):
        assert (await _alert(client, ids[name]))["acknowledged_by"] == "bob"
    rows = await _audit(client, "acknowledge")
    assert len([r for r in rows if r["interface"] == "console"]) == 500


async def test_acting_on_several_alerts_takes_the_csrf_token_and_the_responder_role(
    start: Start,
) -> None:
    client = await start()
    ids = await storm(client)
    valid = str(ids["HighErrorRate"])
    anonymous = await _act(client, None, valid, action="acknowledge")
    assert anonymous.status == 401
    csrf = await login(client, RESPONDER_TOKEN)
    for presented in (None, "0" * 64):
        resp = await _act(client, presented, valid, action="acknowledge")
        assert resp.status == 403 and "CSRF token" in await resp.text()
    elsewhere = await client.post(
        BULK,
        data={"csrf_token": csrf, "ids": valid, "action": "acknowledge"},
        headers={"Origin": "http://evil.example"},
    )
    assert elsewhere.status == 403

    csrf = await login(client, VIEWER_TOKEN)
    page = await _page(client)
    assert page.find_all("form", id="bulk") == [] and page.find_all("input", name="ids") == []
    assert _counts(page)["firing"][0] == 6 and len(page.find_all("tbody", cls="group")) == 3
    resp = await _act(client, csrf, valid, action="acknowledge")
    assert resp.status == 403 and "needs the responder role" in await resp.text()

    assert (await _alert(client, int(valid)))["acknowledged_at"] is None
    rows = await _audit(client, "bulk")
    assert [(r["actor"], r["outcome"], r["status"]) for r in rows] == [
        ("carol", "refused", 403),
        ("bob", "refused", 403),
        ("bob", "refused", 403),
        ("bob", "refused", 403),
        ("unauthenticated@127.0.0.1", "refused", 401),
    ]


# --- set-based -------------------------------------------------------------------------------


@contextmanager
def _statements(client: Client, request_id: str) -> Iterator[list[str]]:
    """The SQL statements run for the request with ``request_id`` (not the job runner's)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        if request_id_var.get() == request_id:
            seen.append(args[2])

    engine = client.app[STORE].engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_the_page_reads_the_same_statements_for_three_alerts_as_for_sixty(
    start: Start,
) -> None:
    client = await start()
    await login(client, VIEWER_TOKEN)
    statements = []
    for first, last in ((0, 1), (1, 20)):  # one group of three, then twenty groups in all
        for group in range(first, last):
            await post(
                client,
                *(
                    alert(f"Load{group}", labels={"instance": f"i-{n}"}, starts_at=ago(n))
                    for n in range(3)
                ),
                group=f"Load{group}",
            )
        request_id = f"triage-statements-{last}"
        with _statements(client, request_id) as seen:
            resp = await client.get("/?sort=severity", headers={"X-Request-ID": request_id})
            page = parse_page(await resp.text())
        # The open maintenance windows (which say which alerts are held) are kept in memory
        # and read again at most once a second: on a slow machine that read may fall in the
        # page's request. It is one statement whatever the number of alerts.
        rereads = [s for s in seen if "FROM maintenance_windows" in s]
        assert len(rereads) <= 1, rereads
        statements.append(len(seen) - len(rereads))
        assert len(page.find_all("tbody", cls="group")) == last
        assert len(_rows(page)) == 3 * last
    # The page of alerts, their counts, the tiers and silences beside them.
    assert statements == [4, 4], statements
