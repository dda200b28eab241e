"""POST /api/v1/alerts: an alert raised by hand is recorded through ingest, escalated through the
policy's tiers, answered again (not raised twice) for the same key, resolved by hand, audited;
and hostile bodies change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import alerts, manual_pages
from receiver.typedefs import STORE
from tests.api.test_grafana_webhook import refused_and_nothing_stored
from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver

PAGE = {
    "key": "db-eu1-2026-12-06",
    "title": "Database down in eu-1",
    "details": "Replication stopped at 04:10.\nCall the DBA on duty.",
    "severity": "warning",
    "labels": {"service": "payments", "team": "dba"},
}


async def raise_page(client: Any, body: Any, token: str = RESPONDER_TOKEN) -> Any:
    return await client.post("/api/v1/alerts", json=body, headers=auth(token))


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_page_is_recorded_escalated_and_resolved_by_hand(
    escalating: Any, receiver: WebhookReceiver, manual_clock: ManualClock
) -> None:
    resp = await raise_page(escalating, PAGE)
    assert resp.status == 201
    alert = await resp.json()
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "service": "payments",
        "team": "dba",
        "alertname": "Database down in eu-1",
        "severity": "warning",
        "firebreak_source": "manual",
    }
    assert alert["annotations"] == {
        "summary": "Database down in eu-1",
        "description": "Replication stopped at 04:10.\nCall the DBA on duty.",
        "raised_by": "api:bob",
    }
    detail = await escalating.get(f"/api/v1/alerts/{alert['id']}", headers=auth(VIEWER_TOKEN))
    fired = [e for e in (await detail.json())["events"] if e["kind"] == "fired"]
    assert [e["actor"] for e in fired] == ["api:bob"]  # the history names who raised it
    await manual_clock.settle()
    bodies = [receiver.json(i) for i in range(len(receiver.requests))]
    assert [b["kind"] for b in bodies] == ["firing"]
    assert bodies[0]["alerts"][0]["id"] == alert["id"]
    await manual_clock.advance(timedelta(seconds=30))  # nobody acknowledged: tier 2
    assert [r.path for r in receiver.requests] == ["/hook", "/hook?tier=2"]

    done = await escalating.post(
        f"/api/v1/alerts/{alert['id']}/resolve", headers=auth(RESPONDER_TOKEN)
    )
    assert done.status == 200
    assert (await done.json())["resolved_by"] == "bob"
    await manual_clock.settle()
    kinds = [receiver.json(i)["kind"] for i in range(len(receiver.requests))]
    assert kinds == ["firing", "firing", "resolved", "resolved"]


async def test_the_same_key_answers_the_same_alert_and_pages_once(
    escalating: Any, receiver: WebhookReceiver, manual_clock: ManualClock
) -> None:
    first = await raise_page(escalating, PAGE)
    again = await raise_page(escalating, {**PAGE, "title": "changed on the retry"})
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    assert (await again.json())["labels"]["alertname"] == "Database down in eu-1"
    other = await raise_page(escalating, {**PAGE, "key": "another"})
    assert other.status == 201
    await manual_clock.settle()
    assert await count(escalating, alerts) == 2
    paged = [a["id"] for i in range(len(receiver.requests)) for a in receiver.json(i)["alerts"]]
    assert sorted(paged) == sorted([(await first.json())["id"], (await other.json())["id"]])


async def test_only_responders_raise_and_every_attempt_is_audited(client: Any) -> None:
    assert (await raise_page(client, PAGE, VIEWER_TOKEN)).status == 403
    assert (await raise_page(client, PAGE, WEBHOOK_TOKEN)).status == 401
    assert (await client.post("/api/v1/alerts", json=PAGE)).status == 401
    assert await count(client, alerts) == 0
    assert (await raise_page(client, PAGE)).status == 201
    trail = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
    rows = [(e["action"], e["actor"], e["outcome"]) for e in trail["entries"]]
    assert ("raise_alert", "bob", "ok") in rows
    assert ("raise_alert", "carol", "refused") in rows


def _with(**fields: Any) -> dict[str, Any]:
    return {**PAGE, **fields}


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in PAGE.items() if k != name}


BAD = [
    ("key", _without("key"), "missing"),
    ("key", _with(key="a b"), "letters, digits"),
    ("key", _with(key="k" * 129), "at most 128"),
    ("title", _without("title"), "missing"),
    ("title", _with(title=5), "expected a string"),
    ("title", _with(title="   "), "non-blank"),
    ("title", _with(title="x\u0000y"), "control characters"),
    ("title", _with(title="t" * 201), "at most 200"),
    ("details", _with(details=["a"]), "expected a string"),
    ("details", _with(details="d" * 4001), "at most 4000"),
    ("severity", _with(severity="sev0"), "one of critical"),
    ("labels", _with(labels=["a=b"]), "object of strings"),
    ("labels.alertname", _with(labels={"alertname": "Other"}), "set by Firebreak"),
    ("labels.severity", _with(labels={"severity": "critical"}), "set by Firebreak"),
    ("labels.firebreak_source", _with(labels={"firebreak_source": "alertmanager"}), "set by"),
    ("labels.__name__", _with(labels={"__name__": "x"}), "set by Firebreak"),
    ("labels", _with(labels={"bad name": "x"}), "label names"),
    ("labels.team", _with(labels={"team": {"deep": {"deeper": ["x"]}}}), "expected a string"),
    ("labels.team", _with(labels={"team": "t" * 257}), "at most 256"),
    ("labels.team", _with(labels={"team": "a\nb"}), "control characters"),
    ("labels", _with(labels={f"l{i}": "x" for i in range(21)}), "at most 20"),
    ("target", _with(target={"schedule": "primary"}), "expected a string"),
    ("target", _with(target=["schedule:primary"]), "expected a string"),
    ("target", _with(target="schedule:primary"), "no schedule of that id is configured"),
    ("target", _with(target="person:nobody"), "no person of that id is configured"),
    ("target", _with(target="pager:duty"), "expected schedule:ID, person:ID or team:ID"),
    ("target", _with(target="'; DROP TABLE alerts; --"), "no schedule, person or team"),
    ("target", _with(target="team:<script>alert(1)</script>"), "no team of that id"),
    ("target", _with(target="schedule:../../etc/passwd"), "no schedule of that id"),
    ("target", _with(target="schedule:primary\nperson:bob"), "control characters"),
    ("target", _with(target="s" * 201), "at most 200"),
    ("owner", _with(owner="bob"), "unknown field"),
    ("body", ["not", "an", "object"], "JSON object"),
]


async def test_a_bad_page_is_400_naming_the_field_and_changes_nothing(client: Any) -> None:
    async def check(case: tuple[str, Any, str]) -> None:
        field, body, says = case
        await refused_and_nothing_stored(client, await raise_page(client, body), field, says)
        assert await count(client, manual_pages) == 0

    await each_case(by_first(BAD), check)


async def test_hostile_text_is_kept_as_data(client: Any) -> None:
    hostile = "<!channel> <script>alert(1)</script> {{ 7*7 }} '; DROP TABLE alerts; --"
    resp = await raise_page(
        client, _with(title=hostile, details=hostile, labels={"team": hostile[:200]})
    )
    assert resp.status == 201
    shown = await resp.json()
    assert shown["labels"]["alertname"] == hostile and shown["annotations"]["summary"] == hostile
    assert shown["labels"]["firebreak_source"] == "manual"
    assert await count(client, alerts) == 1
