"""A window's silence over its life, on a real Alertmanager: a reload that changes its
matchers or length replaces the current occurrence's silence (the old one expired, the new
one made), also back to what it was before, and one that changes nothing touches nothing; a
reload that takes a window out, takes its silence off or moves its occurrences expires what
no longer belongs; a silence dead-lettered while Alertmanager was down does not stop the next
occurrence's; silences someone else made are left alone; the counters say so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from receiver.alertmanager import format_rfc3339
from receiver.config import load_config
from receiver.store import tables
from receiver.typedefs import STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, auth, config_text
from tests.e2e.conftest import free_port, http
from tests.maintenance.conftest import (
    alertmanager_at,
    live,
    matcher_values,
    occurrence_start,
    silences,
)

pytestmark = pytest.mark.e2e

JOBS = "jobs: {max_attempts: 3, backoff_initial: 1s, backoff_max: 2s, poll_interval: 200ms}\n"


@pytest.fixture
def manual_clock() -> ManualClock:
    """On the minute; Alertmanager refuses silences that end before its own (real) now, so
    the hourly window below is counted from the test's start."""
    return ManualClock(datetime.now(UTC).replace(second=0, microsecond=0))


def window(match: str, opened: datetime, duration: str = "30m") -> str:
    """An hourly window whose occurrence opened at ``opened`` (ten minutes before the start)."""
    return f"""
maintenance:
  - name: hourly-batch
    match: {match}
    reason: batch import
    owner: data
    cron: "{opened.minute} * * * *"
    duration: {duration}
    silence: true
"""


