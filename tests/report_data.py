"""The fixed data set of the reports' tests, whose figures ``tests/api/test_reports.py`` works
out by hand and the console's Reports page shows.


The data set is built through the public paths: Alertmanager webhooks with fixed startsAt and
endsAt, acknowledgements and a resolve through the API at times set on a controllable clock,
and routing and paging done by the job runner. Runbook executions are inserted as rows: the
executor stamps them with the time it runs them, which cannot lie in the past.

Every alert, 2026-11-23 unless said, times UTC (ack and end relative to the start):

route database-oncall (team=db, pages at once)
  D1  DiskFull{instance=db1}   critical  08:00  acked 08:02 (120s)  ended 08:30 (1800s)
  D2  DiskFull{instance=db2}   critical  09:00  acked 09:10 (600s)  ended 10:00 (3600s)
  D3  SlowQuery                warning   10:00  never acked          still firing
  R2  HighErrorRate            critical  11:00  acked 11:05 (300s)  ended 11:40 (2400s)
  old DiskFull{instance=db1}   critical  2026-11-20 08:00-09:00 (outside every window)
route web-oncall (team=web, pages at once)
  W1  HighLatency              critical  08:00  acked 08:04 (240s)  resolved by hand 08:20 (1200s)
route low-urgency (team=quiet, first tier after 12h: never paged here); all arrive resolved
  R1  HighErrorRate            critical  10:00-10:05 (300s)
  U   Upstream{service=api}    warning   09:00, still firing
  A1  ApiErrors{service=api,instance=a}  warning  09:05-09:15 (600s)  (Upstream firing)
  A2  ApiErrors{service=api,instance=b}  warning  09:20-09:25 (300s)  (Upstream firing)
  Q1  QueueLag{instance=a}     warning   08:00-09:30 (5400s)
  Q2  QueueLag{instance=b}     warning   10:00-11:30 (5400s)
  B1  Blip{instance=a}         warning   08:10-08:12 (120s)
  B2  Blip{instance=b}         warning   11:00-11:04 (240s)
  F   Flappy (one fingerprint) warning   09:00-09:03 (180s), 09:10-09:12 (120s), 09:30-09:31 (60s)

The clock stands at 12:00 when the reports are read; ``since=1d`` covers all but the old alert.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select

from receiver.app import create_app
from receiver.config import Config, parse_config
from receiver.store import tables
from receiver.typedefs import STORE
from tests.conftest import (
    RESPONDER_TOKEN,
    WEBHOOK_TOKEN,
    aiohttp_clients,
    auth,
    config_text,
    eventually,
    shared_database,
)
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
DAY = "2026-11-23"

CONFIG = """
escalation_policies:
  now: {tiers: [{after: 0s, notify: [log]}]}
  later: {tiers: [{after: 12h, notify: [log]}]}
routes:
  - {name: database-oncall, match: ['team="db"'], escalation_policy: now}
  - {name: web-oncall, match: ['team="web"'], escalation_policy: now}
  - {name: low-urgency, match: ['team="quiet"'], escalation_policy: later}
