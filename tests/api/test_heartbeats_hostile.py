"""POST /api/v1/heartbeats/{name} against hostile callers, beyond what test_heartbeats covers:
nesting that exhausts a recursive parser inside the 4 KiB body, every JSON type where the
message is expected, invisible and direction-changing characters, duplicate keys, long unknown
field names echoed in the error, and a hostile message shown escaped in the console. A refused
beat is a 4xx naming the field and counts nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_heartbeats import (
    BACKUP_TOKEN,
    HEARTBEATS_CONFIG,
    NIGHTLY_TOKEN,
    heartbeats,
    started,
    stop,
)
from tests.cases import each_case, named
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, auth
from tests.console.conftest import login
from tests.fakes.webhook_receiver import WebhookReceiver

PATH = "/api/v1/heartbeats/backup"


@pytest.fixture
async def client(
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    manual_clock: ManualClock,
    receiver: WebhookReceiver,
) -> Any:
    text = HEARTBEATS_CONFIG.format(url=receiver.url, backup=BACKUP_TOKEN, nightly=NIGHTLY_TOKEN)
    started_client = await started(aiohttp_client, make_config(db_url, text), manual_clock)
    yield started_client
    await stop(started_client, manual_clock)


async def post_text(client: Any, text: str) -> Any:
    headers = {**auth(BACKUP_TOKEN), "Content-Type": "application/json"}
    return await client.post(PATH, data=text.encode(), headers=headers)


async def refused(client: Any, resp: Any, field: str, says: str = "") -> None:
    assert resp.status == 400, await resp.text()
    error = await resp.json()
    assert error["field"] == field
    assert says in error["error"]
    assert (await heartbeats(client))["backup"]["beats"] == 0


async def test_nesting_past_the_decoder_inside_the_body_limit_is_400_not_a_crash(
    client: Any,
) -> None:
    depth = 1_500  # 3 KB: inside the 4 KiB body, past the decoder's recursion limit
    await refused(client, await post_text(client, "[" * depth + "]" * depth), "body", "nested")
    text = '{"message": ' + "[" * depth + "]" * depth + "}"
    await refused(client, await post_text(client, text), "body", "nested too deeply")
    ten_thousand = await post_text(client, "{" * 10_000)
    assert ten_thousand.status == 413  # over the body limit: refused unread
    assert (await heartbeats(client))["backup"]["beats"] == 0


async def test_a_message_of_the_wrong_type_is_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        resp = await client.post(PATH, json={"message": value}, headers=auth(BACKUP_TOKEN))
        await refused(client, resp, "message", "expected a string")

    await each_case(named([True, False, 0, 1.5, [], {}, ["ok"]]), check)


async def test_a_body_that_is_not_an_object_is_refused(client: Any) -> None:
    async def check(text: str) -> None:
        await refused(client, await post_text(client, text), "body", "expected a JSON object")

    await each_case(named(["null", "true", "42", '"ok"', "[]"]), check)


async def test_a_null_message_is_a_beat_without_one(client: Any) -> None:
    resp = await client.post(PATH, json={"message": None}, headers=auth(BACKUP_TOKEN))
    assert resp.status == 200
    assert (await resp.json())["last_message"] is None


UNSEEN = {
    "zero-width-space": "\u200b",
    "zero-width-joiner": "\u200d",
    "bom": "\ufeff",
    "line-separator": "\u2028",
    "carriage-return": "\r",
    "delete": "\x7f",
    "c1": "\x85",
}


async def test_invisible_characters_in_the_message_are_refused(client: Any) -> None:
    async def check(char: str) -> None:
        resp = await client.post(PATH, json={"message": f"ok{char}"}, headers=auth(BACKUP_TOKEN))
        await refused(client, resp, "message", "without control characters")

    await each_case(UNSEEN.items(), check)


async def test_a_lone_surrogate_escaped_in_json_is_refused(client: Any) -> None:
    await refused(client, await post_text(client, '{"message": "a\\udc00b"}'), "message")


async def test_an_unknown_field_is_named_cut_short_and_as_data(client: Any) -> None:
    name = "<script>" + "k" * 3000
    resp = await client.post(PATH, json={name: 1}, headers=auth(BACKUP_TOKEN))
    await refused(client, resp, name[:64], "unknown field")
    assert len((await resp.json())["error"]) < 200


async def test_a_duplicated_key_takes_the_last_value_which_is_checked(client: Any) -> None:
    await refused(client, await post_text(client, '{"message": "ok", "message": 5}'), "message")
    resp = await post_text(client, '{"message": 5, "message": "second"}')
    assert resp.status == 200
    assert (await resp.json())["last_message"] == "second"
    assert (await heartbeats(client))["backup"]["beats"] == 1


async def test_a_token_in_the_body_or_query_authenticates_nothing(client: Any) -> None:
    body = await client.post(PATH, json={"token": BACKUP_TOKEN})
    query = await client.post(f"{PATH}?token={BACKUP_TOKEN}")
    assert (body.status, query.status) == (401, 401)
    assert (await heartbeats(client))["backup"]["beats"] == 0


HOSTILE = "<img src=x onerror=alert(1)> <!channel> *bold* {{ 7*7 }} '; DROP TABLE heartbeats;--"


async def test_a_hostile_message_is_escaped_in_the_console(client: Any) -> None:
    resp = await client.post(PATH, json={"message": HOSTILE}, headers=auth(BACKUP_TOKEN))
    assert resp.status == 200
    await login(client, ADMIN_TOKEN)
    page = await client.get("/console/heartbeats")
    assert page.status == 200
    html = await page.text()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert (await heartbeats(client))["backup"]["last_message"] == HOSTILE
