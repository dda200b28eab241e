"""POST /api/v1/alerts against hostile callers: nesting deep enough to exhaust a recursive
parser, every field of the wrong type, invisible and direction-changing characters, bodies over
the limit, duplicate keys and replays. A refused page is a 4xx naming the field and leaves no
alert, webhook or manual page behind; what is taken is shown escaped in the console."""

from __future__ import annotations

import json
from typing import Any

from receiver.store.tables import alerts, manual_pages
from tests.api.test_grafana_webhook import refused_and_nothing_stored
from tests.api.test_manual_pages import PAGE, count, raise_page
from tests.cases import crossed, each_case, named
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, auth
from tests.console.conftest import login

DEPTH = 10_000


async def post_text(client: Any, text: str) -> Any:
    headers = {**auth(RESPONDER_TOKEN), "Content-Type": "application/json"}
    return await client.post("/api/v1/alerts", data=text.encode(), headers=headers)


async def nothing_stored(client: Any) -> None:
    assert await count(client, alerts) == 0
    assert await count(client, manual_pages) == 0


NESTED = {
    "array": "[" * DEPTH + "]" * DEPTH,
    "object": '{"a":' * DEPTH + "1" + "}" * DEPTH,
    "in-a-field": json.dumps({**PAGE, "labels": None})[:-1]
    + ', "details": '
    + "[" * DEPTH
    + "]" * DEPTH
    + "}",
}


async def test_json_nested_ten_thousand_deep_is_400_not_a_crash(client: Any) -> None:
    async def check(text: str) -> None:
        resp = await post_text(client, text)
        assert resp.status == 400
        error = await resp.json()
        assert error["field"] == "body"
        assert "nested too deeply" in error["error"]
        await nothing_stored(client)

    await each_case(NESTED.items(), check)


WRONG = [42, 4.5, True, False, ["x"], {"x": "y"}]


async def test_every_text_field_of_the_wrong_type_is_refused(client: Any) -> None:
    async def check(case: tuple[str, Any]) -> None:
        field, value = case
        resp = await raise_page(client, {**PAGE, field: value})
        await refused_and_nothing_stored(client, resp, field, "expected a string, got")
        assert await count(client, manual_pages) == 0

    fields = ["key", "title", "details", "severity", "target"]
    await each_case(crossed(fields, named(WRONG)), check)


async def test_labels_of_the_wrong_type_are_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        resp = await raise_page(client, {**PAGE, "labels": value})
        await refused_and_nothing_stored(client, resp, "labels", "expected an object of strings")

    await each_case(named([42, True, "team=dba", ["team=dba"], [{"team": "dba"}]]), check)


async def test_a_label_value_that_is_not_a_string_is_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        resp = await raise_page(client, {**PAGE, "labels": {"team": value}})
        await refused_and_nothing_stored(client, resp, "labels.team", "expected a string")

    await each_case(named([None, 1, True, [], {}]), check)


async def test_a_required_field_sent_as_null_is_missing(client: Any) -> None:
    async def check(field: str) -> None:
        resp = await raise_page(client, {**PAGE, field: None})
        await refused_and_nothing_stored(client, resp, field, "required field is missing")

    await each_case(named(["key", "title"]), check)


UNSEEN = {
    "nul": "\x00",
    "escape": "\x1b[31m",
    "bell": "\x07",
    "rtl-override": "\u202e",
    "zero-width-space": "\u200b",
    "zero-width-joiner": "\u200d",
    "bom": "\ufeff",
    "line-separator": "\u2028",
}


async def test_invisible_and_control_characters_are_refused(client: Any) -> None:
    async def check(case: tuple[str, str]) -> None:
        field, char = case
        resp = await raise_page(client, {**PAGE, field: f"db{char}down"})
        await refused_and_nothing_stored(client, resp, field, "control characters")

    await each_case(crossed(["title", "details"], UNSEEN.items()), check)


async def test_invisible_characters_in_a_label_value_are_refused(client: Any) -> None:
    async def check(char: str) -> None:
        resp = await raise_page(client, {**PAGE, "labels": {"team": f"d{char}ba"}})
        await refused_and_nothing_stored(client, resp, "labels.team", "without control characters")

    await each_case(UNSEEN.items(), check)


