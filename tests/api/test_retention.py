"""Retention: resolved alerts (with their history) past the period are purged in small batches;
firing alerts, recent ones and dead letters stay. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.retention import Retention
from receiver.typedefs import METRICS, STORE
from tests.api.test_escalation import HOOK, waiting_jobs
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth
from tests.payloads import alert, webhook

CONFIG = "retention: {period: 1d, interval: 1m, batch_size: 2}\n"


async def _start(aiohttp_client: Any, config: Any, clock: ManualClock) -> Any:
    """The application on ``clock``, which then runs its jobs as it is moved."""
    app = create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    clock.watch(app)
    return client


async def _alert_names(client: Any) -> dict[str, str]:
    resp = await client.get("/api/v1/alerts?limit=100", headers=auth(VIEWER_TOKEN))
    return {a["labels"]["alertname"]: a["status"] for a in (await resp.json())["alerts"]}


def _old(count: int) -> list[dict[str, Any]]:
    """Alerts resolved long before any retention period."""
    return [
        alert(
            f"Old{i}",
            status="resolved",
            starts_at="2020-01-01T00:00:00Z",
            ends_at="2020-01-01T01:00:00Z",
        )
        for i in range(count)
    ]


async def test_resolved_alerts_past_the_period_are_purged_and_the_rest_kept(
    aiohttp_client: Any, db_url: str, make_config: Any
) -> None:
    clock = ManualClock()
    client = await _start(aiohttp_client, make_config(db_url, CONFIG), clock)
    old = _old(5)
    recent = alert("Recent", status="resolved", ends_at="2099-01-01T00:00:00Z")
    firing = alert("StillFiring", starts_at="2020-01-01T00:00:00Z")
    for body in (webhook(*old), webhook(recent), webhook(firing)):
        assert (await client.post("/webhook", json=body, headers=HOOK)).status == 200
    await clock.advance(timedelta(minutes=1))  # the purge's next run, two rows a batch
    assert await _alert_names(client) == {"Recent": "resolved", "StillFiring": "firing"}
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_purged_rows_total{table="alerts"} 5.0' in metrics
    # The purge goes on as one chain of jobs.
    assert await waiting_jobs(client, "purge") == 1


async def test_a_run_stops_after_its_seconds_on_the_clock_it_is_given_and_comes_back_at_once(
    aiohttp_client: Any, db_url: str, make_config: Any
) -> None:
    clock = ManualClock()  # stands still: the application's own purge is not due
    config = make_config(db_url, "retention: {period: 1d, interval: 1h, batch_size: 2}\n")
    client = await aiohttp_client(create_app(config, clock=clock, registry=CollectorRegistry()))
    old = _old(5)
    assert (await client.post("/webhook", json=webhook(*old), headers=HOOK)).status == 200
    store, metrics = client.app[STORE], client.app[METRICS]
    # The run begins at 0 s; its first batch of two ends at 1.5 s, its second at 3 s: past the
    # two seconds a run may take.
    seconds = iter([0.0, 1.5, 3.0])
    first = await Retention(config.retention, store, metrics, lambda: next(seconds)).run(clock())
    assert first.outcome == "more"
    [again] = first.enqueue
    assert again.kind == "purge" and again.due_at - clock() <= timedelta(seconds=1)
    assert len(await _alert_names(client)) == 1
    # A run whose clock does not move deletes all that is left.
    rest = await Retention(config.retention, store, metrics, lambda: 0.0).run(clock())
    assert rest.outcome == "purged"
    assert await _alert_names(client) == {}


async def test_drills_asked_for_before_the_period_are_purged(
    aiohttp_client: Any, db_url: str, make_config: Any
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from receiver.store.tables import drills

    clock = ManualClock()
    client = await _start(aiohttp_client, make_config(db_url, CONFIG), clock)
    store, now = client.app[STORE], clock()
    row = {"runbook": "r", "live": False, "actor": "api:alice", "labels": {}}
    async with store.transaction() as conn:
        await conn.execute(
            insert(drills),
            [
                {**row, "id": "old", "created_at": datetime(2020, 1, 1, tzinfo=UTC)},
                {**row, "id": "new", "created_at": now},
            ],
        )

    async def left() -> list[str]:
        async with store.connection() as conn:
            return [r[0] for r in await conn.execute(select(drills.c.id))]

    await clock.advance(timedelta(minutes=1))
    assert await left() == ["new"]
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_purged_rows_total{table="drills"} 1.0' in metrics