async def counters(client: Any) -> dict[str, float]:
    text = await (await client.get("/metrics", headers=auth(ADMIN_TOKEN))).text()
    return {
        sample.name + str(sorted(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("firebreak_maintenance_silence")
        for sample in family.samples
        if sample.name.endswith("_total")
    }


class FileApp:
    """The application started from a configuration file, on the manual clock; ``reload``
    rewrites the file's maintenance part and reloads it."""

    def __init__(self, client: Any, path: Path, base: str, clock: ManualClock) -> None:
        self.client = client
        self._path = path
        self._base = base
        self._clock = clock

    async def reload(self, maintenance: str) -> None:
        self._path.write_text(self._base + maintenance)
        resp = await self.client.post("/-/reload", headers=auth(ADMIN_TOKEN))
        assert resp.status == 200, await resp.text()
        await self._clock.settle()


@pytest.fixture
def from_file(
    on_clock: Any, tmp_path: Path, manual_clock: ManualClock, alertmanager_url: str
) -> Callable[[str, str], Awaitable[FileApp]]:
    """``await from_file(db_url, maintenance)``: the application with ``alertmanager_url``
    configured and ``maintenance`` (YAML) as the file's maintenance section, settled."""

    async def start(db_url: str, maintenance: str) -> FileApp:
        path = tmp_path / "firebreak.yml"
        base = config_text(db_url, JOBS + f"alertmanager:\n  url: {alertmanager_url}\n")
        path.write_text(base + maintenance)
        client = await on_clock(load_config(str(path)), config_path=str(path))
        await manual_clock.settle()
        return FileApp(client, path, base, manual_clock)

    return start


async def test_a_reload_that_changes_a_windows_matchers_replaces_its_silence(
    from_file: Any, db_url: str, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    opened = manual_clock() - timedelta(minutes=10)
    app = await from_file(db_url, window("'job=\"batch\"'", opened))
    client, reload = app.client, app.reload
    [first] = live(alertmanager_url)
    assert occurrence_start(first) == opened
    assert matcher_values(first) == {"job": "batch"}

    both = "['job=\"batch\"', 'env=\"prod\"']"
    await reload(window(both, opened))
    [second] = live(alertmanager_url)
    assert matcher_values(second) == {"job": "batch", "env": "prod"}
    assert occurrence_start(second) == opened
    assert [s["id"] for s in silences(alertmanager_url) if s["status"]["state"] == "expired"] == [
        first["id"]
    ]
    await reload(window(both, opened))  # nothing changed: nothing done
    assert [s["id"] for s in live(alertmanager_url)] == [second["id"]]
    assert len(silences(alertmanager_url)) == 2

    await reload(window(both, opened, duration="40m"))  # a longer one
    [third] = live(alertmanager_url)
    assert third["id"] != second["id"] and matcher_values(third) == matcher_values(second)
    assert third["endsAt"].startswith((opened + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M"))
    assert len(silences(alertmanager_url)) == 3

    await reload(window("'job=\"batch\"'", opened))  # back to the first: made again
    [fourth] = live(alertmanager_url)
    assert matcher_values(fourth) == {"job": "batch"} and fourth["id"] != first["id"]
    assert len(silences(alertmanager_url)) == 4

    # The next occurrence is silenced with what the file says now, a little before it opens.
    await manual_clock.advance(opened + timedelta(minutes=56) - manual_clock())
    [following] = [s for s in live(alertmanager_url) if s["id"] != fourth["id"]]
    assert occurrence_start(following) == opened + timedelta(hours=1)
    assert matcher_values(following) == {"job": "batch"}
    assert await counters(client) == {
        "firebreak_maintenance_silences_created_total[]": 5.0,
        "firebreak_maintenance_silences_expired_total[]": 3.0,
        "firebreak_maintenance_silence_failures_total['refused']": 0.0,
        "firebreak_maintenance_silence_failures_total['unreachable']": 0.0,
    }


async def test_a_dead_lettered_silence_does_not_stop_the_next_occurrences(
    on_clock: Any,
    tmp_path: Path,
    sqlite_url: str,
    manual_clock: ManualClock,
    alertmanager_bin: str,
) -> None:
    port = free_port()  # nothing listens there yet
    opened = manual_clock() - timedelta(minutes=10)
    text = (
        JOBS
        + f"alertmanager:\n  url: http://127.0.0.1:{port}\n"
        + window("'job=\"batch\"'", opened)
    )
    client = await on_clock(load_config_text(tmp_path, sqlite_url, text))
    await manual_clock.advance(timedelta(minutes=1))  # every retry, to the dead letter
    jobs = tables.jobs.c
    async with client.app[STORE].connection() as conn:
        rows = (
            await conn.execute(
                select(jobs.state, jobs.attempts, jobs.payload).where(
                    jobs.kind == "maintenance_silence"
                )
            )
        ).all()
    by_action = {(row.payload["action"], row.payload.get("start")): row for row in rows}
    this_one = by_action[("create", opened.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert (this_one.state, this_one.attempts) == ("dead", 3)
    assert await counters(client) == {
        "firebreak_maintenance_silences_created_total[]": 0.0,
        "firebreak_maintenance_silences_expired_total[]": 0.0,
        "firebreak_maintenance_silence_failures_total['refused']": 0.0,
        "firebreak_maintenance_silence_failures_total['unreachable']": 3.0,
    }

    with alertmanager_at(port, tmp_path, alertmanager_bin) as url:  # back again
        await manual_clock.advance(opened + timedelta(minutes=56) - manual_clock())
        [silence] = live(url)
        assert occurrence_start(silence) == opened + timedelta(hours=1)
        assert matcher_values(silence) == {"job": "batch"}


def load_config_text(tmp_path: Path, db_url: str, text: str) -> Any:
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, text))
    return load_config(str(path))


@pytest.fixture
async def client(on_clock: Any, sqlite_url: str, make_config: Any, alertmanager_url: str) -> Any:
    """The application with ``alertmanager_url`` configured and no windows in its file."""
    return await on_clock(
        make_config(sqlite_url, JOBS + f"alertmanager:\n  url: {alertmanager_url}\n")
    )


async def test_a_silence_someone_else_made_with_a_windows_marker_is_left_alone(
    client: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    start = manual_clock() + timedelta(hours=1)
    spoof = {
        "matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
        "startsAt": format_rfc3339(start),
        "endsAt": format_rfc3339(start + timedelta(minutes=30)),
        "createdBy": "mallory",
        "comment": f"mine [firebreak-maintenance:db-upgrade:{format_rfc3339(start)}]",
    }
    status, _ = http("POST", alertmanager_url + "/api/v2/silences", body=spoof)
    assert status == 200
    window = {
        "name": "db-upgrade",
        "matchers": ['service="db"'],
        "reason": "upgrade",
        "owner": "alice",
        "start": format_rfc3339(start),
        "duration": "30m",
        "silence": True,
    }
    made = await client.post("/api/v1/maintenance", json=window, headers=auth(RESPONDER_TOKEN))
    assert made.status == 201, await made.text()
    await manual_clock.settle()
    # Not taken for the window's own: Firebreak makes one beside it...
    assert sorted(s["createdBy"] for s in live(alertmanager_url)) == ["firebreak", "mallory"]
    # ...and ending the window expires only that.
    ended = await client.delete("/api/v1/maintenance/db-upgrade", headers=auth(RESPONDER_TOKEN))
    assert ended.status == 200
    await manual_clock.settle()
    assert [s["createdBy"] for s in live(alertmanager_url)] == ["mallory"]


async def test_a_window_taken_out_or_no_longer_silencing_has_its_silence_expired_at_the_reload(
    from_file: Any, db_url: str, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    opened = manual_clock() - timedelta(minutes=10)
    # Another deployment's window on the same Alertmanager: created by firebreak too, with a
    # marker, but of a window this one never silenced.
    theirs = {
        "matchers": [{"name": "job", "value": "other", "isRegex": False, "isEqual": True}],
        "startsAt": format_rfc3339(opened),
        "endsAt": format_rfc3339(opened + timedelta(hours=1)),
        "createdBy": "firebreak",
        "comment": f"maintenance window theirs: x (owner y) "
        f"[firebreak-maintenance:theirs:{format_rfc3339(opened)}]",
    }
    assert http("POST", alertmanager_url + "/api/v2/silences", body=theirs)[0] == 200
    second = window("'job=\"batch\"'", opened).replace("hourly-batch", "nightly-batch")
    first = window("'job=\"batch\"'", opened)
    app = await from_file(db_url, first + second.replace("maintenance:", ""))
    reload = app.reload
    assert len(live(alertmanager_url)) == 3

    await reload(second)  # hourly-batch taken out
    assert sorted(s["comment"].split(":")[0] for s in live(alertmanager_url)) == [
        "maintenance window nightly-batch",
        "maintenance window theirs",
    ]
    await reload(second.replace("silence: true", "silence: false"))
    assert [s["comment"].split(":")[0] for s in live(alertmanager_url)] == [
        "maintenance window theirs"
    ]


async def test_a_reload_that_moves_a_windows_occurrences_expires_the_old_ones_silence(
    from_file: Any, sqlite_url: str, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    opened = manual_clock() - timedelta(minutes=10)
    app = await from_file(sqlite_url, window("'job=\"batch\"'", opened))
    [old] = live(alertmanager_url)
    moved = opened + timedelta(minutes=5)  # the cron now opens it five minutes later
    await app.reload(window("'job=\"batch\"'", moved))
    [new] = live(alertmanager_url)
    assert occurrence_start(new) == moved and new["id"] != old["id"]
    assert {s["id"]: s["status"]["state"] for s in silences(alertmanager_url)} == {
        old["id"]: "expired",
        new["id"]: "active",
    }


async def test_a_window_ended_and_made_again_under_its_name_is_silenced_again(
    client: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    opened = manual_clock() - timedelta(minutes=10)
    recurring = {
        "name": "hourly-batch",
        "matchers": ['job="batch"'],
        "reason": "batch import",
        "owner": "data",
        "cron": f"{opened.minute} * * * *",
        "duration": "30m",
        "silence": True,
    }
    responder = auth(RESPONDER_TOKEN)
    for _ in range(2):  # the same occurrence both times
        made = await client.post("/api/v1/maintenance", json=recurring, headers=responder)
        assert made.status == 201, await made.text()
        await manual_clock.settle()
        [silence] = live(alertmanager_url)
        assert occurrence_start(silence) == opened
        ended = await client.delete("/api/v1/maintenance/hourly-batch", headers=responder)
        assert ended.status == 200
        await manual_clock.settle()
        assert live(alertmanager_url) == []
    assert len(silences(alertmanager_url)) == 2
