"""Grafana's alerts and Alertmanager's are keyed apart: Grafana computes an alert's fingerprint
from its labels as Alertmanager does, so the same labels from both (same fingerprint, same
startsAt) are two occurrences, and neither source's resolve ends the other's alert."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text, update

from receiver.store import migrate
from receiver.store.tables import alert_events, alerts
from receiver.typedefs import STORE
from tests.api.test_grafana_webhook import grafana_alert, grafana_webhook
from tests.api.test_manual_pages import PAGE
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
LABELS = {"alertname": "HighMemory", "team": "blue", "zone": "us-1"}
FINGERPRINT = "c6eadffa33fcdf37"
STARTS = "2026-11-23T08:00:00.123456Z"


def _grafana(status: str) -> dict[str, Any]:
    one = grafana_alert(
        status=status, labels=LABELS, fingerprint=FINGERPRINT, startsAt=STARTS, endsAt=_ends(status)
    )
    return grafana_webhook(one)


def _alertmanager(status: str, fingerprint: str = FINGERPRINT) -> dict[str, Any]:
    one = alert(status=status, starts_at=STARTS, fingerprint=fingerprint)
    one["labels"] = dict(LABELS)
    return webhook(one)


def _ends(status: str) -> str:
    return "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T09:00:00Z"


SENDERS = {
    "grafana": ("/webhook/grafana", _grafana),
    "alertmanager": ("/webhook", _alertmanager),
}


async def _send(client: Any, source: str, status: str) -> None:
    path, payload = SENDERS[source]
    resp = await client.post(path, json=payload(status), headers=HOOK)
    assert resp.status == 200, await resp.text()


async def _by_source(client: Any) -> dict[str, tuple[str, str]]:
    """Each stored alert's source (from its group key) → (fingerprint, status)."""
    async with client.app[STORE].engine.connect() as conn:
        rows = (await conn.execute(select(alerts).order_by(alerts.c.id))).all()
    found = {}
    for row in rows:
        source = "grafana" if row.group_key.startswith("grafana:") else "alertmanager"
        assert source not in found, "one source's alert stored twice"
        found[source] = (row.fingerprint, row.status)
    return found


@pytest.mark.parametrize(
    ("resolver", "other"), [("grafana", "alertmanager"), ("alertmanager", "grafana")]
)
async def test_one_sources_resolve_never_ends_the_others_alert(
    client: Any, resolver: str, other: str
) -> None:
    await _send(client, "alertmanager", "firing")
    await _send(client, "grafana", "firing")
    assert await _by_source(client) == {
        "alertmanager": (FINGERPRINT, "firing"),
        "grafana": (f"grafana:{FINGERPRINT}", "firing"),
    }

    await _send(client, resolver, "resolved")
    states = await _by_source(client)
    assert states[resolver][1] == "resolved"
    assert states[other][1] == "firing"
    # A replay of the other's firing webhook finds its own occurrence, not a new one.
    await _send(client, other, "firing")
    assert len(await _by_source(client)) == 2

    await _send(client, other, "resolved")
    assert {status for _, status in (await _by_source(client)).values()} == {"resolved"}
    async with client.app[STORE].engine.connect() as conn:
        history = (
            await conn.execute(
                select(alert_events.c.kind, alert_events.c.actor).where(
                    alert_events.c.kind.in_(["fired", "resolved"])
                )
            )
        ).all()
    assert sorted(history) == sorted(
        [
            ("fired", "alertmanager"),
            ("fired", "grafana"),
            ("resolved", "alertmanager"),
            ("resolved", "grafana"),
        ]
    )


async def test_alertmanager_cannot_send_a_fingerprint_of_grafanas(client: Any) -> None:
    await _send(client, "grafana", "firing")
    forged = _alertmanager("resolved", fingerprint=f"grafana:{FINGERPRINT}")
    resp = await client.post("/webhook", json=forged, headers=HOOK)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "alerts[0].fingerprint" and "reserved" in body["error"]
    assert await _by_source(client) == {"grafana": (f"grafana:{FINGERPRINT}", "firing")}


async def test_alertmanager_cannot_send_a_fingerprint_of_a_page_raised_by_hand(
    client: Any,
) -> None:
    resp = await client.post("/api/v1/alerts", json=PAGE, headers=auth(RESPONDER_TOKEN))
    assert resp.status == 201, await resp.text()
    raised = await resp.json()
    assert raised["fingerprint"].startswith("manual-")
    forged = alert(
        status="resolved", starts_at=raised["starts_at"], fingerprint=raised["fingerprint"]
    )
    resp = await client.post("/webhook", json=webhook(forged), headers=HOOK)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "alerts[0].fingerprint" and "reserved" in body["error"]
    async with client.app[STORE].engine.connect() as conn:
        statuses = (await conn.execute(select(alerts.c.status))).all()
    assert statuses == [("firing",)]


async def test_a_grafana_fingerprint_too_long_to_prefix_is_refused_by_name(client: Any) -> None:
    payload = grafana_webhook(grafana_alert(fingerprint="f" * 121))
    resp = await client.post("/webhook/grafana", json=payload, headers=HOOK)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "alerts[0].fingerprint" and "at most 120" in body["error"]
    assert await _by_source(client) == {}
    payload = grafana_webhook(grafana_alert(fingerprint="f" * 120))
    assert (await client.post("/webhook/grafana", json=payload, headers=HOOK)).status == 200
    assert await _by_source(client) == {"grafana": (f"grafana:{'f' * 120}", "firing")}


async def test_grafana_alerts_stored_before_the_upgrade_are_still_resolved_by_grafana(
    client: Any,
) -> None:
    """Migration 0017 gives the prefix to Grafana alerts stored without it."""
    await _send(client, "grafana", "firing")
    engine = client.app[STORE].engine
    async with engine.begin() as conn:  # as the previous release stored it
        await conn.execute(
            update(alerts)
            .where(alerts.c.group_key.startswith("grafana:"))
            .values(fingerprint=FINGERPRINT)
        )
        await conn.execute(text("UPDATE alembic_version SET version_num = '0016'"))
    await migrate(engine)
    assert await _by_source(client) == {"grafana": (f"grafana:{FINGERPRINT}", "firing")}
    await _send(client, "alertmanager", "firing")  # the same labels: an alert of its own
    await _send(client, "grafana", "resolved")
    states = await _by_source(client)
    assert states == {
        "alertmanager": (FINGERPRINT, "firing"),
        "grafana": (f"grafana:{FINGERPRINT}", "resolved"),
    }
