"""``silence`` from the console's form and from ``/firebreak maintenance start --silence``:
the window is made with an Alertmanager silence on a real Alertmanager (its matchers, its
marker), shown as silenced, and ending it expires the silence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import login, press
from tests.fakes.slack import SlackFake
from tests.maintenance.conftest import live, matcher_values, silences
from tests.slack_helpers import ALICE, slack_config, slash_answer

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(
    sqlite_url: str, make_config: Any, slack: SlackFake, on_clock: Any, alertmanager_url: str
) -> Any:
    section = slack_config(slack) + f"alertmanager:\n  url: {alertmanager_url}\n"
    return await on_clock(make_config(sqlite_url, section))


async def _windows(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/maintenance", headers=auth(VIEWER_TOKEN))
    return list((await resp.json())["windows"])


async def test_the_console_form_makes_a_silenced_window_and_ending_it_expires_the_silence(
    client: Any, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/console/maintenance")).text()
    assert 'type="checkbox" name="silence"' in page
    plain = await press(
        client,
        "/console/maintenance",
        csrf,
        name="plain",
        matchers='service="web"',
        reason="r",
        duration="1h",
    )
    assert plain.status == 303
    made = await press(
        client,
        "/console/maintenance",
        csrf,
        name="db-upgrade",
        matchers='service="db"\nenv=~"prod|stage"',
        reason="Postgres upgrade",
        duration="30m",
        silence="on",
    )
    assert made.status == 303, await made.text()
    await manual_clock.settle()
    [silence] = live(alertmanager_url)  # the window left unticked has none
    assert matcher_values(silence) == {"service": "db", "env": "prod|stage"}
    assert silence["comment"].startswith("maintenance window db-upgrade: Postgres upgrade")
    assert {w["name"]: w["silence"] for w in await _windows(client)} == {
        "plain": False,
        "db-upgrade": True,
    }
    listed = await (await client.get("/console/maintenance")).text()
    assert listed.count("silenced in Alertmanager</span>") == 1

    hostile = await press(
        client,
        "/console/maintenance",
        csrf,
        name="other",
        matchers='a="b"',
        reason="r",
        duration="1h",
        silence="true; DROP TABLE",
    )
    assert hostile.status == 400
    assert "silence: expected a ticked check box" in await hostile.text()
    ended = await press(client, "/console/maintenance/end", csrf, name="db-upgrade")
    assert ended.status == 303
    await manual_clock.settle()
    assert live(alertmanager_url) == []
    assert [s["status"]["state"] for s in silences(alertmanager_url)] == ["expired"]
    assert [w["name"] for w in await _windows(client)] == ["plain"]


async def test_slack_start_with_the_silence_flag_makes_a_silenced_window(
    client: Any, slack: SlackFake, manual_clock: ManualClock, alertmanager_url: str
) -> None:
    answer = await slash_answer(
        client,
        slack,
        'maintenance start db-upgrade service="db" 2h --silence Postgres --silence upgrade',
        ALICE,
    )
    assert answer["text"].startswith("Started maintenance window *db-upgrade* (open until ")
    assert ", silenced in Alertmanager) holds" in answer["text"]
    await manual_clock.settle()
    [silence] = live(alertmanager_url)
    assert matcher_values(silence) == {"service": "db"}
    # Only the flag right after the duration is one; later, it is the reason's text.
    assert (
        "maintenance window db-upgrade: Postgres --silence upgrade (owner alice)"
        in (silence["comment"])
    )
    # The flag may come among the name and matchers too; without it, no silence.
    flagged = await slash_answer(
        client, slack, 'maintenance start --silence web service="web" 1h deploy', ALICE
    )
    assert "silenced in Alertmanager" in flagged["text"]
    unflagged = await slash_answer(
        client, slack, 'maintenance start batch job="batch" 1h import', ALICE
    )
    assert "silenced" not in unflagged["text"]
    await manual_clock.settle()
    assert sorted(matcher_values(s).popitem()[1] for s in live(alertmanager_url)) == [
        "db",
        "web",
    ]
    assert {w["name"]: w["silence"] for w in await _windows(client)} == {
        "db-upgrade": True,
        "web": True,
        "batch": False,
    }
    ended = await slash_answer(client, slack, "maintenance end db-upgrade", ALICE)
    assert ended["text"].startswith("Ended maintenance window *db-upgrade*")
    await manual_clock.settle()
    assert [matcher_values(s) for s in live(alertmanager_url)] == [{"service": "web"}]
