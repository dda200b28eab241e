"""PagerDuty incidents opened before migrations 0017/0018 gave Grafana's alerts (and Firebreak's
own) new fingerprints: they were opened under the key of the fingerprint before, and are still
acknowledged and resolved under it afterwards, both ways."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text, update

from receiver.store import migrate
from receiver.store.tables import alerts, notifications
from receiver.typedefs import STORE
from tests.api.test_escalation import eventually
from tests.api.test_grafana_webhook import grafana_alert, grafana_webhook
from tests.api.test_pagerduty import (  # noqa: F401 - fake, hook, start: fixtures
    ENDPOINT,
    SECRETS,
    alert_detail,
    fake,
    hook,
    start,
)
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.pagerduty import FakePagerDuty, Incident

HOOK = auth(WEBHOOK_TOKEN)
ZONES = ("us-1", "eu-1")
FINGERPRINTS = {"us-1": "c6eadffa33fcdf37", "eu-1": "bc97ff14869b13e3"}


def _grafana(status: str, *zones: str) -> dict[str, Any]:
    return grafana_webhook(
        *(grafana_alert(status=status, zone=z, fingerprint=FINGERPRINTS[z]) for z in zones)
    )


async def _paged(client: Any, pagerduty: FakePagerDuty, *zones: str) -> dict[str, int]:
    """Grafana's alerts in ``zones`` fired and paged: their ids by zone."""
    resp = await client.post("/webhook/grafana", json=_grafana("firing", *zones), headers=HOOK)
    assert resp.status == 200, await resp.text()
    await eventually(lambda: len(pagerduty.incidents) == len(zones), client=client)
    engine = client.app[STORE].engine

    async def recorded() -> bool:
        async with engine.connect() as conn:
            rows = await conn.execute(select(notifications.c.id))
            return len(rows.all()) == len(zones)

    await eventually(recorded, client=client)
    async with engine.connect() as conn:
        # Each alert's page recorded with the key it went under, a page of several too.
        recorded_keys = {r.reference for r in await conn.execute(select(notifications))}
        assert recorded_keys == {i.incident_key for i in pagerduty.incidents}
        rows = await conn.execute(select(alerts.c.id, alerts.c.fingerprint))
        return {z: r.id for r in rows for z in zones if r.fingerprint.endswith(FINGERPRINTS[z])}


async def _as_the_release_before_left_it(
    client: Any, pagerduty: FakePagerDuty, ids: dict[str, int], *, keys_recorded: bool
) -> dict[str, Incident]:
    """Rewrite what was stored and opened to what a release before 0017 left: fingerprints
    without ``grafana:``, incidents under keys of those, and the keys recorded only for a page
    of one alert. Then upgrade. Returns the incidents by zone."""
    incidents = {}
    engine = client.app[STORE].engine
    async with engine.begin() as conn:
        for zone, alert_id in ids.items():
            fingerprint = FINGERPRINTS[zone]
            incident = next(i for i in pagerduty.incidents if i.incident_key.endswith(fingerprint))
            incident.incident_key = incident.incident_key.replace("grafana:", "")
            incidents[zone] = incident
            await conn.execute(
                update(alerts).where(alerts.c.id == alert_id).values(fingerprint=fingerprint)
            )
            await conn.execute(
                update(notifications)
                .where(notifications.c.alert_id == alert_id)
                .values(reference=incident.incident_key if keys_recorded else None)
            )
        await conn.execute(text("UPDATE alembic_version SET version_num = '0016'"))
    await migrate(engine)
    async with engine.connect() as conn:
        stored = {r.fingerprint for r in await conn.execute(select(alerts.c.fingerprint))}
    assert stored == {f"grafana:{FINGERPRINTS[z]}" for z in ids}
    return incidents


async def test_an_incident_opened_before_the_upgrade_is_acknowledged_and_resolved_by_its_key(
    fake: FakePagerDuty,  # noqa: F811
    start: Any,  # noqa: F811
) -> None:
    client = await start()
    ids = await _paged(client, fake, "us-1")
    incident = (await _as_the_release_before_left_it(client, fake, ids, keys_recorded=True))["us-1"]
    old_key = incident.incident_key
    assert "grafana:" not in old_key
    sent_before = len(fake.requests)

    resp = await client.post(
        f"/api/v1/alerts/{ids['us-1']}/acknowledge", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    await eventually(lambda: incident.status == "acknowledged", client=client)
    resp = await client.post("/webhook/grafana", json=_grafana("resolved", "us-1"), headers=HOOK)
    assert resp.status == 200
    await eventually(lambda: incident.status == "resolved", client=client)
    after = [(r["event_action"], r["dedup_key"]) for r in fake.requests[sent_before:]]
    assert after == [("acknowledge", old_key), ("resolve", old_key)]
    assert len(fake.incidents) == 1


async def test_a_group_paged_before_the_upgrade_is_closed_and_syncs_back_from_pagerduty(
    fake: FakePagerDuty,  # noqa: F811
    start: Any,  # noqa: F811
) -> None:
    """A page of several alerts recorded no key before: an acknowledge or resolve goes to
    every key the alert may have had, and PagerDuty's webhook finds the alert by the old key."""
    client = await start()
    ids = await _paged(client, fake, *ZONES)
    incidents = await _as_the_release_before_left_it(client, fake, ids, keys_recorded=False)

    # Acknowledged in PagerDuty under the old key: acknowledged in Firebreak.
    url = str(client.make_url(ENDPOINT))
    status, body = await fake.send_webhook(url, "incident.acknowledged", incidents["us-1"], SECRETS)
    assert (status, body["outcome"]) == (200, "acknowledged")
    assert (await alert_detail(client, ids["us-1"]))["acknowledged_by"] == "Dana Ops"

    resp = await client.post("/webhook/grafana", json=_grafana("resolved", *ZONES), headers=HOOK)
    assert resp.status == 200
    await eventually(lambda: not fake.open_incidents(), client=client)
    resolved = {r["dedup_key"] for r in fake.requests if r["event_action"] == "resolve"}
    assert {i.incident_key for i in incidents.values()} <= resolved
    assert len(fake.incidents) == 2
