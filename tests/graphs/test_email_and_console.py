"""Graphs in e-mail (an inline image, ``cid:``) and in the console
(``/console/alerts/{id}/graph.png``): a real Prometheus holding a known hour, a real SMTP server,
the application on a hand-moved clock standing at the end of that hour."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.test_utils import TestClient
from PIL import Image
from prometheus_client import CollectorRegistry

from receiver.alert_graphs import email_graphs
from receiver.app import create_app
from receiver.config import load_config
from receiver.graphs import Grapher
from receiver.notify.base import Notice, NoticeAlert, NoticeKind
from receiver.notify.email import EmailChannel
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.console.conftest import login
from tests.fakes.smtp import FakeSmtpServer
from tests.graphs.conftest import (
    HOUR_END,
    JUMP,
    ScriptedPrometheus,
    graphs_config,
    unused_url,
)
from tests.graphs.test_grapher import red_columns
from tests.graphs.test_slack_graphs import EXPRESSION, firing, generator

pytestmark = pytest.mark.e2e


def notice_of(
    url: str, kind: NoticeKind = NoticeKind.FIRING, alertname: str = "HighErrorRatio"
) -> Notice:
    status = "resolved" if kind is NoticeKind.RESOLVED else "firing"
    one = NoticeAlert(
        id=7,
        fingerprint="f" * 16,
        status=status,
        labels={"alertname": alertname, "instance": "b", "job": "api", "severity": "page"},
        annotations={"summary": "Errors on the api"},
        starts_at=JUMP,
        ends_at=None,
        generator_url=url,
    )
    return Notice(kind=kind, idempotency_key="notify:7:0", alerts=(one,), group_key="g")


def mailer(smtp: FakeSmtpServer, session: aiohttp.ClientSession, prometheus: str) -> EmailChannel:
    return EmailChannel(
        "mail",
        host=smtp.host,
        port=smtp.port,
        username="alerts",
        password="correct horse",
        sender="Firebreak <firebreak@example.com>",
        default_to=("oncall@example.com",),
        timeout=5.0,
        tls_context=smtp.client_tls_context(),
        hostname_for_message_id="firebreak.example.com",
        clock=lambda: HOUR_END,
        graphs=email_graphs(Grapher(graphs_config(prometheus), session)),
    )


def inline_images(message: EmailMessage) -> dict[str, bytes]:
    """Content-ID (without brackets) -> bytes of each image part."""
    return {
        str(part["Content-ID"]).strip("<>"): part.get_payload(decode=True)
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }


def body(message: EmailMessage, subtype: str) -> str:
    found = message.get_body(preferencelist=(subtype,))
    assert found is not None
    return str(found.get_content())


async def test_a_firing_email_carries_the_graph_inline(
    smtp: FakeSmtpServer, prometheus: str
) -> None:
    async with aiohttp.ClientSession() as session:
        await mailer(smtp, session, prometheus).send(notice_of(generator()), "")
    [mail] = smtp.messages
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    [(cid, png)] = inline_images(message).items()
    assert re.fullmatch(r"[0-9a-f]{32}@firebreak\.example\.com", cid)
    html = body(message, "html")
    caption = f"The last hour of {EXPRESSION}; the dashed line is when it started."
    assert f'<img src="cid:{cid}" alt="{caption.replace(chr(34), "&quot;")}"' in html
    text = body(message, "plain")
    assert f"{caption} (a graph in the HTML version of this message)" in text
    picture = Image.open(io.BytesIO(png))
    assert (picture.format, picture.size) == ("PNG", (800, 320))
    assert red_columns(picture)


async def test_prometheus_out_of_reach_still_sends_the_email_and_says_why(
    smtp: FakeSmtpServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        await mailer(smtp, session, unused_url()).send(notice_of(generator()), "")
    [mail] = smtp.messages
    assert inline_images(mail.message) == {}
    said = f"No graph of {EXPRESSION}: Prometheus could not be reached (ClientConnectorError)."
    assert said in body(mail.message, "plain")
    assert "<em>No graph of errors_ratio{job=&quot;api&quot;}: Prometheus could not" in body(
        mail.message, "html"
    )


async def test_hostile_expression_and_host_in_an_email(
    smtp: FakeSmtpServer, scripted: ScriptedPrometheus, prometheus: str
) -> None:
    hostile = 'errors_ratio{job="</p><script>alert(1)</script>\\n\\rBcc: evil@example.com"}'
    async with aiohttp.ClientSession() as session:
        channel = mailer(smtp, session, prometheus)
        await channel.send(notice_of(generator(hostile, host=scripted.url)), "")
    [mail] = smtp.messages
    assert scripted.requests == []  # the generator URL's host is never asked
    assert mail.rcpt_tos == ("oncall@example.com",) and mail.message["Bcc"] is None
    html = body(mail.message, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert len(inline_images(mail.message)) == 1


async def test_a_resolved_email_asks_for_no_graph(
    smtp: FakeSmtpServer, scripted: ScriptedPrometheus
) -> None:
    async with aiohttp.ClientSession() as session:
        channel = mailer(smtp, session, scripted.url)
        await channel.send(notice_of(generator(), NoticeKind.RESOLVED), "")
        await channel.send(notice_of("http://grafana:3000/alerting/x"), "")  # no expression
    assert scripted.requests == []
    assert all(inline_images(m.message) == {} for m in smtp.messages)
    for mail in smtp.messages:
        text = body(mail.message, "plain")
        assert "The last hour of" not in text and "No graph" not in text


# -- through the application --------------------------------------------------------------------


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Any],
    sqlite_url: str,
    make_config: Callable[..., Any],
    smtp: FakeSmtpServer,
    ca: trustme.CA,
    tmp_path: Path,
) -> Callable[..., Any]:
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def run(prometheus_url: str | None, clock: ManualClock) -> TestClient[Any, Any]:
        graphs = f"graphs: {{prometheus_url: '{prometheus_url}'}}\n" if prometheus_url else ""
        extra = f"""{graphs}channels:
  mail:
    type: email
    email: {{host: {smtp.host}, port: {smtp.port}, username: alerts, password: "correct horse",
             sender: "Firebreak <firebreak@example.com>", to: [oncall@example.com],
             ca_file: "{ca_file}", timeout: 5s}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [mail]}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
