"""POST /webhook/grafana: Grafana-managed alerts recorded and escalated like Alertmanager's.

The payloads are built from Grafana's documentation: the example body of "Configure the webhook
notifier for Alerting" (docs/sources/alerting/configure-notifications/manage-contact-points/
integrations/webhook-notifier.md in grafana/grafana), and, for rules that cannot evaluate, the
DatasourceNoData and DatasourceError alerts of "No Data and Error states"
(alerting/fundamentals/alert-rule-evaluation/nodata-and-error-states).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import alert_events, alerts, webhooks
from receiver.typedefs import STORE
from tests.cases import by_first, each_case, named
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
PATH = "/webhook/grafana"
GO_ZERO = "0001-01-01T00:00:00Z"


def grafana_alert(
    alertname: str = "High memory usage",
    *,
    status: str = "firing",
    zone: str = "us-1",
    fingerprint: str = "c6eadffa33fcdf37",
    **fields: Any,
) -> dict[str, Any]:
    """One alert as in the documented example body (webhook-notifier.md, "Webhook JSON
    payload"), with the dashboard, panel and image links a rule tied to a panel carries."""
    body: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": alertname, "team": "blue", "zone": zone},
        "annotations": {
            "description": "The system has high memory usage",
            "runbook_url": "https://myrunbook.com/runbook/1234",
            "summary": f"This alert was triggered for zone {zone}",
        },
        "startsAt": "2021-10-12T09:51:03.157076+02:00",
        "endsAt": GO_ZERO if status == "firing" else "2021-10-12T10:01:03.157076+02:00",
        "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
        "fingerprint": fingerprint,
        "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
        "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
        "dashboardURL": "https://play.grafana.org/d/abc123",
        "panelURL": "https://play.grafana.org/d/abc123?viewPanel=2",
        "values": {"B": 44.23943737541908, "C": 1},
        "valueString": "[ var='B' labels={team=blue, zone=us-1} value=44.23943737541908 ], "
        "[ var='C' labels={team=blue, zone=us-1} value=1 ]",
        "imageURL": "https://play.grafana.org/public/img/attachments/abc.png",
    }
    body.update(fields)
    return body


def no_data_alert(status: str = "firing") -> dict[str, Any]:
    """What Grafana sends when a rule's query returns nothing (No Data state → DatasourceNoData
    alert, labelled with the rule and its data source; values null, links empty)."""
    return grafana_alert(
        "DatasourceNoData",
        status=status,
        fingerprint="0f0e0d0c0b0a0908",
        labels={
            "alertname": "DatasourceNoData",
            "datasource_uid": "P1809F7CD0C75ACF3",
            "ref_id": "A",
            "rulename": "High memory usage",
        },
        annotations={},
        values=None,
        valueString="",
        dashboardURL="",
        panelURL="",
    )


def error_alert() -> dict[str, Any]:
    """What Grafana sends when a rule cannot evaluate (Error state → DatasourceError alert with
    the error in an ``Error`` annotation)."""
    return grafana_alert(
        "DatasourceError",
        fingerprint="1a2b3c4d5e6f7081",
        labels={
            "alertname": "DatasourceError",
            "datasource_uid": "P1809F7CD0C75ACF3",
            "rulename": "High memory usage",
        },
        annotations={"Error": "failed to execute query A: context deadline exceeded"},
        values=None,
        valueString="",
    )


def grafana_webhook(*alerts_: dict[str, Any]) -> dict[str, Any]:
    """The documented top level: Alertmanager's fields, version "1", orgId and the deprecated
    title, state and message."""
    firing = any(a["status"] == "firing" for a in alerts_)
    return {
        "receiver": "My Super Webhook",
        "status": "firing" if firing else "resolved",
        "orgId": 1,
        "alerts": list(alerts_),
        "groupLabels": {},
        "commonLabels": {"team": "blue"},
        "commonAnnotations": {},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": f"[FIRING:{len(alerts_)}]  (blue)",
        "state": "alerting" if firing else "ok",
        "message": "**Firing**\n\nLabels:\n - alertname = T2\n",
    }


def documented_example() -> dict[str, Any]:
    """The two-alert example body of webhook-notifier.md, as documented (empty dashboard and
    panel links, no image)."""
    first = grafana_alert(dashboardURL="", panelURL="")
    second = grafana_alert(
        "High CPU usage",
        zone="eu-1",
        fingerprint="bc97ff14869b13e3",
        startsAt="2021-10-12T09:56:03.157076+02:00",
        generatorURL="https://play.grafana.org/alerting/d1rdpdv7k/edit",
        dashboardURL="",
        panelURL="",
    )
    del first["imageURL"], second["imageURL"], first["valueString"], second["valueString"]
    return grafana_webhook(first, second)


async def post(client: Any, payload: Any, headers: dict[str, str] | None = None) -> Any:
    return await client.post(PATH, json=payload, headers=HOOK if headers is None else headers)


