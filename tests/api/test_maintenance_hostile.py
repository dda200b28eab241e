"""POST /api/v1/maintenance against hostile callers: nesting deep enough to exhaust a recursive
parser, every field of the wrong type, NUL, control and invisible characters (which PostgreSQL
cannot store or which hide what a window says), bodies over the limit, duplicate keys and
replays. A refused window is a 4xx naming the field and leaves the store as it was; what is
taken is shown escaped in the console. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from receiver.store.tables import maintenance_windows
from receiver.typedefs import STORE
from tests.api.test_maintenance import GOOD, RESPONDER
from tests.cases import crossed, each_case, named
from tests.conftest import ADMIN_TOKEN
from tests.console.conftest import login

PATH = "/api/v1/maintenance"


async def windows(client: Any) -> int:
    async with client.app[STORE].engine.connect() as conn:
        query = select(func.count()).select_from(maintenance_windows)
        return int((await conn.execute(query)).scalar_one())


async def post_text(client: Any, text: str) -> Any:
    headers = {**RESPONDER, "Content-Type": "application/json"}
    return await client.post(PATH, data=text.encode(), headers=headers)


async def refused(client: Any, resp: Any, field: str, says: str = "") -> None:
    assert resp.status == 400, await resp.text()
    error = await resp.json()
    assert error["field"] == field
    assert says in error["error"]
    assert await windows(client) == 0


async def test_json_nested_deeper_than_the_parser_goes_is_400_not_a_crash(client: Any) -> None:
    depth = 5_000  # 10 KB: inside the 16 KiB body, far past the decoder's recursion limit
    for text in ("[" * depth + "]" * depth, json.dumps(GOOD)[:-1] + ', "owner": ' + "[" * depth):
        resp = await post_text(client, text)
        await refused(client, resp, "body", "nested too deeply" if text[0] == "[" else "JSON")
    ten_thousand = await post_text(client, "[" * 10_000 + "]" * 10_000)
    assert ten_thousand.status == 413  # 20 KB: over the body limit, refused unread
    assert await windows(client) == 0


WRONG = [42, 1.5, True, ["x"], {"x": "y"}]
TEXT_FIELDS = ["name", "reason", "owner", "start", "end", "duration", "rrule", "cron", "time_zone"]


async def test_every_text_field_of_the_wrong_type_is_refused(client: Any) -> None:
    async def check(case: tuple[str, Any]) -> None:
        field, value = case
        resp = await client.post(PATH, json={**GOOD, field: value}, headers=RESPONDER)
        await refused(client, resp, field)

    await each_case(crossed(TEXT_FIELDS, named(WRONG)), check)


async def test_matchers_of_the_wrong_type_are_refused(client: Any) -> None:
    async def check(value: Any) -> None:
        resp = await client.post(PATH, json={**GOOD, "matchers": value}, headers=RESPONDER)
        assert resp.status == 400
        assert (await resp.json())["field"] in ("matchers", "matchers[0]")
        assert await windows(client) == 0

    await each_case(named([42, True, {"a": "b"}, None, [None], [['a="b"']]]), check)


async def test_silence_takes_only_a_boolean(client: Any) -> None:
    async def check(value: Any) -> None:
        resp = await client.post(PATH, json={**GOOD, "silence": value}, headers=RESPONDER)
        await refused(client, resp, "silence", "expected true or false")

    await each_case(named(["true", 1, 0, [True], {"on": True}]), check)


UNSEEN = {
    "nul": "\x00",
    "escape": "\x1b[31m",
    "carriage-return": "\r",
    "rtl-override": "\u202e",
    "zero-width-space": "\u200b",
    "bom": "\ufeff",
}


async def test_control_and_invisible_characters_in_text_are_refused(client: Any) -> None:
    async def check(case: tuple[str, str]) -> None:
        field, char = case
        resp = await client.post(PATH, json={**GOOD, field: f"db{char}upgrade"}, headers=RESPONDER)
        await refused(client, resp, field, "control characters")

    await each_case(crossed(["reason", "owner"], UNSEEN.items()), check)


async def test_control_characters_in_a_matcher_are_refused(client: Any) -> None:
    async def check(char: str) -> None:
        resp = await client.post(
            PATH, json={**GOOD, "matchers": [f'service="db{char}"']}, headers=RESPONDER
        )
        await refused(client, resp, "matchers[0]")

    await each_case(named(["\x00", "\u202e", "\u200b", "\x1b"]), check)


async def test_a_lone_surrogate_escaped_in_json_is_refused(client: Any) -> None:
    text = json.dumps({**GOOD, "reason": "x"}).replace('"x"', '"a\\ud800b"')
    await refused(client, await post_text(client, text), "reason")


async def test_a_reason_may_span_lines(client: Any) -> None:
    resp = await client.post(
        PATH, json={**GOOD, "reason": "Postgres upgrade\n\tthen reindex"}, headers=RESPONDER
    )
    assert resp.status == 201
    assert (await resp.json())["reason"] == "Postgres upgrade\n\tthen reindex"


async def test_a_huge_field_inside_the_limit_and_a_body_over_it(client: Any) -> None:
    resp = await client.post(PATH, json={**GOOD, "owner": "o" * 15_000}, headers=RESPONDER)
    await refused(client, resp, "owner", "at most 256 characters")
    megabyte = await client.post(PATH, json={**GOOD, "reason": "r" * 1_000_000}, headers=RESPONDER)
    assert megabyte.status == 413
    assert await windows(client) == 0


async def test_a_duplicated_key_takes_the_last_value_which_is_checked(client: Any) -> None:
    bad = json.dumps(GOOD)[:-1] + ', "name": "../../etc/passwd"}'
    await refused(client, await post_text(client, bad), "name")
    good = json.dumps({**GOOD, "name": "../x"})[:-1] + ', "name": "w2"}'
    resp = await post_text(client, good)
    assert resp.status == 201
    assert (await resp.json())["name"] == "w2"
    assert await windows(client) == 1


async def test_the_same_window_replayed_is_made_once(client: Any) -> None:
    answers = [await client.post(PATH, json=GOOD, headers=RESPONDER) for _ in range(3)]
    assert [r.status for r in answers] == [201, 409, 409]
    assert "exists already" in (await answers[1].json())["error"]
    assert await windows(client) == 1


HOSTILE = "<img src=x onerror=alert(1)> <!channel> *bold* {{ 7*7 }} '; DROP TABLE alerts;--"


async def test_hostile_text_is_kept_as_data_and_escaped_in_the_console(client: Any) -> None:
    body = {**GOOD, "reason": HOSTILE, "owner": HOSTILE[:200], "matchers": [f'team="{HOSTILE}"']}
    resp = await client.post(PATH, json=body, headers=RESPONDER)
    assert resp.status == 201, await resp.text()
    shown = await resp.json()
    assert shown["reason"] == HOSTILE
    await login(client, ADMIN_TOKEN)
    page = await client.get("/console/maintenance")
    assert page.status == 200
    html = await page.text()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert await windows(client) == 1


async def test_a_long_unknown_field_is_named_cut_short(client: Any) -> None:
    name = "<script>" + "k" * 15_000
    resp = await client.post(PATH, json={**GOOD, name: "x"}, headers=RESPONDER)
    await refused(client, resp, name[:64], "unknown field")
    assert len(await resp.text()) < 1000
