"""PagerDuty webhook replays: a signed v3 event acts once. Another delivery of it (the same bytes
captured and sent again, after a restart too) is answered 200 and changes nothing; an event
from outside ``pagerduty.max_event_age`` of now is stale, and ignored the same way, even once
its id has been purged. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.api.test_pagerduty import ENDPOINT, HOOK, SECRETS, alert_detail, pagerduty_config
from tests.conftest import VIEWER_TOKEN, auth, eventually
from tests.fakes.pagerduty import FakePagerDuty, Incident
from tests.payloads import alert, webhook

Start = Callable[..., Any]


@pytest.fixture
async def fake() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(routing_keys=("R0UT1NGKEY0123456789ABCDEFGHIJKL",)) as server:
        yield server


@pytest.fixture
def start(
    aiohttp_client: Any, db_url: str, make_config: Any, fake: FakePagerDuty, tmp_path: Path
) -> Start:
    """The application on the test's database; each call is a new process's worth of state."""

    async def run(extra: str = "", max_event_age: str = "2m") -> Any:
        ca_file = fake.write_ca(tmp_path / "pagerduty-ca.pem")
        text = pagerduty_config(fake, ca_file, "http://127.0.0.1:9/never", "1h")
        text = text.replace("pagerduty: {", f"pagerduty: {{max_event_age: {max_event_age}, ", 1)
        text += extra
        return await aiohttp_client(
            create_app(make_config(db_url, text), registry=CollectorRegistry())
        )

    return run


async def _paged(client: Any, fake: FakePagerDuty) -> tuple[Incident, int]:
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await eventually(lambda: len(fake.incidents) == 1, what="the page")
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    [found] = (await resp.json())["alerts"]
    return fake.incidents[0], int(found["id"])


async def _deliver(client: Any, body: bytes) -> tuple[int, Any]:
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": FakePagerDuty.sign(SECRETS[0], body),
    }
    resp = await client.post(ENDPOINT, data=body, headers=headers)
    return resp.status, await resp.json()


def _event(kind: str, incident: Incident, **when: Any) -> bytes:
    return FakePagerDuty.webhook_body(kind, incident, **when)


async def _counted(client: Any, outcome: str) -> float:
    metrics = await (await client.get("/metrics")).text()
    line = f'firebreak_pagerduty_webhooks_total{{outcome="{outcome}"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_a_replayed_event_changes_nothing_even_after_a_restart(
    fake: FakePagerDuty, start: Start
) -> None:
    client = await start()
    incident, alert_id = await _paged(client, fake)
    acknowledged = _event("incident.acknowledged", incident, event_id="Q0ACK1")
    assert await _deliver(client, acknowledged) == (
        200,
        {"status": "success", "outcome": "acknowledged"},
    )
    for _ in range(3):  # the captured request, again and again
        assert await _deliver(client, acknowledged) == (
            200,
            {"status": "success", "outcome": "replayed"},
        )
    # The same event id in a new body (same signature scheme, another time): still a replay.
    again = _event("incident.resolved", incident, event_id="Q0ACK1")
    assert (await _deliver(client, again))[1]["outcome"] == "replayed"
    detail = await alert_detail(client, alert_id)
    assert detail["status"] == "firing" and detail["acknowledged_by"] == "Dana Ops"
    assert [e["kind"] for e in detail["events"]].count("acknowledged") == 1
    assert await _counted(client, "replayed") == 4.0
    assert await _counted(client, "acknowledged") == 1.0

    # What was received is kept in the database, not in the process: a new one knows it.
    await client.close()
    restarted = await start()
    assert (await _deliver(restarted, acknowledged))[1]["outcome"] == "replayed"
    assert (await _deliver(restarted, again))[1]["outcome"] == "replayed"
    detail = await alert_detail(restarted, alert_id)
    assert detail["status"] == "firing"
    assert [e["kind"] for e in detail["events"]].count("acknowledged") == 1


async def test_an_event_outside_the_window_is_stale_and_ignored(
    fake: FakePagerDuty, start: Start
) -> None:
    client = await start()
    incident, alert_id = await _paged(client, fake)
    now = datetime.now(UTC)
    for when in (
        now - timedelta(minutes=3),
        now + timedelta(minutes=3),
        datetime(2020, 1, 1, tzinfo=UTC),
    ):
        body = _event("incident.resolved", incident, occurred_at=when)
        assert await _deliver(client, body) == (200, {"status": "success", "outcome": "stale"})
    detail = await alert_detail(client, alert_id)
    assert detail["status"] == "firing" and detail["acknowledged_at"] is None
    assert await _counted(client, "stale") == 3.0
    # Inside pagerduty.max_event_age (2m here) it is acted on.
    body = _event("incident.resolved", incident, occurred_at=now - timedelta(seconds=90))
    assert (await _deliver(client, body))[1]["outcome"] == "resolved"
    assert (await alert_detail(client, alert_id))["status"] == "resolved"


async def test_an_event_without_its_id_or_time_is_refused_naming_the_field(
    fake: FakePagerDuty, start: Start
) -> None:
    client = await start()
    incident, alert_id = await _paged(client, fake)
    good = _event("incident.resolved", incident)
    for broken, field in (
        (good.replace(b'"id": "', b'"idx": "', 1), "event.id"),
        (good.replace(b'"occurred_at": "', b'"occurred_at": "x', 1), "event.occurred_at"),
    ):
        status, body = await _deliver(client, broken)
        assert (status, body["field"]) == (400, field)
    assert (await alert_detail(client, alert_id))["status"] == "firing"


async def test_a_purged_event_is_still_refused_as_stale(fake: FakePagerDuty, start: Start) -> None:
    client = await start(
        "retention: {period: 1s, interval: 200ms}\n",
        max_event_age="1s",
    )
    incident, alert_id = await _paged(client, fake)
    body = _event("incident.acknowledged", incident)
    assert (await _deliver(client, body))[1]["outcome"] == "acknowledged"
    assert (await _deliver(client, body))[1]["outcome"] == "replayed"

    async def purged() -> bool:
        metrics = await (await client.get("/metrics")).text()
        return 'firebreak_purged_rows_total{table="pagerduty_events"} 1.0' in metrics

    # Kept until its window (1s here) and retention.period (1s) have both passed.
    await eventually(purged, within=15, what="the event id purged")
    assert (await _deliver(client, body))[1]["outcome"] == "stale"
    detail = await alert_detail(client, alert_id)
    assert [e["kind"] for e in detail["events"]].count("acknowledged") == 1