async def stored(client: Any) -> list[Any]:
    async with client.app[STORE].engine.connect() as conn:
        return list((await conn.execute(select(alerts).order_by(alerts.c.id))).all())


async def count(client: Any, table: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_the_documented_example_is_recorded(client: Any) -> None:
    resp = await post(client, documented_example())
    assert resp.status == 200
    assert await resp.json() == {"status": "success", "alerts": 2}
    rows = sorted(await stored(client), key=lambda r: r.alertname, reverse=True)
    assert [(r.alertname, r.fingerprint, r.status) for r in rows] == [
        # Prefixed: apart from an Alertmanager alert with the same labels (test_grafana_apart.py).
        ("High memory usage", "grafana:c6eadffa33fcdf37", "firing"),
        ("High CPU usage", "grafana:bc97ff14869b13e3", "firing"),
    ]
    assert rows[0].starts_at.isoformat() == "2021-10-12T07:51:03.157076+00:00"
    assert rows[0].annotations["runbook_url"] == "https://myrunbook.com/runbook/1234"
    assert rows[0].extra["values"] == {"B": 44.23943737541908, "C": 1}
    assert rows[0].extra["silenceURL"].startswith("https://play.grafana.org/alerting/silence/")
    assert rows[0].extra["dashboardURL"] == ""
    async with client.app[STORE].engine.connect() as conn:
        hook = (await conn.execute(select(webhooks))).one()
    assert hook.receiver == "My Super Webhook" and hook.alert_count == 2
    assert hook.extra["orgId"] == 1 and hook.extra["state"] == "alerting"


async def test_a_replay_records_nothing_twice_and_a_resolve_ends_the_alert(client: Any) -> None:
    payload = grafana_webhook(grafana_alert())
    assert (await post(client, payload)).status == 200
    assert (await post(client, payload)).status == 200  # Grafana retries: the same notification
    assert len(await stored(client)) == 1
    resolved = grafana_webhook(grafana_alert(status="resolved"))
    assert (await post(client, resolved)).status == 200
    (row,) = await stored(client)
    assert row.status == "resolved"
    assert row.ends_at.isoformat() == "2021-10-12T08:01:03.157076+00:00"
    async with client.app[STORE].engine.connect() as conn:
        history = [(e.kind, e.actor) for e in (await conn.execute(select(alert_events))).all()]
    assert ("fired", "grafana") in history and ("resolved", "grafana") in history
    assert [kind for kind, _ in history].count("fired") == 1


async def test_no_data_and_error_alerts_are_recorded_as_alerts(client: Any) -> None:
    resp = await post(client, grafana_webhook(no_data_alert(), error_alert()))
    assert resp.status == 200
    rows = sorted(await stored(client), key=lambda r: r.alertname, reverse=True)
    assert [r.alertname for r in rows] == ["DatasourceNoData", "DatasourceError"]
    assert rows[0].labels["datasource_uid"] == "P1809F7CD0C75ACF3"
    assert rows[0].extra["values"] is None
    assert rows[1].annotations["Error"].startswith("failed to execute query A")


async def test_the_api_shows_grafana_alerts_with_their_fields(client: Any) -> None:
    await post(client, grafana_webhook(grafana_alert()))
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    (shown,) = (await resp.json())["alerts"]
    assert shown["fingerprint"] == "grafana:c6eadffa33fcdf37"
    assert shown["labels"]["alertname"] == "High memory usage"


async def test_grafana_alerts_escalate_through_their_tiers_and_resolve(
    escalating: Any, receiver: WebhookReceiver, manual_clock: ManualClock
) -> None:
    await post(escalating, grafana_webhook(grafana_alert(), error_alert()))
    await manual_clock.settle()
    bodies = [receiver.json(i) for i in range(len(receiver.requests))]
    assert [b["kind"] for b in bodies] == ["firing"]
    assert sorted(a["labels"]["alertname"] for a in bodies[0]["alerts"]) == [
        "DatasourceError",
        "High memory usage",
    ]
    await manual_clock.advance(timedelta(seconds=30))  # tier 2 of the policy
    assert [r.path for r in receiver.requests] == ["/hook", "/hook?tier=2"]
    await post(escalating, grafana_webhook(grafana_alert(status="resolved")))
    await manual_clock.settle()
    resolved = [receiver.json(i) for i in range(2, len(receiver.requests))]
    assert [b["kind"] for b in resolved] == ["resolved", "resolved"]


async def test_the_webhook_credentials_and_body_limit_apply(client: Any) -> None:
    for headers in ({}, auth("wrong"), auth(ADMIN_TOKEN)):
        assert (await post(client, grafana_webhook(grafana_alert()), headers)).status == 401
    huge = grafana_webhook(
        *(
            grafana_alert(f"A{i}", fingerprint=f"{i:016x}", valueString="x" * 2000)
            for i in range(600)
        )
    )
    assert (await post(client, huge)).status == 413
    assert await count(client, alerts) == 0


def _with(alert_fields: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    payload = grafana_webhook(grafana_alert(**(alert_fields or {})))
    payload.update(top)
    return payload


def _without(field: str) -> dict[str, Any]:
    payload = grafana_webhook(grafana_alert())
    del payload["alerts"][0][field]
    return payload


BAD = [
    ("version", _with(version="4"), "POST /webhook"),
    ("version", _with(version=1), 'expected "1"'),
    ("orgId", _with(orgId="1"), "non-negative integer"),
    ("orgId", {k: v for k, v in _with().items() if k != "orgId"}, "missing"),
    ("title", _with(title=["x"]), "expected a string"),
    ("alerts[0].dashboardURL", _with({"dashboardURL": 7}), "expected a string"),
    ("alerts[0].panelURL", _without("panelURL"), "missing"),
    ("alerts[0].imageURL", _with({"imageURL": "h" * 5000}), "at most 4096"),
    ("alerts[0].valueString", _with({"valueString": "v" * 20_000}), "at most 16384"),
    ("alerts[0].values", _with({"values": [1, 2]}), "object of numbers or null"),
    ('alerts[0].values["B"]', _with({"values": {"B": "44"}}), "expected a number"),
    ('alerts[0].values["B"]', _with({"values": {"B": True}}), "expected a number"),
    ('alerts[0].values["B"]', _with({"values": {"B": {"deep": [[[]]]}}}), "expected a number"),
    ("alerts[0].values", _with({"values": {f"v{i}": i for i in range(101)}}), "at most 100"),
    ("alerts[0].fingerprint", _with({"fingerprint": ""}), "non-empty"),
    ("alerts[0].labels.team", _with({"labels": {"alertname": "x", "team": 1}}), "a string"),
    ("alerts[0].startsAt", _with({"startsAt": "yesterday"}), "RFC 3339"),
]


async def test_a_bad_payload_is_400_naming_the_field_and_changes_nothing(client: Any) -> None:
    async def check(case: tuple[str, Any, str]) -> None:
        field, payload, says = case
        await refused_and_nothing_stored(client, await post(client, payload), field, says)

    await each_case(by_first(BAD), check)


async def refused_and_nothing_stored(client: Any, resp: Any, field: str, says: str) -> None:
    """``resp`` is a 400 naming ``field`` and saying ``says``, and no alert or webhook is stored."""
    assert resp.status == 400
    error = await resp.json()
    assert error["field"] == field
    assert says in error["error"]
    assert await count(client, alerts) == 0
    assert await count(client, webhooks) == 0


async def test_non_json_values_and_nul_are_refused(client: Any) -> None:
    text = json.dumps(grafana_webhook(grafana_alert())).replace("44.23943737541908", "NaN")
    resp = await client.post(PATH, data=text, headers={**HOOK, "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["field"] == "body"
    nul = grafana_webhook(grafana_alert(panelURL="https://x/\u0000"))
    resp = await post(client, nul)
    assert resp.status == 400 and "NUL" in (await resp.json())["error"]
    assert await count(client, alerts) == 0


async def test_each_path_takes_only_its_own_payload(client: Any) -> None:
    resp = await client.post("/webhook", json=grafana_webhook(grafana_alert()), headers=HOOK)
    assert resp.status == 400 and (await resp.json())["field"] == "version"
    resp = await post(client, webhook(alert()))
    assert resp.status == 400 and "POST /webhook" in (await resp.json())["error"]
    assert await count(client, alerts) == 0


async def test_alertmanager_cannot_pass_its_alerts_off_as_grafanas_or_firebreaks_own(
    client: Any,
) -> None:
    async def check(group_key: str) -> None:
        payload = webhook(alert(), group_key=group_key)
        resp = await client.post("/webhook", json=payload, headers=HOOK)
        assert resp.status == 400 and (await resp.json())["field"] == "groupKey"
        assert await count(client, alerts) == 0

    group_keys = [
        "grafana:{}:{}",
        "firebreak:manual",
        "firebreak:heartbeats",
        "firebreak:oncall_gap",
    ]
    await each_case(named(group_keys), check)


async def test_hostile_strings_are_stored_as_data(client: Any) -> None:
    hostile = "<script>alert(1)</script> *bold* <!channel> {{ 7*7 }} '; DROP TABLE alerts; --"
    payload = grafana_webhook(
        grafana_alert(
            labels={"alertname": hostile, "severity": "critical\n<@U123>"},
            annotations={"summary": hostile},
            dashboardURL="javascript:alert(1)",
            valueString=hostile,
        )
    )
    original = copy.deepcopy(payload)
    assert (await post(client, payload)).status == 200
    (row,) = await stored(client)
    assert row.labels["alertname"] == hostile and row.annotations["summary"] == hostile
    assert row.extra["dashboardURL"] == "javascript:alert(1)"  # kept as sent; never shown as a link
    assert payload == original
