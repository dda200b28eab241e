"""Acknowledging many alerts at once from the alerts page is one guarded UPDATE, one INSERT of
their history and one INSERT of their audit rows, whatever their number; and one job telling
the channels. Each alert still gets its own row, event and audit entry. On SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from receiver.store.tables import alert_events, alerts, jobs
from receiver.typedefs import STORE
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, auth
from tests.console.conftest import Start, login
from tests.console.pages import parse_page
from tests.console.storm import ago, alert_ids, post
from tests.payloads import alert
from tests.statements import writes

Client = TestClient[Any, Any]
MANY = 120


async def _scalar(client: Client, statement: Any) -> Any:
    async with client.app[STORE].engine.connect() as conn:
        return (await conn.execute(statement)).scalar_one()


async def test_many_alerts_are_acknowledged_by_one_statement_each_with_its_event_and_audit_row(
    start: Start,
) -> None:
    client = await start()
    await post(
        client,
        *(alert("Flapping", labels={"instance": f"i-{n}"}, starts_at=ago(5)) for n in range(MANY)),
        group="Flapping",
    )
    ids = await alert_ids(client)
    chosen = [ids[f"Flapping/i-{n}"] for n in range(MANY)]
    # One acknowledged by someone else already, one resolved by hand: neither changes.
    other, resolved = chosen[0], chosen[1]
    for path, token in (
        (f"{other}/acknowledge", ADMIN_TOKEN),
        (f"{resolved}/resolve", ADMIN_TOKEN),
    ):
        resp = await client.post(f"/api/v1/alerts/{path}", json={}, headers=auth(token))
        assert resp.status == 200, await resp.text()
    csrf = await login(client, RESPONDER_TOKEN)
    missing = max(chosen) + 1000

    form = [("ids", " ".join(map(str, [*chosen, missing]))), ("action", "acknowledge")]
    with writes(client, "bulk-acknowledge") as written:
        resp = await client.post(
            "/console/alerts/bulk",
            data=[*form, ("csrf_token", csrf)],
            headers={"X-Request-ID": "bulk-acknowledge"},
        )
        text = await resp.text()
    assert resp.status == 200, text
    assert parse_page(text).find("p", cls="result").text == (
        f"{MANY - 2} acknowledged, 1 already acknowledged, 1 already resolved, 1 not found."
    )
    assert sorted(written) == [
        "INSERT INTO ALERT_EVENTS",
        "INSERT INTO AUDIT_LOG",
        "INSERT INTO JOBS",
        "UPDATE ALERTS SET",
    ]

    acknowledged = chosen[2:]
    async with client.app[STORE].engine.connect() as conn:
        rows = (
            await conn.execute(
                select(alerts.c.id, alerts.c.acknowledged_by).where(alerts.c.id.in_(chosen))
            )
        ).all()
        by_bob = sorted(i for i, who in rows if who == "bob")
        events = (
            await conn.execute(
                select(alert_events.c.alert_id, alert_events.c.note).where(
                    alert_events.c.kind == "acknowledged", alert_events.c.actor == "console:bob"
                )
            )
        ).all()
        job_payloads = (
            await conn.execute(select(jobs.c.payload).where(jobs.c.kind == "acknowledge"))
        ).all()
    assert by_bob == sorted(acknowledged)
    assert dict(rows)[other] != "bob" and dict(rows)[resolved] is None
    assert sorted(alert_id for alert_id, _ in events) == sorted(acknowledged)
    # The bulk job names exactly the alerts this request acknowledged (the API's two their own).
    assert [sorted(p["alert_ids"]) for (p,) in job_payloads if len(p["alert_ids"]) > 1] == [
        sorted(acknowledged)
    ]

    resp = await client.get(
        "/api/v1/audit?action=acknowledge&limit=1000", headers=auth(ADMIN_TOKEN)
    )
    audit = [e for e in (await resp.json())["entries"] if e["interface"] == "console"]
    outcomes = {int(e["target"]): (e["outcome"], e["status"]) for e in audit}
    assert len(audit) == MANY + 1
    assert outcomes[missing] == ("rejected", 404)
    assert outcomes[resolved] == ("rejected", 409)
    assert {outcomes[i] for i in [other, *acknowledged]} == {("ok", 200)}
    assert {(e["actor"], e["detail"]["bulk"]) for e in audit} == {("bob", True)}
    assert len({e["request_id"] for e in audit}) == 1

    # Again: nothing changes, nothing is enqueued, every alert is reported as it stands.
    acknowledge_jobs = select(func.count()).where(jobs.c.kind == "acknowledge")
    jobs_before = await _scalar(client, acknowledge_jobs)
    resp = await client.post("/console/alerts/bulk", data=[*form, ("csrf_token", csrf)])
    assert parse_page(await resp.text()).find("p", cls="result").text == (
        f"{MANY - 1} already acknowledged, 1 already resolved, 1 not found."
    )
    assert await _scalar(client, acknowledge_jobs) == jobs_before
    assert (
        await _scalar(client, select(func.count()).where(alert_events.c.kind == "acknowledged"))
        == len(acknowledged) + 1
    )
