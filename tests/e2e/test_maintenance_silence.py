"""A maintenance window with ``silence: true`` creates an Alertmanager silence for each
occurrence, on a real Alertmanager, and expires it when the window is ended early; a replayed
job and a restart make no second silence. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.maintenance_silences import silence_job
from receiver.store import tables
from receiver.typedefs import STORE
from receiver.windows import MaintenanceWindow
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, auth
from tests.e2e.conftest import free_port
from tests.maintenance.conftest import live, occurrence_start, silences

RESPONDER = auth(RESPONDER_TOKEN)


@pytest.fixture
def start(
    db_url: str, make_config: Any, on_clock: Any, alertmanager_url: str
) -> Callable[..., Any]:
    """The application on ``manual_clock`` with ``alertmanager_url`` (or ``url``) configured,
    and ``maintenance`` (YAML) as the file's maintenance section."""

    async def run(maintenance: str = "", owner: str = "a", url: str = alertmanager_url) -> Any:
        text = f"alertmanager:\n  url: {url}\n" + maintenance
        return await on_clock(make_config(db_url, text), owner=owner)

    return run


WINDOW = {
    "name": "db-upgrade",
    "matchers": ['service="db"', 'env=~"prod|stage"'],
    "reason": "Postgres upgrade",
    "owner": "alice",
    "duration": "30m",
    "silence": True,
}


async def test_a_window_silences_its_matchers_until_its_end_and_ending_it_expires_that(
    start: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    client = await start()
    resp = await client.post("/api/v1/maintenance", json=WINDOW, headers=RESPONDER)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["silence"] is True
    await manual_clock.settle()
    [silence] = live(alertmanager_url)
    assert silence["status"]["state"] == "active"
    assert sorted(silence["matchers"], key=lambda m: m["name"]) == [
        {"name": "env", "value": "prod|stage", "isRegex": True, "isEqual": True},
        {"name": "service", "value": "db", "isRegex": False, "isEqual": True},
    ]
    now = manual_clock()
    # Alertmanager starts a silence whose start has passed at its own now; the marker keeps
    # the occurrence's start.
    assert parse_rfc3339(silence["endsAt"]) == now + timedelta(minutes=30)
    assert silence["createdBy"] == "firebreak"
    assert "maintenance window db-upgrade: Postgres upgrade" in silence["comment"]
    assert silence["comment"].endswith(f"[firebreak-maintenance:db-upgrade:{format_rfc3339(now)}]")

    await manual_clock.advance(timedelta(minutes=5))
    resp = await client.delete("/api/v1/maintenance/db-upgrade", headers=RESPONDER)
    assert resp.status == 200
    await manual_clock.settle()
    assert live(alertmanager_url) == []
    assert [s["status"]["state"] for s in silences(alertmanager_url)] == ["expired"]


async def test_a_replayed_job_finds_its_silence_and_makes_no_second(
    start: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    client = await start()
    resp = await client.post("/api/v1/maintenance", json=WINDOW, headers=RESPONDER)
    assert resp.status == 201
    await manual_clock.settle()
    assert len(live(alertmanager_url)) == 1
    # The job runs again, as after a crash between creating the silence and marking the job
    # done (another key, so the queue takes it).
    now = manual_clock()
    window = MaintenanceWindow(
        "db-upgrade",
        tuple(WINDOW["matchers"]),  # type: ignore[arg-type]
        "r",
        "o",
        now,
        now + timedelta(minutes=30),
        silence=True,
    )
    occurrence = window.next_occurrence(now)
    assert occurrence is not None
    job = silence_job(window, occurrence, now)
    store = client.app[STORE]
    async with store.transaction() as conn:
        replay = dataclasses.replace(job, idempotency_key=job.idempotency_key + ":replay")
        await store.jobs.enqueue(conn, [job, replay], now)  # job's key is taken: only replay
    await manual_clock.settle(wake=True)
    assert len(silences(alertmanager_url)) == 1


async def test_a_recurring_window_silences_each_occurrence_once_across_a_restart(
    start: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    section = """
maintenance:
  - name: hourly-batch
    match: 'job="batch"'
    reason: batch import
    owner: data
    cron: "0 * * * *"
    duration: 20m
    silence: true
"""
    first = await start(section, owner="first")
    await manual_clock.settle()
    [one] = live(alertmanager_url)
    opened = occurrence_start(one)
    assert opened.minute == 0 and opened.second == 0
    assert parse_rfc3339(one["endsAt"]) == opened + timedelta(minutes=20)
    assert one["matchers"] == [{"name": "job", "value": "batch", "isRegex": False, "isEqual": True}]
    manual_clock.forget(first.app)
    await first.close()  # the process stops, and starts again with the same file
    await start(section, owner="second")
    await manual_clock.settle()
    assert len(silences(alertmanager_url)) == 1
    # The next occurrence's silence is made a little before it opens, once.
    await manual_clock.advance(opened + timedelta(minutes=54) - manual_clock())
    assert len(silences(alertmanager_url)) == 1
    await manual_clock.advance(timedelta(minutes=2))
    found = silences(alertmanager_url)
    assert sorted(occurrence_start(s) for s in found) == [opened, opened + timedelta(hours=1)]
    assert parse_rfc3339(found[-1]["startsAt"]) == opened + timedelta(hours=1)


async def test_a_reason_that_spells_another_windows_marker_passes_for_nothing(
    start: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    client = await start()
    now = format_rfc3339(manual_clock())
    spoof = f"[firebreak-maintenance:victim:{now}]"
    hostile = {**WINDOW, "name": "hostile", "reason": spoof, "owner": spoof}
    resp = await client.post("/api/v1/maintenance", json=hostile, headers=RESPONDER)
    assert resp.status == 201
    await manual_clock.settle()
    victim = {**WINDOW, "name": "victim", "matchers": ['service="web"']}
    resp = await client.post("/api/v1/maintenance", json=victim, headers=RESPONDER)
    assert resp.status == 201
    await manual_clock.settle()
    # The victim's silence is made although the hostile comment carries its marker...
    assert sorted(s["matchers"][0]["value"] for s in live(alertmanager_url)) == ["db", "web"]
    # ...and ending the victim expires only its own.
    assert (await client.delete("/api/v1/maintenance/victim", headers=RESPONDER)).status == 200
    await manual_clock.settle()
    [left] = live(alertmanager_url)
    assert left["comment"].startswith("maintenance window hostile: ")


async def test_a_silence_waits_out_an_unreachable_alertmanager_across_a_restart(
    start: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    first = await start(owner="first", url=nowhere)
    resp = await first.post("/api/v1/maintenance", json=WINDOW, headers=RESPONDER)
    assert resp.status == 201  # the window is made; its silence waits for Alertmanager
    await manual_clock.settle()
    jobs = tables.jobs.c
    async with first.app[STORE].connection() as conn:
        [(state, attempts, error)] = (
            await conn.execute(
                select(jobs.state, jobs.attempts, jobs.last_error).where(
                    jobs.kind == "maintenance_silence",
                    jobs.payload["action"].as_string() == "create",
                )
            )
        ).all()
    assert (state, attempts) == ("pending", 1) and "GET /silences" in error
    manual_clock.forget(first.app)
    await first.close()  # stops; starts again where Alertmanager answers
    await start(owner="second")
    await manual_clock.advance(timedelta(minutes=5))
    [silence] = silences(alertmanager_url)
    assert silence["status"]["state"] == "active"
    assert silence["comment"].startswith("maintenance window db-upgrade: ")
