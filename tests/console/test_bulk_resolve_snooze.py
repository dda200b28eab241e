"""Resolving or snoozing many alerts at once from the alerts page is, like acknowledging, one
guarded UPDATE, one INSERT of their history and one INSERT of their audit rows, whatever their
number (and one job telling the channels of a resolve). Each alert still gets its own row,
event and audit entry, and the page says what came of every one. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
WRITES = ["INSERT INTO ALERT_EVENTS", "INSERT INTO AUDIT_LOG", "UPDATE ALERTS SET"]


async def _storm(client: Client) -> tuple[list[int], int, int, str]:
    """MANY firing alerts, the first resolved by someone else; an id that does not exist."""
    await post(
        client,
        *(alert("Flapping", labels={"instance": f"i-{n}"}, starts_at=ago(5)) for n in range(MANY)),
        group="Flapping",
    )
    ids = await alert_ids(client)
    chosen = [ids[f"Flapping/i-{n}"] for n in range(MANY)]
    resp = await client.post(
        f"/api/v1/alerts/{chosen[0]}/resolve", json={}, headers=auth(ADMIN_TOKEN)
    )
    assert resp.status == 200, await resp.text()
    csrf = await login(client, RESPONDER_TOKEN)
    return chosen, chosen[0], max(chosen) + 1000, csrf


async def _bulk(
    client: Client, form: list[tuple[str, str]], csrf: str, request_id: str
) -> tuple[str, list[str]]:
    """The page's summary, and the writes the request made."""
    with writes(client, request_id) as written:
        resp = await client.post(
            "/console/alerts/bulk",
            data=[*form, ("csrf_token", csrf)],
            headers={"X-Request-ID": request_id},
        )
        text = await resp.text()
    assert resp.status == 200, text
    return parse_page(text).find("p", cls="result").text, sorted(written)


async def _rows(client: Client, statement: Any) -> list[Any]:
    async with client.app[STORE].engine.connect() as conn:
        return list((await conn.execute(statement)).all())


async def _audit(client: Client, action: str) -> dict[int, tuple[str, int, dict[str, Any]]]:
    resp = await client.get(f"/api/v1/audit?action={action}&limit=1000", headers=auth(ADMIN_TOKEN))
    entries = [e for e in (await resp.json())["entries"] if e["interface"] == "console"]
    assert {(e["actor"], e["detail"]["bulk"]) for e in entries} == {("bob", True)}
    assert len({e["request_id"] for e in entries}) == 1
    found = {int(e["target"]): (e["outcome"], e["status"], e["detail"]) for e in entries}
    assert len(found) == len(entries)
    return found


async def test_many_alerts_are_resolved_by_one_statement_each_with_its_event_and_audit_row(
    start: Start,
) -> None:
    client = await start()
    chosen, resolved, missing, csrf = await _storm(client)
    form = [("ids", " ".join(map(str, [*chosen, missing]))), ("action", "resolve")]

    summary, written = await _bulk(client, form, csrf, "bulk-resolve")
    assert summary == f"{MANY - 1} resolved, 1 already resolved, 1 not found."
    assert written == sorted([*WRITES, "INSERT INTO JOBS"])

    ours = chosen[1:]
    rows = dict(await _rows(client, select(alerts.c.id, alerts.c.resolved_by)))
    assert sorted(i for i, who in rows.items() if who == "bob") == sorted(ours)
    assert rows[resolved] != "bob"
    events = await _rows(
        client,
        select(alert_events.c.alert_id).where(
            alert_events.c.kind == "manually_resolved", alert_events.c.actor == "console:bob"
        ),
    )
    assert sorted(i for (i,) in events) == sorted(ours)
    # One job sends the resolved notices of them all (the API's resolve had one of its own).
    payloads = await _rows(client, select(jobs.c.payload).where(jobs.c.kind == "resolve"))
    assert [sorted(p["alert_ids"]) for (p,) in payloads if p["alert_ids"] != [resolved]] == [
        sorted(ours)
    ]
    audit = await _audit(client, "resolve")
    assert len(audit) == MANY + 1
    assert audit[missing][:2] == ("rejected", 404)
    assert {audit[i][:2] for i in chosen} == {("ok", 200)}

    # Again: nothing changes, nothing is enqueued, every alert is reported as it stands.
    summary, written = await _bulk(client, form, csrf, "bulk-resolve-again")
    assert summary == f"{MANY} already resolved, 1 not found."
    assert written == ["INSERT INTO AUDIT_LOG", "UPDATE ALERTS SET"]  # the guard matched none
    assert len(await _rows(client, select(jobs.c.id).where(jobs.c.kind == "resolve"))) == 2


async def test_many_alerts_are_snoozed_by_one_statement_each_with_its_event_and_audit_row(
    start: Start,
) -> None:
    client = await start()
    chosen, resolved, missing, csrf = await _storm(client)
    form = [("ids", " ".join(map(str, [missing, *chosen]))), ("action", "snooze"), ("for", "2h")]

    before = datetime.now(UTC)
    summary, written = await _bulk(client, form, csrf, "bulk-snooze")
    assert summary == f"{MANY - 1} snoozed, 1 already resolved, 1 not found."
    # Snoozing tells no channel here (no Slack message to show it on): no job.
    assert written == WRITES

    ours = chosen[1:]
    rows = {
        i: until for i, until in await _rows(client, select(alerts.c.id, alerts.c.snoozed_until))
    }
    assert rows[resolved] is None
    for alert_id in ours:
        assert (
            before + timedelta(hours=2)
            <= _aware(rows[alert_id])
            <= datetime.now(UTC) + timedelta(hours=2)
        )
    events = await _rows(
        client,
        select(alert_events.c.alert_id).where(
            alert_events.c.kind == "snoozed", alert_events.c.actor == "console:bob"
        ),
    )
    assert sorted(i for (i,) in events) == sorted(ours)
    audit = await _audit(client, "snooze")
    assert len(audit) == MANY + 1
    assert audit[missing][:2] == ("rejected", 404)
    assert audit[resolved][:2] == ("rejected", 409)
    assert (
        audit[resolved][2]["error"] == f"alert {resolved} is resolved; there is nothing to snooze"
    )
    assert {audit[i][:2] for i in ours} == {("ok", 200)}
    assert {audit[i][2]["for"] for i in chosen} == {"2h"}
    counted = await _rows(client, select(func.count()).where(alert_events.c.kind == "snoozed"))
    assert counted == [(MANY - 1,)]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
