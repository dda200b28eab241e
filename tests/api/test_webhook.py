"""POST /webhook: durable, idempotent, atomic and strict, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import alert_events, alerts, webhooks
from receiver.typedefs import STORE
from tests.cases import by_first, each_case
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)


async def rows(client: Any, table: Any) -> list[Any]:
    async with client.app[STORE].engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def webhook_events(client: Any) -> list[Any]:
    """The history rows the webhooks wrote (escalation adds its own as it runs)."""
    return [e for e in await rows(client, alert_events) if e.actor == "alertmanager"]


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def post(client: Any, payload: Any, headers: dict[str, str] | None = None) -> Any:
    return await client.post("/webhook", json=payload, headers=HOOK if headers is None else headers)


async def test_stores_each_alert_and_answers_after_commit(client: Any) -> None:
    payload = webhook(alert("A", labels={"pod": "a"}), alert("B", labels={"pod": "b"}))
    resp = await post(client, payload)
    assert resp.status == 200
    assert await resp.json() == {"status": "success", "alerts": 2}
    stored = await rows(client, alerts)
    assert [(r.alertname, r.status, r.severity) for r in stored] == [
        ("A", "firing", "critical"),
        ("B", "firing", "critical"),
    ]
    assert stored[0].labels == payload["alerts"][0]["labels"]
    assert stored[0].annotations == payload["alerts"][0]["annotations"]
    assert stored[0].ends_at is None
    assert stored[0].starts_at.isoformat() == "2026-11-23T08:00:00.123456+00:00"
    events = await webhook_events(client)
    assert [(e.alert_id, e.kind) for e in events] == [
        (stored[0].id, "fired"),
        (stored[1].id, "fired"),
    ]
    assert events[0].request_id == resp.headers["X-Request-ID"]
    hooks = await rows(client, webhooks)
    assert len(hooks) == 1 and hooks[0].alert_count == 2 and hooks[0].receiver == "firebreak"


async def test_redelivery_only_moves_last_seen(client: Any) -> None:
    payload = webhook(alert("A"))
    assert (await post(client, payload)).status == 200
    first = (await rows(client, alerts))[0]
    for _ in range(3):
        assert (await post(client, payload)).status == 200
    stored = await rows(client, alerts)
    assert len(stored) == 1
    assert stored[0].last_seen_at > first.last_seen_at
    assert stored[0].first_seen_at == first.first_seen_at
    assert [e.kind for e in await webhook_events(client)] == ["fired"]
    assert await count(client, webhooks) == 4


async def test_concurrent_duplicates_store_one_occurrence(client: Any) -> None:
    """An HA pair sends the same group twice at once; both land in one group commit or two."""
    payload = webhook(*(alert(f"A{i}") for i in range(20)))
    responses = await asyncio.gather(*(post(client, payload) for _ in range(10)))
    assert [r.status for r in responses] == [200] * 10
    assert await count(client, alerts) == 20
    assert len(await webhook_events(client)) == 20


async def test_new_starts_at_is_a_new_occurrence(client: Any) -> None:
    await post(client, webhook(alert("A", starts_at="2026-11-23T08:00:00Z")))
    await post(client, webhook(alert("A", starts_at="2026-11-23T10:00:00Z")))
    stored = await rows(client, alerts)
    assert len(stored) == 2
    assert stored[0].fingerprint == stored[1].fingerprint


async def test_resolved_updates_the_occurrence(client: Any) -> None:
    await post(client, webhook(alert("A")))
    resp = await post(
        client, webhook(alert("A", status="resolved", ends_at="2026-11-23T09:30:00Z"))
    )
    assert resp.status == 200
    (stored,) = await rows(client, alerts)
    assert stored.status == "resolved"
    assert stored.ends_at.isoformat() == "2026-11-23T09:30:00+00:00"
    assert [e.kind for e in await webhook_events(client)] == ["fired", "resolved"]
    # A late firing re-send of the same occurrence never moves it backwards.
    await post(client, webhook(alert("A")))
    (stored,) = await rows(client, alerts)
    assert stored.status == "resolved"
    assert [e.kind for e in await webhook_events(client)] == ["fired", "resolved"]


async def test_first_seen_resolved_records_both_events(client: Any) -> None:
    await post(client, webhook(alert("A", status="resolved")))
    (stored,) = await rows(client, alerts)
    assert stored.status == "resolved"
    assert [e.kind for e in await webhook_events(client)] == ["fired", "resolved"]


async def test_changed_annotations_are_kept_current(client: Any) -> None:
    await post(client, webhook(alert("A", annotations={"summary": "5% errors"})))
    await post(client, webhook(alert("A", annotations={"summary": "9% errors"})))
    (stored,) = await rows(client, alerts)
    assert stored.annotations == {"summary": "9% errors"}


async def test_unknown_fields_are_kept(client: Any) -> None:
    payload = webhook(alert("A"))
    payload["notification_reason"] = "repeat"
    payload["alerts"][0]["silencedBy"] = ["x"]
    assert (await post(client, payload)).status == 200
    (stored,) = await rows(client, alerts)
    assert stored.extra == {"silencedBy": ["x"]}
    (hook,) = await rows(client, webhooks)
    assert hook.extra == {"notification_reason": "repeat"}


async def test_truncated_alerts_are_recorded_and_counted(client: Any) -> None:
    resp = await post(client, webhook(alert("A"), truncated=7))
    assert resp.status == 200
    (hook,) = await rows(client, webhooks)
    assert hook.truncated_alerts == 7
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_webhook_truncated_alerts_total 7.0" in metrics


BAD_PAYLOADS = [
    ("body", b"{not json", "invalid JSON"),
    ("version", {**webhook(alert()), "version": "3"}, "unsupported"),
    ("groupKey", {k: v for k, v in webhook(alert()).items() if k != "groupKey"}, "missing"),
    (
        "alerts[1].startsAt",
        webhook(alert("A"), {**alert("B"), "startsAt": "yesterday"}),
        "RFC 3339",
    ),
    (
        "alerts[0].labels.severity",
        {**webhook(), "alerts": [{**alert(), "labels": {"severity": 3}}]},
        "string",
    ),
]


async def test_invalid_payload_is_400_naming_the_field_and_changes_nothing(client: Any) -> None:
    async def check(case: tuple[str, Any, str]) -> None:
        field, body, says = case
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = await client.post(
            "/webhook", data=data, headers={**HOOK, "Content-Type": "application/json"}
        )
        assert resp.status == 400
        error = await resp.json()
        assert error["field"] == field
        assert says in error["error"]
        assert error["request_id"] == resp.headers["X-Request-ID"]
        assert await count(client, alerts) == 0
        assert await count(client, webhooks) == 0

    await each_case(by_first(BAD_PAYLOADS), check)


async def test_a_bad_alert_rejects_the_whole_webhook(client: Any) -> None:
    payload = webhook(alert("A"), alert("B"), {**alert("C"), "fingerprint": 17})
    resp = await post(client, payload)
    assert resp.status == 400
    assert (await resp.json())["field"] == "alerts[2].fingerprint"
    assert await count(client, alerts) == 0


async def test_wrong_content_type_is_415(client: Any) -> None:
    resp = await client.post(
        "/webhook",
        data=json.dumps(webhook(alert())),
        headers={**HOOK, "Content-Type": "text/plain"},
    )
    assert resp.status == 415
    assert await count(client, alerts) == 0


async def test_missing_or_wrong_auth_is_401(client: Any) -> None:
    async def check(headers: dict[str, str]) -> None:
        resp = await post(client, webhook(alert()), headers=headers)
        assert resp.status == 401
        assert "WWW-Authenticate" in resp.headers
        assert await count(client, alerts) == 0

    cases = {
        "none": {},
        "wrong-bearer": auth("wrong"),
        "basic": {"Authorization": "Basic YTpi"},
        "api-token": auth(ADMIN_TOKEN),
    }
    await each_case(cases.items(), check)


async def test_body_over_the_limit_is_413(client: Any) -> None:
    huge = webhook(*(alert(f"A{i}", annotations={"d": "x" * 2000}) for i in range(600)))
    resp = await post(client, huge)
    assert resp.status == 413
    assert await count(client, alerts) == 0


async def break_the_store(client: Any) -> None:
    """Point the store at a database that cannot be opened: every commit fails."""
    await client.app[STORE].engine.dispose()
    store = client.app[STORE]
    from receiver.config import DatabaseConfig
    from receiver.store import create_engine_for

    store.engine = create_engine_for(
        DatabaseConfig(url="sqlite+aiosqlite:////nonexistent-dir/x.db")
        if store.dialect == "sqlite"
        else DatabaseConfig(url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    )
    if store.writer is not None:  # SQLite's writer thread opens the database of its own
        from receiver.store.engine import sqlite_pragmas
        from receiver.store.writer import SQLiteWriter

        await store.writer.close()
        store.writer = SQLiteWriter(store.engine.url, synchronous="full", pragmas=sqlite_pragmas)


async def test_store_failure_is_503_so_alertmanager_retries(client: Any) -> None:
    await break_the_store(client)
    resp = await post(client, webhook(alert()))
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await resp.json())["status"] == "error"
