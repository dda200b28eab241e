"""Alerts Firebreak raises itself (a heartbeat gone quiet) are keyed apart from webhooks': their
fingerprints start ``firebreak:``, which ``/webhook`` refuses, so no webhook ends one. Those
stored before the prefix (``fb`` and 14 hex digits, the shape of Alertmanager's) are given it
by migration 0018, and an ``fb…`` fingerprint a webhook sends afterwards is its own alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text, update

from receiver.model import HEARTBEAT_GROUP_KEY
from receiver.oncall_gaps import GAP_GROUP_KEY, gap_labels
from receiver.pipeline import fingerprint_of
from receiver.store import migrate
from receiver.store.tables import alerts, executions
from receiver.typedefs import STORE
from tests.api.test_grafana_webhook import grafana_alert, grafana_webhook
from tests.api.test_heartbeats import beat, notices, start, stop  # noqa: F401 - start: a fixture
from tests.clock import ManualClock
from tests.conftest import WEBHOOK_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
BACKUP_LABELS = {
    "alertname": "HeartbeatMissing",
    "severity": "critical",
    "team": "storage",
    "heartbeat": "backup",
}


async def _missing(receiver: WebhookReceiver, run: Any, clock: ManualClock) -> Any:
    """An instance (started by ``run``) whose ``backup`` heartbeat has gone quiet: its alert
    fires."""
    client = await run(receiver)
    assert (await beat(client)).status == 200
    await clock.advance(timedelta(hours=1, minutes=10))
    assert notices(receiver, "firing") == [BACKUP_LABELS]
    return client


async def _stored(client: Any) -> list[tuple[str, str, str]]:
    """Every stored alert: (group key, fingerprint, status)."""
    async with client.app[STORE].engine.connect() as conn:
        rows = await conn.execute(
            select(alerts.c.group_key, alerts.c.fingerprint, alerts.c.status).order_by(alerts.c.id)
        )
        return [tuple(row) for row in rows]


async def _heartbeat_alert(client: Any) -> tuple[int, str, datetime]:
    async with client.app[STORE].engine.connect() as conn:
        row = (
            await conn.execute(
                select(alerts.c.id, alerts.c.fingerprint, alerts.c.starts_at).where(
                    alerts.c.group_key == HEARTBEAT_GROUP_KEY
                )
            )
        ).one()
    return row.id, row.fingerprint, row.starts_at


def _resolved(fingerprint: str, starts_at: datetime) -> dict[str, Any]:
    one = alert(
        status="resolved",
        starts_at=starts_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        fingerprint=fingerprint,
    )
    one["labels"] = dict(BACKUP_LABELS)
    return webhook(one)


async def test_a_webhook_cannot_resolve_a_heartbeats_alert_by_its_fingerprint(
    receiver: WebhookReceiver,
    start: Any,  # noqa: F811
    manual_clock: ManualClock,
) -> None:
    client = await _missing(receiver, start, manual_clock)
    _, fingerprint, starts_at = await _heartbeat_alert(client)
    assert fingerprint == fingerprint_of(BACKUP_LABELS)
    assert fingerprint.startswith("firebreak:")
    resp = await client.post("/webhook", json=_resolved(fingerprint, starts_at), headers=HOOK)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "alerts[0].fingerprint" and "reserved" in body["error"]
    assert await _stored(client) == [(HEARTBEAT_GROUP_KEY, fingerprint, "firing")]
    assert notices(receiver, "resolved") == []

    # Its own end still comes: the next beat resolves it.
    assert (await beat(client)).status == 200
    await manual_clock.settle()
    assert notices(receiver, "resolved") == [BACKUP_LABELS]
    assert await _stored(client) == [(HEARTBEAT_GROUP_KEY, fingerprint, "resolved")]
    await stop(client, manual_clock)


async def test_alerts_stored_the_old_way_get_the_prefix_and_an_old_fingerprint_is_data(
    receiver: WebhookReceiver,
    start: Any,  # noqa: F811
    manual_clock: ManualClock,
) -> None:
    client = await _missing(receiver, start, manual_clock)
    alert_id, fingerprint, starts_at = await _heartbeat_alert(client)
    old = "fb" + fingerprint.removeprefix("firebreak:")
    # An Alertmanager alert whose fingerprint happens to have the old shape: not Firebreak's.
    lookalike = "fb0123456789abcd"
    am = alert(fingerprint=lookalike, starts_at="2026-11-23T08:00:00Z")
    assert (await client.post("/webhook", json=webhook(am), headers=HOOK)).status == 200
    engine = client.app[STORE].engine
    now = starts_at
    execution = {
        "runbook": "restart-backup",
        "trigger": "auto",
        "state": "succeeded",
        "actor": "firebreak",
        "params": {},
        "trigger_context": {},
        "phase": "run",
        "created_at": now,
        "updated_at": now,
    }
    async with engine.begin() as conn:  # as the previous release stored them
        await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(fingerprint=old))
        lookalike_id = (
            await conn.execute(select(alerts.c.id).where(alerts.c.fingerprint == lookalike))
        ).scalar_one()
        await conn.execute(
            insert(executions),
            [
                {**execution, "alert_id": alert_id, "fingerprint": old, "start_key": "a"},
                {
                    **execution,
                    "alert_id": lookalike_id,
                    "fingerprint": lookalike,
                    "start_key": "b",
                },
            ],
        )
        await conn.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    await migrate(engine)

    stored = await _stored(client)
    assert stored[0] == (HEARTBEAT_GROUP_KEY, fingerprint, "firing")
    assert stored[1][1:] == (lookalike, "firing")
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(executions.c.alert_id, executions.c.fingerprint).order_by(executions.c.id)
        )
        assert [tuple(r) for r in rows] == [(alert_id, fingerprint), (lookalike_id, lookalike)]

    # The old fingerprint from a webhook is an alert of its own: the heartbeat's keeps firing.
    resp = await client.post("/webhook", json=_resolved(old, starts_at), headers=HOOK)
    assert resp.status == 200, await resp.text()
    assert (HEARTBEAT_GROUP_KEY, fingerprint, "firing") in await _stored(client)
    assert notices(receiver, "resolved") == []

    # And the heartbeat missing since before the upgrade is resolved by its next beat.
    assert (await beat(client)).status == 200
    await manual_clock.settle()
    assert notices(receiver, "resolved") == [BACKUP_LABELS]
    assert (HEARTBEAT_GROUP_KEY, fingerprint, "resolved") in await _stored(client)
    # Not raised again under another key.
    assert notices(receiver, "firing").count(BACKUP_LABELS) == 1
    await stop(client, manual_clock)


async def test_grafana_sending_a_heartbeats_fingerprint_is_an_alert_of_its_own(
    receiver: WebhookReceiver,
    start: Any,  # noqa: F811
    manual_clock: ManualClock,
) -> None:
    """Grafana's fingerprints are all stored with ``grafana:``, so one spelled like Firebreak's
    never reaches its alert."""
    client = await _missing(receiver, start, manual_clock)
    _, fingerprint, starts_at = await _heartbeat_alert(client)
    forged = grafana_alert(
        status="resolved",
        fingerprint=fingerprint,
        startsAt=starts_at.astimezone(UTC).isoformat(),
        labels=dict(BACKUP_LABELS),
    )
    resp = await client.post("/webhook/grafana", json=grafana_webhook(forged), headers=HOOK)
    assert resp.status == 200, await resp.text()
    stored = await _stored(client)
    assert stored[0] == (HEARTBEAT_GROUP_KEY, fingerprint, "firing")
    assert [f for _, f, _ in stored[1:]] == [f"grafana:{fingerprint}"]
    assert notices(receiver, "resolved").count(BACKUP_LABELS) == 0
    await stop(client, manual_clock)


async def test_an_on_call_gap_stored_the_old_way_is_found_by_its_new_fingerprint(
    client: Any,
) -> None:
    """Migration 0018 on a gap alert: afterwards it has the fingerprint the gap's end looks for
    (``fingerprint_of`` its labels), so the gap's end, which looks it up so, finds it."""
    labels = gap_labels("primary")
    new = fingerprint_of(labels)
    starts_at = datetime(2026, 12, 1, 8, tzinfo=UTC)
    engine = client.app[STORE].engine
    async with engine.begin() as conn:  # as the previous release stored it
        await conn.execute(
            insert(alerts).values(
                fingerprint="fb" + new.removeprefix("firebreak:"),
                starts_at=starts_at,
                status="firing",
                alertname=labels["alertname"],
                labels=labels,
                annotations={},
                group_key=GAP_GROUP_KEY,
                first_seen_at=starts_at,
                last_seen_at=starts_at,
            )
        )
        await conn.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    await migrate(engine)
    assert await _stored(client) == [(GAP_GROUP_KEY, new, "firing")]
