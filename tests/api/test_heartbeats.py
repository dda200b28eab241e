"""Heartbeats: cron jobs and backups beat at POST /api/v1/heartbeats/{name} with their own
token; one that goes quiet past its interval and grace raises HeartbeatMissing through the
ordinary routes, and its next beat resolves it. Observed at a real webhook receiver, the API,
/metrics and the store, on a clock the test moves; restarts in the middle of an interval and of
the grace neither lose nor invent an alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.config import Config, load_config
from tests.api.test_escalation import bodies, waiting_jobs
from tests.cases import each_case, named
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, auth, config_text, start_on_clock
from tests.fakes.webhook_receiver import WebhookReceiver

BACKUP_TOKEN = "backup-token-0123456789abcdef"
NIGHTLY_TOKEN = "nightly-token-0123456789abcdef"

HEARTBEATS_CONFIG = """
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 5s}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook]}}]
notifications: {{group_window: 0s}}
heartbeats:
  backup:
    token: "{backup}"
    interval: 1h
    grace: 10m
    labels: {{team: storage, severity: critical}}
  nightly: {{token: "{nightly}", interval: 1d}}
jobs: {{poll_interval: 200ms}}
"""


async def started(aiohttp_client: Any, config: Config, clock: ManualClock, **kw: Any) -> Any:
    """An instance of ``config`` on ``clock``, which watches it, its start settled."""
    client = await start_on_clock(aiohttp_client, config, clock, **kw)
    await clock.settle()
    return client


@pytest.fixture
def start(aiohttp_client: Any, db_url: str, make_config: Any, manual_clock: ManualClock) -> Any:
    """Start an instance on the test's database and clock (again, for a restart)."""

    async def run(receiver: WebhookReceiver) -> Any:
        text = HEARTBEATS_CONFIG.format(
            url=receiver.url, backup=BACKUP_TOKEN, nightly=NIGHTLY_TOKEN
        )
        return await started(aiohttp_client, make_config(db_url, text), manual_clock)

    return run


async def stop(client: Any, clock: ManualClock) -> None:
    clock.forget(client.app)
    await client.close()


async def beat(client: Any, name: str = "backup", token: str = BACKUP_TOKEN, **kw: Any) -> Any:
    return await client.post(f"/api/v1/heartbeats/{name}", headers=auth(token), **kw)


async def heartbeats(client: Any) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/v1/heartbeats", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return {h["name"]: h for h in (await resp.json())["heartbeats"]}


def notices(receiver: WebhookReceiver, kind: str) -> list[dict[str, str]]:
    return [a["labels"] for b in bodies(receiver, kind) for a in b["alerts"]]


