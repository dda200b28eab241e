"""/api/v1/alerts: filters, paging, detail with history, acknowledge and resolve by role."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from tests.cases import by_first, each_case
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

VIEW = auth(VIEWER_TOKEN)
RESPOND = auth(RESPONDER_TOKEN)


async def ingest(client: Any, *alerts: dict[str, Any]) -> None:
    resp = await client.post("/webhook", json=webhook(*alerts), headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200, await resp.text()


async def listing(client: Any, query: str = "", headers: dict[str, str] = VIEW) -> Any:
    resp = await client.get(f"/api/v1/alerts{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def seed(client: Any) -> None:
    await ingest(
        client,
        alert("DiskFull", labels={"severity": "warning", "team": "storage"}),
        alert("HighErrorRate", labels={"severity": "critical", "team": "web"}),
        alert("HighLatency", labels={"severity": "critical", "team": "web"}),
    )
    await ingest(
        client,
        alert("DiskFull", status="resolved", labels={"severity": "warning", "team": "storage"}),
    )


async def test_alert_fields(client: Any) -> None:
    await ingest(client, alert("A"))
    (item,) = (await listing(client))["alerts"]
    assert set(item) >= {
        "id",
        "fingerprint",
        "status",
        "labels",
        "annotations",
        "starts_at",
        "ends_at",
        "last_seen_at",
        "acknowledged_at",
        "acknowledged_by",
        "generator_url",
    }
    assert item["status"] == "firing"
    assert item["starts_at"] == "2026-11-23T08:00:00.123456Z"
    assert item["ends_at"] is None
    assert item["generator_url"].startswith("http://prometheus")


FILTERS = [
    ("", ["HighLatency", "HighErrorRate", "DiskFull"]),
    ("?status=firing", ["HighLatency", "HighErrorRate"]),
    ("?status=resolved", ["DiskFull"]),
    ('?match[]=severity="critical"', ["HighLatency", "HighErrorRate"]),
    (
        '?match[]={alertname=~"High.*",team="web"}&status=firing',
        ["HighLatency", "HighErrorRate"],
    ),
    (
        '?match[]=alertname="DiskFull"&match[]=alertname="HighLatency"',
        ["HighLatency", "DiskFull"],
    ),
    ('?match[]=team!="web"', ["DiskFull"]),
    ("?since=2026-11-23T07:00:00Z", ["HighLatency", "HighErrorRate", "DiskFull"]),
    ("?since=2026-11-23T09:00:00Z", []),
]


async def test_filters(client: Any) -> None:
    await seed(client)

    async def check(case: tuple[str, list[str]]) -> None:
        query, names = case
        found = [a["labels"]["alertname"] for a in (await listing(client, query))["alerts"]]
        assert sorted(found) == sorted(names)

    await each_case(by_first(FILTERS), check)


async def test_acknowledged_filter(client: Any) -> None:
    await seed(client)
    first = (await listing(client, '?match[]=alertname="HighLatency"'))["alerts"][0]
    resp = await client.post(f"/api/v1/alerts/{first['id']}/acknowledge", headers=RESPOND)
    assert resp.status == 200
    acked = (await listing(client, "?acknowledged=true"))["alerts"]
    assert [a["id"] for a in acked] == [first["id"]]
    assert first["id"] not in [
        a["id"] for a in (await listing(client, "?acknowledged=false"))["alerts"]
    ]


async def test_cursor_pages_through_everything_once(client: Any) -> None:
    await ingest(client, *(alert(f"A{i:02}") for i in range(25)))
    seen: list[int] = []
    query = "?limit=10"
    while True:
        page = await listing(client, query)
        seen.extend(a["id"] for a in page["alerts"])
        if page["next_cursor"] is None:
            break
        query = f"?limit=10&cursor={page['next_cursor']}"
    assert len(seen) == 25
    assert seen == sorted(seen, reverse=True)


async def test_cursor_with_matchers(client: Any) -> None:
    await ingest(client, *(alert(f"A{i:02}", labels={"odd": str(i % 2)}) for i in range(30)))
    page = await listing(client, '?limit=5&match[]=odd="1"')
    second = await listing(client, f'?limit=5&match[]=odd="1"&cursor={page["next_cursor"]}')
    ids = [a["id"] for a in page["alerts"] + second["alerts"]]
    assert len(set(ids)) == 10
    assert all(a["labels"]["odd"] == "1" for a in page["alerts"] + second["alerts"])


BAD_FILTERS = [
    ("?status=open", "status"),
    ("?acknowledged=yes", "acknowledged"),
    ("?match[]=alertname", "match[]"),
    ('?match[]=a=~"("', "match[]"),
    ("?since=last-tuesday", "since"),
    ("?limit=0", "limit"),
    ("?limit=abc", "limit"),
    ("?cursor=xyz", "cursor"),
]


async def test_bad_filters_are_400_naming_the_parameter(client: Any) -> None:
    async def check(case: tuple[str, str]) -> None:
        query, field = case
        resp = await client.get(f"/api/v1/alerts{query}", headers=VIEW)
        assert resp.status == 400
        assert (await resp.json())["field"] == field

    await each_case(by_first(BAD_FILTERS), check)


async def test_detail_has_the_event_history(client: Any) -> None:
    await ingest(client, alert("A"))
    (item,) = (await listing(client))["alerts"]
    ack = await client.post(
        f"/api/v1/alerts/{item['id']}/acknowledge", json={"note": "looking"}, headers=RESPOND
    )
    assert ack.status == 200
    body = await ack.json()
    assert body["acknowledged_by"] == "bob"
    assert body["acknowledged_at"] is not None
    resolve = await client.post(
        f"/api/v1/alerts/{item['id']}/resolve", json={"note": "fixed"}, headers=RESPOND
    )
    assert resolve.status == 200
    assert (await resolve.json())["status"] == "resolved"
    detail = await (await client.get(f"/api/v1/alerts/{item['id']}", headers=VIEW)).json()
    events = [e for e in detail["events"] if e["actor"] != "firebreak"]  # escalation's own
    assert [(e["kind"], e["actor"], e["note"]) for e in events] == [
        ("fired", "alertmanager", None),
        ("acknowledged", "api:bob", "looking"),
        ("manually_resolved", "api:bob", "fixed"),
    ]
    assert events[1]["request_id"] == ack.headers["X-Request-ID"]


async def test_acknowledge_twice_changes_nothing_and_resolved_conflicts(client: Any) -> None:
    await ingest(client, alert("A"))
    (item,) = (await listing(client))["alerts"]
    url = f"/api/v1/alerts/{item['id']}"
    first = await (await client.post(f"{url}/acknowledge", headers=RESPOND)).json()
    again = await client.post(
        f"{url}/acknowledge", headers=auth(VIEWER_TOKEN.replace("viewer", "x"))
    )
    assert again.status == 401
    again = await client.post(f"{url}/acknowledge", headers=RESPOND)
    assert again.status == 200
    assert (await again.json())["acknowledged_at"] == first["acknowledged_at"]
    assert (await client.post(f"{url}/resolve", headers=RESPOND)).status == 200
    assert (await client.post(f"{url}/resolve", headers=RESPOND)).status == 200
    conflict = await client.post(f"{url}/acknowledge", headers=RESPOND)
    assert conflict.status == 409
    events = (await (await client.get(url, headers=VIEW)).json())["events"]
    kinds = [e["kind"] for e in events if e["actor"] != "firebreak"]
    assert kinds == ["fired", "acknowledged", "manually_resolved"]


async def test_acknowledge_racing_resolve_never_reopens(client: Any) -> None:
    await ingest(client, *(alert(f"A{i}") for i in range(10)))
    ids = [a["id"] for a in (await listing(client))["alerts"]]
    resolved = webhook(*(alert(f"A{i}", status="resolved") for i in range(10)))
    await asyncio.gather(
        client.post("/webhook", json=resolved, headers=auth(WEBHOOK_TOKEN)),
        *(client.post(f"/api/v1/alerts/{i}/acknowledge", headers=RESPOND) for i in ids),
    )
    after = (await listing(client))["alerts"]
    assert {a["status"] for a in after} == {"resolved"}


async def test_roles(client: Any) -> None:
    await ingest(client, alert("A"))
    (item,) = (await listing(client))["alerts"]
    url = f"/api/v1/alerts/{item['id']}/acknowledge"
    assert (await client.post(url)).status == 401
    assert (await client.get("/api/v1/alerts")).status == 401
    forbidden = await client.post(url, headers=VIEW)
    assert forbidden.status == 403
    assert "responder" in (await forbidden.json())["error"]
    detail = await (await client.get(f"/api/v1/alerts/{item['id']}", headers=VIEW)).json()
    assert detail["acknowledged_at"] is None


async def test_unknown_alert_is_404(client: Any) -> None:
    assert (await client.get("/api/v1/alerts/999", headers=VIEW)).status == 404
    assert (await client.post("/api/v1/alerts/999/acknowledge", headers=RESPOND)).status == 404
    assert (await client.get("/api/v1/alerts/abc", headers=VIEW)).status == 404


async def test_bad_action_body_is_400(client: Any) -> None:
    await ingest(client, alert("A"))
    (item,) = (await listing(client))["alerts"]
    url = f"/api/v1/alerts/{item['id']}/acknowledge"
    resp = await client.post(url, json={"note": 5}, headers=RESPOND)
    assert resp.status == 400
    assert (await resp.json())["field"] == "note"
    detail = await (await client.get(f"/api/v1/alerts/{item['id']}", headers=VIEW)).json()
    assert detail["acknowledged_at"] is None


async def test_large_responses_are_gzipped(client: Any) -> None:
    await ingest(client, *(alert(f"A{i:02}") for i in range(20)))
    resp = await client.get(
        "/api/v1/alerts", headers={**VIEW, "Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    raw = await resp.read()
    assert b"A19" in gzip.decompress(raw)
