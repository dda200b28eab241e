"""``/api/v1/schedules``: who is on call, shifts, overrides made and deleted over HTTP, audited;
bad input answered 400 naming the field, and nothing changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import Config, load_config
from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, config_text
from tests.oncall.common import utc

ONCALL = """
people:
  - {id: alice, name: Alice Archer}
  - {id: bob, name: Bob Baker}
  - {id: carol, name: Carol Chen}
schedules:
  - id: payments
    name: Payments primary
    time_zone: Europe/London
    layers:
      - {members: [alice, bob], shift: weekly, handoff: "09:00", start: "2026-01-05"}
"""

Client = TestClient[Any, Any]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utc(2026, 1, 6, 10))  # Tuesday of alice's first week


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_url: str,
    make_config: Callable[..., Config],
    clock: ManualClock,
) -> Client:
    config = make_config(sqlite_url, ONCALL)
    app = create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    clock.watch(client.app)
    return client


async def _get(api: Client, path: str, status: int = 200) -> Any:
    resp = await api.get(path, headers=auth(VIEWER_TOKEN))
    body = await resp.json()
    assert resp.status == status, body
    return body


async def _override(api: Client, body: Any, status: int = 201, token: str = RESPONDER_TOKEN) -> Any:
    resp = await api.post("/api/v1/schedules/payments/overrides", json=body, headers=auth(token))
    answer = await resp.json()
    assert resp.status == status, answer
    return answer


async def test_who_is_on_call_now_next_and_over_a_range(api: Client) -> None:
    listed = await _get(api, "/api/v1/schedules")
    assert listed["schedules"][0]["id"] == "payments"
    assert listed["schedules"][0]["on_call"] == [{"id": "alice", "name": "Alice Archer"}]
    assert listed["schedules"][0]["layers"][0]["shift"] == "1w"
    now = await _get(api, "/api/v1/schedules/payments/oncall")
    assert now["at"] == "2026-01-06T10:00:00Z"
    assert now["shift"]["start"] == "2026-01-05T09:00:00Z"
    assert now["next"]["people"] == [{"id": "bob", "name": "Bob Baker"}]
    assert now["next"]["start"] == "2026-01-12T09:00:00Z"
    later = await _get(api, "/api/v1/schedules/payments/oncall?at=2026-01-13T00:00:00%2B01:00")
    assert [p["id"] for p in later["on_call"]] == ["bob"]
    before = await _get(api, "/api/v1/schedules/payments/oncall?at=2026-01-01T00:00:00Z")
    assert before["on_call"] == [] and before["shift"] is None
    assert before["next"]["start"] == "2026-01-05T09:00:00Z"
    rota = await _get(
        api, "/api/v1/schedules/payments/shifts?from=2026-01-04T00:00:00Z&to=2026-01-13T00:00:00Z"
    )
    assert [(s["people"][0]["id"], s["start"]) for s in rota["shifts"]] == [
        ("alice", "2026-01-05T09:00:00Z"),
        ("bob", "2026-01-12T09:00:00Z"),
    ]
    assert rota["gaps"] == [{"start": "2026-01-04T00:00:00Z", "end": "2026-01-05T09:00:00Z"}]


async def test_an_override_is_who_is_on_call_until_it_is_deleted_and_both_are_audited(
    api: Client, clock: ManualClock
) -> None:
    made = await _override(api, {"person": "carol", "duration": "4h"})
    assert made["start"] == "2026-01-06T10:00:00Z" and made["end"] == "2026-01-06T14:00:00Z"
    assert made["created_by"] == "api:bob"
    now = await _get(api, "/api/v1/schedules/payments/oncall")
    assert now["on_call"] == [{"id": "carol", "name": "Carol Chen"}]
    assert now["shift"]["source"] == "override" and now["shift"]["override"] == made["id"]
    assert now["next"]["people"][0]["id"] == "alice"
    assert now["next"]["start"] == "2026-01-06T14:00:00Z"
    # A replay of the same request makes an identical override, and changes nobody's shift.
    again = await _override(api, {"person": "carol", "duration": "4h"})
    assert again["id"] != made["id"]
    assert (await _get(api, "/api/v1/schedules/payments/oncall"))["on_call"][0]["id"] == "carol"
    for override in (made, again):
        resp = await api.delete(
            f"/api/v1/schedules/payments/overrides/{override['id']}", headers=auth(RESPONDER_TOKEN)
        )
        assert resp.status == 200, await resp.text()
    assert (await _get(api, "/api/v1/schedules/payments/oncall"))["on_call"][0]["id"] == "alice"
    gone = await api.delete(
        f"/api/v1/schedules/payments/overrides/{made['id']}", headers=auth(RESPONDER_TOKEN)
    )
    assert gone.status == 404
    resp = await api.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))
    entries = (await resp.json())["entries"]
    assert [(e["action"], e["actor"], e["target"], e["status"]) for e in entries[:4]] == [
        ("schedule_override_delete", "bob", "payments", 404),
        ("schedule_override_delete", "bob", "payments", 200),
        ("schedule_override_delete", "bob", "payments", 200),
        ("schedule_override", "bob", "payments", 201),
    ]


async def test_an_override_ends_by_itself(api: Client, clock: ManualClock) -> None:
    await _override(
        api, {"person": "carol", "start": "2026-01-06T11:00:00Z", "end": "2026-01-06T12:00:00Z"}
    )
    assert (await _get(api, "/api/v1/schedules/payments/oncall"))["on_call"][0]["id"] == "alice"
    await clock.advance(3600)
    assert (await _get(api, "/api/v1/schedules/payments/oncall"))["on_call"][0]["id"] == "carol"
    await clock.advance(3600)
    assert (await _get(api, "/api/v1/schedules/payments/oncall"))["on_call"][0]["id"] == "alice"


async def test_a_viewer_may_not_make_an_override(api: Client) -> None:
    refused = await _override(api, {"person": "carol", "duration": "1h"}, 403, VIEWER_TOKEN)
    assert "role" in refused["error"]
    rota = await _get(api, "/api/v1/schedules/payments/shifts")
    assert rota["overrides"] == []


INJECTION = 'carol"; DROP TABLE oncall_overrides; --<script>alert(1)</script>{{7*7}}'


BAD_OVERRIDES = [
    ({"duration": "1h"}, "person"),
    ({"person": 42, "duration": "1h"}, "person"),
    ({"person": ["carol"], "duration": "1h"}, "person"),
    ({"person": INJECTION, "duration": "1h"}, "person"),
    ({"person": "x" * 100_00, "duration": "1h"}, "person"),
    ({"person": "carol"}, "end"),
    ({"person": "carol", "duration": "1h", "end": "2026-01-06T12:00:00Z"}, "end"),
    ({"person": "carol", "duration": 3600}, "duration"),
    ({"person": "carol", "duration": "an hour"}, "duration"),
    ({"person": "carol", "duration": "99999999999999999999w"}, "duration"),
    ({"person": "carol", "duration": "-1h"}, "duration"),
    ({"person": "carol", "duration": "2y"}, "end"),
    ({"person": "carol", "end": "tomorrow"}, "end"),
    ({"person": "carol", "end": "2026-01-06T12:00:00"}, "end"),
    ({"person": "carol", "end": {"$gt": ""}}, "end"),
    (
        {"person": "carol", "start": "2026-01-06T12:00:00Z", "end": "2026-01-06T11:00:00Z"},
        "end",
    ),
    ({"person": "carol", "end": "2026-01-01T00:00:00Z"}, "end"),
    ({"person": "carol", "start": "2030-01-01T00:00:00Z", "duration": "1h"}, "start"),
    ({"person": "carol", "start": 1767690000, "duration": "1h"}, "start"),
]


async def test_a_bad_override_is_refused_naming_the_field(api: Client) -> None:
    async def check(case: tuple[str, dict[str, Any]]) -> None:
        field, body = case
        answer = await _override(api, body, 400)
        assert answer["field"] == field, answer
        assert "DROP TABLE" not in answer["error"] and len(answer["error"]) < 300
        rota = await _get(api, "/api/v1/schedules/payments/shifts")
        assert rota["overrides"] == []

    await each_case(by_first((field, body) for body, field in BAD_OVERRIDES), check)


async def test_bad_requests_name_what_was_expected(api: Client) -> None:
    assert (await _get(api, "/api/v1/schedules/nope/oncall", 404))["error"].startswith(
        "no schedule 'nope'"
    )
    deep = "/api/v1/schedules/" + "%2F..%2F" * 50 + "/oncall"
    assert (await api.get(deep, headers=auth(VIEWER_TOKEN))).status in (400, 404)
    bad_at = await _get(api, "/api/v1/schedules/payments/oncall?at=yesterday", 400)
    assert bad_at["field"] == "at"
    too_long = await _get(
        api,
        "/api/v1/schedules/payments/shifts?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
        400,
    )
    assert too_long["field"] == "to" and "92 days" in too_long["error"]
    backwards = await _get(
        api,
        "/api/v1/schedules/payments/shifts?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        400,
    )
    assert backwards["field"] == "to"
    resp = await api.delete(
        "/api/v1/schedules/payments/overrides/not-a-number", headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 404
    resp = await api.post(
        "/api/v1/schedules/payments/overrides",
        data="[" * 100_000,
        headers={**auth(RESPONDER_TOKEN), "Content-Type": "application/json"},
    )
    assert resp.status in (400, 413)


async def test_a_reload_changes_the_schedules_asked_and_keeps_the_overrides(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_url: str,
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(sqlite_url, ONCALL))
    app = create_app(
        load_config(path),
        clock=clock,
        monotonic=clock.monotonic,
        registry=CollectorRegistry(),
        config_path=str(path),
    )
    api = await aiohttp_client(app)
    await _override(api, {"person": "carol", "start": "2026-01-07T09:00:00Z", "duration": "1h"})
    path.write_text(config_text(sqlite_url, ONCALL.replace("[alice, bob]", "[bob, alice]")))
    resp = await api.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200, await resp.text()
    now = await _get(api, "/api/v1/schedules/payments/oncall")
    assert [p["id"] for p in now["on_call"]] == ["bob"]
    later = await _get(api, "/api/v1/schedules/payments/oncall?at=2026-01-07T09:30:00Z")
    assert [p["id"] for p in later["on_call"]] == ["carol"]
