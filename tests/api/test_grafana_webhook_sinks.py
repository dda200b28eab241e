"""A Grafana-managed alert's dashboard, panel and image links and its values, where people see
them: Slack (through the fake), Teams (a card the fake validates), email (to the loopback SMTP
server), the console's alert page and the API's alert JSON; and hostile values through each.

Payloads come from tests/api/test_grafana_webhook.py, built from Grafana's documented example.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.grafana_webhook import grafana_links, parse_grafana_webhook
from receiver.notify.base import NoticeAlert
from tests.api.test_channels import ca, mailer, make_notice, parts, smtp  # noqa: F401 (fixtures)
from tests.api.test_grafana_webhook import HOOK, PATH, grafana_alert, grafana_webhook
from tests.api.test_teams import (
    buttons,
    teams,  # noqa: F401 (fixture)
    texts,
)
from tests.api.test_teams import start as teams_app  # noqa: F401 (fixture)
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth, eventually
from tests.console.conftest import Start, login, start  # noqa: F401 (fixture)
from tests.fakes.slack import CHANNEL, SlackFake
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.teams import TeamsWorkflow
from tests.slack_helpers import BOT_TOKEN, block_text, slack_config

HOSTILE = "<!channel> <script>alert(1)</script> *bold* &amp; {{ 7*7 }}"
HOSTILE_LINKS = {
    "dashboardURL": "javascript:alert(document.cookie)",
    "panelURL": "https://grafana.example/d/x|<!channel> click",
    "imageURL": "data:image/png;base64,AAAA",
    "silenceURL": "https://grafana.example/silence\n<!here>",
}


def hostile_alert() -> dict[str, Any]:
    return grafana_alert(
        annotations={"summary": HOSTILE}, values={HOSTILE[:60]: 1.5}, **HOSTILE_LINKS
    )


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(token=BOT_TOKEN) as fake:
        yield fake


async def slack_message(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake, alert: Any
) -> str:
    text = slack_config(slack, tier2_after="1h")
    client = await aiohttp_client(
        create_app(make_config(sqlite_url, text), registry=CollectorRegistry())
    )
    assert (await client.post(PATH, json=grafana_webhook(alert), headers=HOOK)).status == 200
    [message] = await eventually(lambda: slack.top_messages(CHANNEL), what="posted to Slack")
    return block_text(message.blocks)


async def test_slack_shows_the_dashboard_panel_and_image_links_and_the_values(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    shown = await slack_message(aiohttp_client, sqlite_url, make_config, slack, grafana_alert())
    assert "<https://play.grafana.org/d/abc123|Dashboard>" in shown
    assert "<https://play.grafana.org/d/abc123?viewPanel=2|Panel>" in shown
    assert "<https://play.grafana.org/public/img/attachments/abc.png|Image>" in shown
    assert "|Silence in Grafana>" in shown
    assert "Values: B=44.2394, C=1" in shown


async def test_slack_links_only_http_urls_and_escapes_hostile_values(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake
) -> None:
    shown = await slack_message(aiohttp_client, sqlite_url, make_config, slack, hostile_alert())
    assert "javascript:" not in shown and "data:image" not in shown
    assert "|Dashboard>" not in shown and "|Panel>" not in shown and "|Image>" not in shown
    assert "<!channel>" not in shown and "<!here>" not in shown and "<script>" not in shown
    assert "&lt;!channel&gt;" in shown  # shown as text, escaped for mrkdwn


def notice_of(alert: dict[str, Any]) -> Any:
    """A notice for the alert as the parser keeps it (its fields land in ``extra``)."""
    (snapshot,) = parse_grafana_webhook(grafana_webhook(alert)).alerts
    base = make_notice(count=1)
    shown: NoticeAlert = replace(
        base.alerts[0],
        labels=snapshot.labels,
        annotations=snapshot.annotations,
        grafana=grafana_links(snapshot.extra),
    )
    return replace(base, alerts=(shown,))


async def test_email_shows_the_links_and_values_in_text_and_html(
    smtp: FakeSmtpServer,  # noqa: F811 (the fixture imported above)
) -> None:
    await mailer(smtp).send(notice_of(grafana_alert()), "")
    bodies = parts(smtp.messages[0].message)
    text, page = bodies["text/plain"], bodies["text/html"]
    assert "  Dashboard: https://play.grafana.org/d/abc123\r\n" in text
    assert "  Image: https://play.grafana.org/public/img/attachments/abc.png\r\n" in text
    assert "Values: B=44.2394, C=1" in text
    assert '<a href="https://play.grafana.org/d/abc123?viewPanel=2">Panel</a>' in page
    assert "<td>B=44.2394, C=1</td>" in page


async def test_email_escapes_hostile_values_and_links_nothing_but_http(
    smtp: FakeSmtpServer,  # noqa: F811 (the fixture imported above)
) -> None:
    await mailer(smtp).send(notice_of(hostile_alert()), "")
    bodies = parts(smtp.messages[0].message)
    page = bodies["text/html"]
    assert "javascript:" not in page and "data:image" not in page
    assert "<script>" not in page and html.escape("<script>") in page
    assert 'href="https://grafana.example/d/x|' not in page  # a URL never holds | <


async def test_the_api_and_the_console_show_links_and_values(
    start: Start,  # noqa: F811 (the console's fixture, imported above)
) -> None:
    client = await start()
    hostile = grafana_alert("Hostile", fingerprint="00000000000000ff", **HOSTILE_LINKS)
    hostile["annotations"] = {"summary": HOSTILE}
    hostile["values"] = {"<b>x</b>": 2}
    payload = grafana_webhook(grafana_alert(), hostile)
    assert (await client.post(PATH, json=payload, headers=HOOK)).status == 200
    listing = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    by_name = {a["labels"]["alertname"]: a for a in listing["alerts"]}
    good, bad = by_name["High memory usage"], by_name["Hostile"]
    assert good["grafana"] == {
        "dashboard_url": "https://play.grafana.org/d/abc123",
        "panel_url": "https://play.grafana.org/d/abc123?viewPanel=2",
        "silence_url": grafana_alert()["silenceURL"],
        "image_url": "https://play.grafana.org/public/img/attachments/abc.png",
        "values": {"B": 44.23943737541908, "C": 1},
        "value_string": grafana_alert()["valueString"],
    }
    assert bad["grafana"]["dashboard_url"] is None and bad["grafana"]["image_url"] is None
    assert bad["grafana"]["silence_url"] is None  # a newline is never part of a URL
    detail = await client.get(f"/api/v1/alerts/{good['id']}", headers=auth(VIEWER_TOKEN))
    assert (await detail.json())["grafana"]["values"] == {"B": 44.23943737541908, "C": 1}

    await login(client, VIEWER_TOKEN)
    page = await (await client.get(f"/console/alerts/{good['id']}")).text()
    assert '<a href="https://play.grafana.org/d/abc123" rel="noopener noreferrer">Dashboard' in page
    assert "Image</a>" in page and "B=44.2394, C=1" in page
    page = await (await client.get(f"/console/alerts/{bad['id']}")).text()
    assert "javascript:" not in page and "data:image" not in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;=2" in page
    assert "<script>alert(1)</script>" not in page


async def test_teams_cards_carry_the_links_as_buttons_and_the_values_as_a_fact(
    teams: TeamsWorkflow,  # noqa: F811 (the Teams fake, imported above)
    teams_app: Any,  # noqa: F811
    manual_clock: ManualClock,
) -> None:
    client = await teams_app(teams)
    payload = grafana_webhook(
        grafana_alert(), hostile_alert() | {"fingerprint": "00000000000000ff"}
    )
    assert (await client.post(PATH, json=payload, headers=HOOK)).status == 200
    await manual_clock.settle()
    [card] = teams.cards
    assert teams.rejected == []
    links = buttons(card)
    assert links["Dashboard"] == "https://play.grafana.org/d/abc123"
    assert links["Image"] == "https://play.grafana.org/public/img/attachments/abc.png"
    assert not any(url.startswith(("javascript:", "data:")) for url in links.values())
    shown = texts(card)
    assert "B=44\\.2394, C=1" in shown  # card text: markdown characters escaped
    assert any("\\<\\!channel\\>" in text for text in shown)  # the summary, as text
    assert not any(re.search(r"(?<!\\)<", text) for text in shown)  # no bare < anywhere