async def test_a_quiet_heartbeat_raises_its_alert_on_time_and_the_next_beat_resolves_it(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    resp = await beat(client, json={"message": "backed up 42 GiB"})
    assert resp.status == 200
    body = await resp.json()
    assert body["state"] == "ok" and body["beats"] == 1
    assert body["last_message"] == "backed up 42 GiB"
    assert "token" not in body
    await manual_clock.advance(timedelta(hours=1))
    assert (await heartbeats(client))["backup"]["state"] == "late"
    await manual_clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert receiver.requests == []  # not a second before interval + grace
    await manual_clock.advance(timedelta(seconds=1))
    assert notices(receiver, "firing") == [
        {
            "alertname": "HeartbeatMissing",
            "severity": "critical",
            "team": "storage",
            "heartbeat": "backup",
        }
    ]
    listed = await heartbeats(client)
    assert listed["backup"]["state"] == "missing"
    assert listed["nightly"]["state"] == "new"  # measured from when Firebreak first knew of it
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_heartbeat_missing{heartbeat="backup"} 1.0' in metrics
    assert 'firebreak_heartbeat_missing{heartbeat="nightly"} 0.0' in metrics
    assert 'firebreak_heartbeat_last_beat_timestamp_seconds{heartbeat="backup"}' in metrics

    # Still quiet: the alert is raised once, however long it lasts.
    await manual_clock.advance(timedelta(hours=3))
    assert len(notices(receiver, "firing")) == 1

    assert (await beat(client)).status == 200
    await manual_clock.settle()
    assert notices(receiver, "resolved") == notices(receiver, "firing")
    assert (await heartbeats(client))["backup"]["state"] == "ok"
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_heartbeat_missing{heartbeat="backup"} 0.0' in metrics
    alerts = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    (raised,) = [a for a in alerts["alerts"] if a["labels"]["alertname"] == "HeartbeatMissing"]
    assert raised["status"] == "resolved"
    assert "No heartbeat from backup" in raised["annotations"]["summary"]

    # Quiet again: a new occurrence, on time.
    await manual_clock.advance(timedelta(hours=1, minutes=10))
    assert len(notices(receiver, "firing")) == 2
    await stop(client, manual_clock)


async def test_a_heartbeat_that_never_beats_is_missing_after_its_first_interval_and_grace(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    await manual_clock.advance(timedelta(days=1, minutes=5) - timedelta(seconds=1))
    assert [n["heartbeat"] for n in notices(receiver, "firing")] == ["backup"]
    await manual_clock.advance(timedelta(seconds=1))
    firing = notices(receiver, "firing")
    assert [n["heartbeat"] for n in firing] == ["backup", "nightly"]
    assert firing[1] == {
        "alertname": "HeartbeatMissing",
        "severity": "warning",
        "heartbeat": "nightly",
    }
    await stop(client, manual_clock)


@pytest.mark.parametrize(
    "quiet_before_restart",
    [timedelta(minutes=30), timedelta(hours=1, minutes=5)],
    ids=["mid-interval", "mid-grace"],
)
async def test_a_restart_neither_loses_nor_invents_the_alert(
    receiver: WebhookReceiver,
    start: Any,
    manual_clock: ManualClock,
    quiet_before_restart: timedelta,
) -> None:
    first = await start(receiver)
    assert (await beat(first)).status == 200
    await manual_clock.advance(quiet_before_restart)
    await stop(first, manual_clock)  # the process stops with the beat's check pending

    second = await start(receiver)
    left = timedelta(hours=1, minutes=10) - quiet_before_restart
    await manual_clock.advance(left - timedelta(seconds=1))
    assert receiver.requests == []  # the restart did not hurry it
    await manual_clock.advance(timedelta(seconds=1))
    assert [n["heartbeat"] for n in notices(receiver, "firing")] == ["backup"]  # nor lose it

    # A restart while it is missing raises nothing more; the next beat resolves it once.
    await stop(second, manual_clock)
    third = await start(receiver)
    await manual_clock.advance(timedelta(minutes=30))
    assert len(notices(receiver, "firing")) == 1
    assert (await beat(third)).status == 200
    await manual_clock.settle()
    assert len(notices(receiver, "resolved")) == 1
    await manual_clock.advance(timedelta(minutes=30))
    assert len(notices(receiver, "firing")) == 1
    await stop(third, manual_clock)


async def test_replayed_beats_count_and_leave_one_check_per_deadline(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    waiting = await waiting_jobs(client, "heartbeat")  # the seeded check of each heartbeat
    await manual_clock.advance(timedelta(minutes=1))
    for _ in range(5):
        assert (await beat(client, json={"message": "same"})).status == 200
    assert (await heartbeats(client))["backup"]["beats"] == 5
    assert await waiting_jobs(client, "heartbeat") == waiting + 1
    await stop(client, manual_clock)


async def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    waiting = await waiting_jobs(client, "heartbeat")
    refused = [
        await client.post("/api/v1/heartbeats/backup"),
        await beat(client, token="not-the-token"),
        await beat(client, token=NIGHTLY_TOKEN),  # another heartbeat's token
        await beat(client, token=VIEWER_TOKEN),  # an API token is no heartbeat's token
        await beat(client, token=BACKUP_TOKEN + "x"),
        await client.post(
            "/api/v1/heartbeats/backup", headers={"Authorization": f"Basic {BACKUP_TOKEN}"}
        ),
    ]
    for resp in refused:
        assert resp.status == 401
        assert "token" in (await resp.json())["error"]
    listed = await heartbeats(client)
    assert listed["backup"]["beats"] == 0 and listed["backup"]["last_beat_at"] is None
    assert await waiting_jobs(client, "heartbeat") == waiting
    await stop(client, manual_clock)


async def test_names_that_are_not_configured_are_not_found(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)

    async def check(name: str) -> None:
        resp = await client.post(f"/api/v1/heartbeats/{name}", headers=auth(BACKUP_TOKEN))
        assert resp.status == 404
        assert "<script>" not in await resp.text()
        assert (await heartbeats(client))["backup"]["beats"] == 0

    names = [
        "unknown",
        "Backup",
        "backup ",
        "backup%2F..%2F..",
        "..%2Fbackup",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "backup';DROP TABLE heartbeats;--",
        "x" * 5000,
        "%00",
    ]
    await each_case(named(names), check)
    await stop(client, manual_clock)


BAD_BODIES = {
    "number": ('{"message": 42}', {}, 400, "message"),
    "list": ('{"message": ["a"]}', {}, 400, "message"),
    "deep": ('{"message": {"a": {"b": {"c": [[[[[[1]]]]]]}}}}', {}, 400, "message"),
    "long": ('{"message": "' + "m" * 1001 + '"}', {}, 400, "message"),
    "unknown-field": ('{"messages": "typo"}', {}, 400, "messages"),
    "array": ('["message"]', {}, 400, "body"),
    "string": ('"message"', {}, 400, "body"),
    "not-json": ("{not json", {}, 400, "body"),
    "huge-nesting": ("[" * 100_000, {}, 413, None),
    "huge": ('{"message": "' + "m" * 10_000 + '"}', {}, 413, None),
    "form": ("message=hi", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
}


async def test_a_bad_body_is_refused_naming_the_field_and_changes_nothing(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)

    async def check(case: tuple[str, dict[str, str], int, str | None]) -> None:
        body, headers, status, field = case
        sent = {"Content-Type": "application/json", **headers, **auth(BACKUP_TOKEN)}
        resp = await client.post("/api/v1/heartbeats/backup", data=body.encode(), headers=sent)
        assert resp.status == status
        if field is not None:
            assert (await resp.json())["error"].startswith(f"{field}: ")
        assert (await heartbeats(client))["backup"]["beats"] == 0

    await each_case(BAD_BODIES.items(), check)
    await stop(client, manual_clock)


async def test_a_hostile_message_is_kept_as_data(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    hostile = "<script>alert(1)</script> $(rm -rf /) {{ config }}\n'; DROP TABLE x;--\t%s"
    assert (await beat(client, json={"message": hostile})).status == 200
    assert (await heartbeats(client))["backup"]["last_message"] == hostile
    for control in ("\x00", "\u202e", "\x1b[31m", "\ud800"):
        resp = await beat(client, json={"message": f"ok{control}"})
        assert resp.status == 400
        assert (await resp.json())["error"] == "message: expected text without control characters"
    assert (await heartbeats(client))["backup"]["beats"] == 1
    await stop(client, manual_clock)


async def test_listing_needs_a_viewer_token(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver)
    assert (await client.get("/api/v1/heartbeats")).status == 401
    resp = await client.get("/api/v1/heartbeats", headers=auth(BACKUP_TOKEN))
    assert resp.status == 401  # a heartbeat's token opens nothing else
    listed = await heartbeats(client)
    assert sorted(listed) == ["backup", "nightly"]
    backup = listed["backup"]
    assert backup["interval_seconds"] == 3600 and backup["grace_seconds"] == 600
    assert backup["last_beat_at"] is None and backup["state"] == "new"
    assert backup["labels"]["heartbeat"] == "backup"
    await stop(client, manual_clock)


async def test_a_reload_keeps_deadlines_and_resolves_the_alert_of_a_heartbeat_removed(
    receiver: WebhookReceiver,
    aiohttp_client: Any,
    db_url: str,
    manual_clock: ManualClock,
    tmp_path: Path,
) -> None:
    text = HEARTBEATS_CONFIG.format(url=receiver.url, backup=BACKUP_TOKEN, nightly=NIGHTLY_TOKEN)
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, text))
    client = await started(aiohttp_client, load_config(path), manual_clock, config_path=str(path))
    await manual_clock.advance(timedelta(minutes=30))
    reload = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))  # the same file
    assert reload.status == 200
    await manual_clock.advance(timedelta(minutes=40) - timedelta(seconds=1))
    assert receiver.requests == []  # the reload did not restart the clock, nor hurry it
    await manual_clock.advance(timedelta(seconds=1))
    assert [n["heartbeat"] for n in notices(receiver, "firing")] == ["backup"]

    path.write_text(config_text(db_url, text.replace("  backup:\n", "  old-backup:\n")))
    assert (await client.post("/-/reload", headers=auth(ADMIN_TOKEN))).status == 200
    await manual_clock.settle()
    assert [n["heartbeat"] for n in notices(receiver, "resolved")] == ["backup"]
    assert sorted(await heartbeats(client)) == ["nightly", "old-backup"]
    metrics = await (await client.get("/metrics")).text()
    assert 'heartbeat="backup"' not in metrics
    await stop(client, manual_clock)