notifications: {group_window: 10ms}
jobs: {workers: 2, lease: 5s, poll_interval: 20ms}
"""


class Clock:
    def __init__(self) -> None:
        self.now = at("12:00")

    def __call__(self) -> datetime:
        return self.now


def at(hhmm: str, day: str = DAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def rfc(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00Z"


class DataSet:
    """Posts the alerts above and acts on them at the times they say."""

    def __init__(self, client: Any, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.ids: dict[str, int] = {}
        self._payloads: dict[str, dict[str, Any]] = {}

    async def _exists(self, column: Any, alert_id: int) -> bool:
        async with self.client.app[STORE].connection() as conn:
            found = await conn.execute(select(func.count()).where(column == alert_id))
            return int(found.scalar_one()) > 0

    async def _send(self, payload: dict[str, Any]) -> None:
        group = f'{{}}:{{alertname="{payload["labels"]["alertname"]}"}}'
        resp = await self.client.post(
            "/webhook", json=webhook(payload, group_key=group), headers=HOOK
        )
        assert resp.status == 200, await resp.text()

    async def post(
        self,
        key: str,
        name: str,
        start: str,
        *,
        end: str | None = None,
        labels: dict[str, str],
        day: str = DAY,
    ) -> None:
        """One occurrence, firing (and paged where its route pages) or already resolved;
        waits until the job runner has routed it and sent its page."""
        firing = end is None
        payload = alert(
            name,
            status="firing" if firing else "resolved",
            starts_at=rfc(start, day),
            ends_at=None if end is None else rfc(end, day),
            labels=labels,
        )
        await self._send(payload)
        found = await self.client.app[STORE].find_occurrence(payload["fingerprint"], at(start, day))
        assert found is not None
        self.ids[key] = found
        self._payloads[key] = payload
        await eventually(lambda: self._exists(tables.alert_routes.c.alert_id, found))
        if firing and labels["team"] in ("db", "web"):
            await eventually(lambda: self._exists(tables.notifications.c.alert_id, found))

    async def end(self, key: str, end: str) -> None:
        """Alertmanager says the occurrence ended at ``end``."""
        self.clock.now = at(end)
        await self._send(dict(self._payloads[key], status="resolved", endsAt=rfc(end)))

    async def act(self, key: str, action: str, hhmm: str) -> None:
        """A responder acknowledges or resolves it through the API at ``hhmm``."""
        self.clock.now = at(hhmm)
        resp = await self.client.post(
            f"/api/v1/alerts/{self.ids[key]}/{action}", headers=auth(RESPONDER_TOKEN)
        )
        assert resp.status == 200, await resp.text()

    async def execution(
        self,
        runbook: str,
        state: str,
        created: str,
        finished: str | None,
        *,
        trigger: str = "auto",
        alert_key: str | None = None,
        dry_run: bool = False,
        day: str = DAY,
    ) -> None:
        created_at = datetime.fromisoformat(f"{day}T{created}+00:00")
        finished_at = datetime.fromisoformat(f"{day}T{finished}+00:00") if finished else None
        async with self.client.app[STORE].transaction() as conn:
            await conn.execute(
                insert(tables.executions).values(
                    runbook=runbook,
                    alert_id=self.ids[alert_key] if alert_key else None,
                    trigger=trigger,
                    dry_run=dry_run,
                    state=state,
                    actor="firebreak" if trigger == "auto" else "api:bob",
                    params={},
                    trigger_context={},
                    start_key=f"{runbook}:{created}:{day}:{trigger}:{dry_run}",
                    phase="run",
                    position=0,
                    created_at=created_at,
                    updated_at=finished_at or created_at,
                    finished_at=finished_at,
                )
            )


def team(name: str, **more: str) -> dict[str, str]:
    return {"team": name, **more}


async def start_with_data_set(aiohttp_client: Callable[..., Any], config: Config) -> Any:
    """The application (``config`` with ``CONFIG`` in it) on a clock at 12:00, its store
    holding the data set; its test client."""
    clock = Clock()
    app = create_app(config, clock=clock, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    data = DataSet(client, clock)
    db = team("db", service="disk")

    await data.post(
        "old", "DiskFull", "08:00", end="09:00", labels={**db, "instance": "db1"}, day="2026-11-20"
    )
    clock.now = at("08:00")
    await data.post("D1", "DiskFull", "08:00", labels={**db, "instance": "db1"})
    await data.post("W1", "HighLatency", "08:00", labels=team("web", service="web"))
    await data.act("D1", "acknowledge", "08:02")
    await data.act("W1", "acknowledge", "08:04")
    await data.act("W1", "resolve", "08:20")
    await data.end("D1", "08:30")
    clock.now = at("09:00")
    await data.post("D2", "DiskFull", "09:00", labels={**db, "instance": "db2"})
    await data.act("D2", "acknowledge", "09:10")
    await data.end("D2", "10:00")
    clock.now = at("10:00")
    await data.post(
        "D3", "SlowQuery", "10:00", labels=team("db", service="sql", severity="warning")
    )
    clock.now = at("11:00")
    await data.post("R2", "HighErrorRate", "11:00", labels=team("db", service="checkout"))
    await data.act("R2", "acknowledge", "11:05")
    await data.end("R2", "11:40")

    clock.now = at("12:00")
    quiet = team("quiet", severity="warning")
    await data.post(
        "R1", "HighErrorRate", "10:00", end="10:05", labels=team("quiet", service="checkout")
    )
    await data.post("U", "Upstream", "09:00", labels={**quiet, "service": "api"})
    api = {**quiet, "service": "api"}
    await data.post("A1", "ApiErrors", "09:05", end="09:15", labels={**api, "instance": "a"})
    await data.post("A2", "ApiErrors", "09:20", end="09:25", labels={**api, "instance": "b"})
    queue = {**quiet, "service": "queue"}
    await data.post("Q1", "QueueLag", "08:00", end="09:30", labels={**queue, "instance": "a"})
    await data.post("Q2", "QueueLag", "10:00", end="11:30", labels={**queue, "instance": "b"})
    blip = {**quiet, "service": "blip"}
    await data.post("B1", "Blip", "08:10", end="08:12", labels={**blip, "instance": "a"})
    await data.post("B2", "Blip", "11:00", end="11:04", labels={**blip, "instance": "b"})
    flappy = {**quiet, "service": "flappy"}
    await data.post("F1", "Flappy", "09:00", end="09:03", labels=flappy)
    await data.post("F2", "Flappy", "09:10", end="09:12", labels=flappy)
    await data.post("F3", "Flappy", "09:30", end="09:31", labels=flappy)

    await data.execution("restart-service", "succeeded", "10:01:00", "10:03:00", alert_key="R1")
    await data.execution("restart-service", "failed", "11:01:00", "11:02:00", alert_key="R2")
    await data.execution("restart-service", "cancelled", "11:30:00", "11:31:00", trigger="manual")
    await data.execution("clear-cache", "succeeded", "09:00:00", "09:00:30", trigger="manual")
    await data.execution("clear-cache", "succeeded", "08:10:30", "08:11:00", alert_key="B1")
    await data.execution("clear-cache", "running", "11:50:00", None)
    await data.execution("clear-cache", "succeeded", "11:51:00", "11:52:00", trigger="drill")
    await data.execution("clear-cache", "succeeded", "11:53:00", "11:54:00", dry_run=True)
    await data.execution("clear-cache", "failed", "08:00:00", "08:01:00", day="2026-11-20")
    return client


# The mark of a test that only reads the data set: it runs on its module's event loop, where
# the module's application serves the data set, built once for all of them. Building it
# posts and acts on 18 alerts one after another and waits for the job runner each time: 2 to
# 10 s a test on a loaded machine, where reading the reports takes a fraction of one.
READS_THE_DATA_SET = pytest.mark.asyncio(loop_scope="module")


@contextlib.asynccontextmanager
async def served_data_set(
    store: str, where: Path, sqlite_schema: Path
) -> AsyncIterator[TestClient[Any, Any]]:
    """The application holding the data set on a database of its own (``store``: "sqlite" in
    the directory ``where``, or "postgresql"), served for as long as the block lasts; its
    test client."""
    with shared_database(store, where, sqlite_schema) as url:
        config = parse_config(config_text(url, CONFIG), source="test.yml", env={})
        async with aiohttp_clients() as start:
            yield await start_with_data_set(start, config)