async def test_label_names_outside_the_prometheus_syntax_are_refused(client: Any) -> None:
    async def check(name: str) -> None:
        resp = await raise_page(client, {**PAGE, "labels": {name: "x"}})
        await refused_and_nothing_stored(client, resp, "labels", "expected label names like")

    names = ["te\u200bam", "t\u202eeam", "tëam", "team\x00", "$(id)", "a b"]
    await each_case(named(names), check)


async def test_a_lone_surrogate_escaped_in_json_is_refused(client: Any) -> None:
    async def check(field: str) -> None:
        text = json.dumps({**PAGE, field: "x"}).replace('"x"', '"a\\ud800b"')
        resp = await post_text(client, text)
        assert resp.status == 400
        assert (await resp.json())["field"] == field
        await nothing_stored(client)

    await each_case(named(["title", "details", "key"]), check)


async def test_a_field_too_long_is_refused_and_a_body_over_the_limit_is_413(client: Any) -> None:
    # 60 KB of details still fits the 64 KiB body: the field's own limit refuses it.
    resp = await raise_page(client, {**PAGE, "details": "d" * 60_000})
    await refused_and_nothing_stored(client, resp, "details", "at most 4000 characters")
    # A megabyte does not fit the body: refused before it is read.
    resp = await raise_page(client, {**PAGE, "details": "d" * 1_000_000})
    assert resp.status == 413
    assert "limit" in (await resp.json())["error"]
    await nothing_stored(client)


async def test_a_form_or_non_utf8_body_is_refused(client: Any) -> None:
    form = await client.post(
        "/api/v1/alerts",
        data="key=a&title=b",
        headers={**auth(RESPONDER_TOKEN), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 415
    latin1 = json.dumps({**PAGE, "title": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    headers = {**auth(RESPONDER_TOKEN), "Content-Type": "application/json"}
    resp = await client.post("/api/v1/alerts", data=latin1, headers=headers)
    assert resp.status == 400 and (await resp.json())["field"] == "body"
    await nothing_stored(client)


async def test_a_duplicated_key_takes_one_value_and_raises_one_alert(client: Any) -> None:
    # JSON leaves duplicate names undefined; the last one is taken, as every Python and Go
    # decoder on the path does, and it is still checked like any value.
    text = json.dumps(PAGE)[:-1] + ', "severity": "info", "title": "second title"}'
    resp = await post_text(client, text)
    assert resp.status == 201
    shown = await resp.json()
    assert shown["labels"]["severity"] == "info"
    assert shown["labels"]["alertname"] == "second title"
    bad = json.dumps(PAGE)[:-1] + ', "severity": "sev0"}'
    refused = await post_text(client, bad)
    assert refused.status == 400 and (await refused.json())["field"] == "severity"
    assert await count(client, alerts) == 1
    assert await count(client, manual_pages) == 1


async def test_the_same_request_replayed_raises_one_alert_and_one_page(client: Any) -> None:
    answers = [await raise_page(client, PAGE) for _ in range(5)]
    assert [r.status for r in answers] == [201, 200, 200, 200, 200]
    assert len({(await r.json())["id"] for r in answers}) == 1
    assert await count(client, alerts) == 1
    assert await count(client, manual_pages) == 1


HOSTILE = "<img src=x onerror=alert(1)> <!channel> *bold* {{ 7*7 }} '; DROP TABLE alerts;--"


async def test_hostile_text_is_escaped_in_the_console(client: Any) -> None:
    resp = await raise_page(
        client, {**PAGE, "title": HOSTILE, "details": HOSTILE, "labels": {"team": HOSTILE}}
    )
    assert resp.status == 201
    alert_id = (await resp.json())["id"]
    await login(client, ADMIN_TOKEN)
    for path in ("/", f"/console/alerts/{alert_id}"):
        page = await client.get(path)
        assert page.status == 200
        html = await page.text()
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert await count(client, alerts) == 1


async def test_a_long_unknown_field_is_named_cut_short(client: Any) -> None:
    name = "<script>" + "k" * 60_000
    resp = await raise_page(client, {**PAGE, name: "x"})
    await refused_and_nothing_stored(client, resp, name[:64], "unknown field")
    assert len(await resp.text()) < 1000
