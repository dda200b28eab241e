"""POST /webhook/grafana against hostile senders, beyond what test_grafana_webhook covers:
nesting ten thousand deep, every Grafana field of the wrong type, lone surrogates, a megabyte in
one field, duplicate keys, replays, and hostile text shown escaped in the console. A refused
payload is a 400 naming the field and stores no alert and no webhook."""

from __future__ import annotations

import json
from typing import Any

from receiver.store.tables import alerts, webhooks
from tests.api.test_grafana_webhook import (
    HOOK,
    PATH,
    count,
    grafana_alert,
    grafana_webhook,
    post,
    refused_and_nothing_stored,
)
from tests.api.test_webhook import break_the_store
from tests.cases import crossed, each_case, named
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import login

DEPTH = 10_000


async def post_text(client: Any, text: str) -> Any:
    return await client.post(
        PATH, data=text.encode(), headers={**HOOK, "Content-Type": "application/json"}
    )


NESTED = {
    "whole-body": "[" * DEPTH + "]" * DEPTH,
    "in-a-field": json.dumps(grafana_webhook(grafana_alert()))[:-1]
    + ', "title": '
    + "[" * DEPTH
    + "]" * DEPTH
    + "}",
}


async def test_json_nested_ten_thousand_deep_is_400(client: Any) -> None:
    async def check(text: str) -> None:
        await refused_and_nothing_stored(client, await post_text(client, text), "body", "JSON")

    await each_case(NESTED.items(), check)


WRONG = [None, 7, 1.5, True, ["x"], {"x": "y"}]


async def test_each_top_level_text_field_of_the_wrong_type_is_refused(client: Any) -> None:
    async def check(case: tuple[str, Any]) -> None:
        field, value = case
        payload = {**grafana_webhook(grafana_alert()), field: value}
        await refused_and_nothing_stored(client, await post(client, payload), field, "expected")

    await each_case(crossed(["title", "state", "message"], named(WRONG)), check)


async def test_each_alert_text_field_of_the_wrong_type_is_refused(client: Any) -> None:
    async def check(case: tuple[str, Any]) -> None:
        field, value = case
        payload = grafana_webhook(grafana_alert(**{field: value}))
        resp = await post(client, payload)
        await refused_and_nothing_stored(client, resp, f"alerts[0].{field}", "expected a string")

    fields = ["silenceURL", "dashboardURL", "panelURL", "imageURL", "valueString"]
    await each_case(crossed(fields, named(WRONG)), check)


async def test_an_org_id_that_is_not_a_non_negative_integer_is_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        payload = {**grafana_webhook(grafana_alert()), "orgId": value}
        resp = await post(client, payload)
        await refused_and_nothing_stored(client, resp, "orgId", "non-negative integer")

    await each_case(named([None, "1", -1, 1.0, True, [1], {"id": 1}]), check)


async def test_a_version_other_than_the_string_one_is_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        payload = {**grafana_webhook(grafana_alert()), "version": value}
        resp = await post(client, payload)
        await refused_and_nothing_stored(client, resp, "version", "expected")

    await each_case(named(["one", "1 ", 1, 1.0, None, True, [], {}]), check)


async def test_a_lone_surrogate_escaped_in_json_is_refused(client: Any) -> None:
    async def check(field: str) -> None:
        payload = {**grafana_webhook(grafana_alert()), field: "x"}
        text = json.dumps(payload).replace(f'"{field}": "x"', f'"{field}": "a\\ud800b"')
        await refused_and_nothing_stored(client, await post_text(client, text), "body", "JSON")

    await each_case(named(["title", "message"]), check)


async def test_a_megabyte_in_one_field_is_refused_naming_it(client: Any) -> None:
    payload = grafana_webhook(grafana_alert(valueString="v" * 1_000_000))
    resp = await post(client, payload)
    await refused_and_nothing_stored(client, resp, "alerts[0].valueString", "at most 16384")


async def test_a_duplicated_key_takes_the_last_value_which_is_checked(client: Any) -> None:
    text = json.dumps(grafana_webhook(grafana_alert()))[:-1] + ', "orgId": "1"}'
    await refused_and_nothing_stored(client, await post_text(client, text), "orgId", "integer")
    text = json.dumps({**grafana_webhook(grafana_alert()), "orgId": "x"})[:-1] + ', "orgId": 2}'
    assert (await post_text(client, text)).status == 200
    assert await count(client, alerts) == 1


async def test_the_same_body_replayed_records_one_alert(client: Any) -> None:
    payload = grafana_webhook(grafana_alert())
    for _ in range(5):
        assert (await post(client, payload)).status == 200
    assert await count(client, alerts) == 1
    assert await count(client, webhooks) <= 5


HOSTILE = "<img src=x onerror=alert(1)> <!channel> *bold* {{ 7*7 }} '; DROP TABLE alerts;--"


async def test_hostile_text_is_escaped_in_the_console(client: Any) -> None:
    payload = grafana_webhook(
        grafana_alert(
            labels={"alertname": HOSTILE, "team": HOSTILE},
            annotations={"summary": HOSTILE, "description": HOSTILE},
            valueString=HOSTILE,
            values=None,
            dashboardURL="javascript:alert(1)",
        )
    )
    assert (await post(client, payload)).status == 200
    await login(client, ADMIN_TOKEN)
    listing = await client.get("/")
    assert listing.status == 200
    html = await listing.text()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    listed = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    (alert_id,) = [a["id"] for a in (await listed.json())["alerts"]]
    detail = await (await client.get(f"/console/alerts/{alert_id}")).text()
    assert "<img src=x" not in detail
    assert 'href="javascript:' not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail


async def test_a_store_failure_is_503_so_grafana_retries(client: Any) -> None:
    await break_the_store(client)
    resp = await post(client, grafana_webhook(grafana_alert()))
    assert resp.status == 503
    assert resp.headers["Retry-After"]