"""
        config = make_config(sqlite_url, extra)
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(config, clock=clock, registry=CollectorRegistry())
        )
        clock.watch(client.app)
        return client

    return run


async def alert_id(client: TestClient[Any, Any]) -> int:
    listing = await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))
    return int((await listing.json())["alerts"][0]["id"])


async def test_the_email_a_tier_sends_carries_the_graph(
    start: Callable[..., Any], prometheus: str, smtp: FakeSmtpServer
) -> None:
    clock = ManualClock(HOUR_END)
    client = await start(prometheus, clock)
    await client.post("/webhook", json=firing(), headers=auth(WEBHOOK_TOKEN))
    await clock.advance(timedelta(seconds=1))
    [mail] = smtp.messages
    assert len(inline_images(mail.message)) == 1


async def test_the_console_shows_the_alerts_graph(
    start: Callable[..., Any], prometheus: str
) -> None:
    clock = ManualClock(HOUR_END)
    client = await start(prometheus, clock)
    await client.post("/webhook", json=firing(), headers=auth(WEBHOOK_TOKEN))
    await clock.advance(timedelta(seconds=1))
    ident = await alert_id(client)
    path = f"/console/alerts/{ident}/graph.png"

    anonymous = await client.get(path, allow_redirects=False)
    assert anonymous.status == 303  # to the login form, like every console page

    await login(client, VIEWER_TOKEN)
    page = await client.get(f"/console/alerts/{ident}")
    assert f'<img class="graph" src="{path}"' in await page.text()
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert resp.headers["Cache-Control"] == "private, max-age=60"
    picture = Image.open(io.BytesIO(await resp.read()))
    assert picture.size == (800, 320) and red_columns(picture)

    assert (await client.get("/console/alerts/999999/graph.png")).status == 404
    assert (await client.get("/console/alerts/nope/graph.png")).status in (400, 404)


async def test_the_console_says_why_there_is_no_graph(
    start: Callable[..., Any], prometheus: str
) -> None:
    clock = ManualClock(HOUR_END)
    client = await start(unused_url(), clock)
    await client.post("/webhook", json=firing(), headers=auth(WEBHOOK_TOKEN))
    await client.post(
        "/webhook",
        json=firing("http://grafana:3000/alerting/x", name="FromGrafana"),
        headers=auth(WEBHOOK_TOKEN),
    )
    await clock.advance(timedelta(seconds=1))
    await login(client, VIEWER_TOKEN)
    listing = await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))
    ids = {a["labels"]["alertname"]: a["id"] for a in (await listing.json())["alerts"]}

    down = await client.get(f"/console/alerts/{ids['HighErrorRatio']}/graph.png")
    assert down.status == 503 and down.headers["Retry-After"] == "30"
    assert "Prometheus could not be reached" in await down.text()

    none = await client.get(f"/console/alerts/{ids['FromGrafana']}/graph.png")
    assert none.status == 404
    assert "carries no expression" in await none.text()
    page = await client.get(f"/console/alerts/{ids['FromGrafana']}")
    assert 'class="graph"' not in await page.text()


async def test_without_graphs_the_console_has_none(start: Callable[..., Any]) -> None:
    clock = ManualClock(HOUR_END)
    client = await start(None, clock)
    await client.post("/webhook", json=firing(), headers=auth(WEBHOOK_TOKEN))
    ident = await alert_id(client)
    await login(client, VIEWER_TOKEN)
    assert 'class="graph"' not in await (await client.get(f"/console/alerts/{ident}")).text()
    resp = await client.get(f"/console/alerts/{ident}/graph.png")
    assert resp.status == 404
    assert "graphs are not configured" in await resp.text()


async def test_a_reload_turns_graphs_on(
    aiohttp_client: Callable[..., Any], sqlite_url: str, tmp_path: Path, prometheus: str
) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(sqlite_url))
    clock = ManualClock(HOUR_END)
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(
            load_config(str(path)),
            clock=clock,
            registry=CollectorRegistry(),
            config_path=str(path),
        )
    )
    clock.watch(client.app)
    await client.post("/webhook", json=firing(), headers=auth(WEBHOOK_TOKEN))
    graph = f"/console/alerts/{await alert_id(client)}/graph.png"
    await login(client, VIEWER_TOKEN)
    assert (await client.get(graph)).status == 404

    path.write_text(config_text(sqlite_url, f"graphs: {{prometheus_url: '{prometheus}'}}\n"))
    reloaded = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert reloaded.status == 200, await reloaded.text()
    resp = await client.get(graph)
    assert (resp.status, resp.content_type) == (200, "image/png")

    path.write_text(config_text(sqlite_url, "graphs: {prometheus_url: prometheus:9090}\n"))
    refused = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert refused.status == 400
    assert "graphs.prometheus_url: expected a URL starting with http" in await refused.text()
    assert (await client.get(graph)).status == 200  # the configuration in force stays
