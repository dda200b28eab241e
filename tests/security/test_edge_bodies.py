"""Compressed bodies: nothing is inflated, a body with a Content-Encoding is refused (415, naming
the encoding) once the caller has authenticated, and gzip bombs cost the server nothing that
``/health`` would notice."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.cases import by_first, each_case
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.console.conftest import login
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import SlackFake, sign, signed_headers, slash_command
from tests.payloads import alert, webhook
from tests.security.edge import connect, gzip_bomb, request, serving
from tests.slack_helpers import ALICE, SIGNING_SECRET, slack_config

GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


def _gzipped(value: Any) -> bytes:
    return gzip.compress(json.dumps(value).encode())


async def _alerts(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    found: list[dict[str, Any]] = (await resp.json())["alerts"]
    return found


async def test_a_gzip_bomb_without_credentials_is_refused_401_unread(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.post("/webhook", data=gzip_bomb(), headers=GZIP)
    assert resp.status == 401
    assert (await resp.json())["error"] == "webhook credentials are missing or wrong"
    assert await _alerts(client) == []


ENCODINGS = [
    ("gzip", "gzip"),
    ("deflate", "deflate"),
    ("br", "br"),
    ("GZIP", "GZIP"),
    ("gzip, deflate", "an unknown encoding"),
    ("x\u00e9\u00e9", "an unknown encoding"),
]


async def test_an_authenticated_webhook_with_an_encoding_is_refused_415_naming_it(
    client: TestClient[Any, Any],
) -> None:
    # A valid gzip body with its real Content-Length: before, it was read as truncated JSON.
    body = _gzipped(webhook(alert("Compressed")))

    async def check(case: tuple[str, str]) -> None:
        encoding, named = case
        headers = {**auth(WEBHOOK_TOKEN), **GZIP, "Content-Encoding": encoding}
        resp = await client.post("/webhook", data=body, headers=headers)
        assert resp.status == 415
        answer = await resp.json()
        assert answer["error"] == (
            f"Content-Encoding {named} is not accepted: send the body uncompressed"
        )
        assert await _alerts(client) == []

    await each_case(by_first(ENCODINGS), check)


async def test_an_identity_encoding_is_the_body_as_sent(client: TestClient[Any, Any]) -> None:
    headers = {**auth(WEBHOOK_TOKEN), "Content-Encoding": "identity"}
    resp = await client.post("/webhook", json=webhook(alert("Plain")), headers=headers)
    assert resp.status == 200
    assert [a["labels"]["alertname"] for a in await _alerts(client)] == ["Plain"]


async def test_the_api_authenticates_before_it_looks_at_a_compressed_body(
    client: TestClient[Any, Any],
) -> None:
    fired = await client.post("/webhook", json=webhook(alert("Ack")), headers=auth(WEBHOOK_TOKEN))
    assert fired.status == 200
    (stored,) = await _alerts(client)
    path = f"/api/v1/alerts/{stored['id']}/acknowledge"
    anonymous = await client.post(path, data=gzip_bomb(), headers=GZIP)
    assert anonymous.status == 401
    bomb = await client.post(path, data=gzip_bomb(), headers={**GZIP, **auth(RESPONDER_TOKEN)})
    assert bomb.status == 415
    assert "Content-Encoding gzip is not accepted" in (await bomb.json())["error"]
    (after,) = await _alerts(client)
    assert after["acknowledged_at"] is None


async def test_console_forms_refuse_a_compressed_body(client: TestClient[Any, Any]) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
    login_page = await client.post(
        "/console/login", data=gzip.compress(f"token={VIEWER_TOKEN}".encode()), headers=form
    )
    assert login_page.status == 415
    assert "Content-Encoding gzip is not accepted" in await login_page.text()
    assert "firebreak_session" not in login_page.cookies
    csrf = await login(client, RESPONDER_TOKEN)
    logout = await client.post(
        "/console/logout", data=gzip.compress(f"csrf_token={csrf}".encode()), headers=form
    )
    assert logout.status == 415
    assert (await client.get("/")).status == 200  # still signed in


async def test_a_signed_but_compressed_slack_request_is_refused_unread(
    aiohttp_client: Any, make_config: Any, sqlite_url: str
) -> None:
    async with SlackFake() as slack:
        config = make_config(sqlite_url, slack_config(slack))
        client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
        raw = slash_command(
            "help", user_id=ALICE[0], user_name=ALICE[1], response_url=slack.response_url()
        )
        body = gzip.compress(raw)
        ts = int(time.time())
        # Signed over the bytes as sent, as Slack signs: refused all the same, since nothing
        # could read it without inflating it.
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Encoding": "gzip",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
        }
        resp = await client.post("/slack/events", data=body, headers=headers)
        assert resp.status == 415
        assert "Content-Encoding gzip is not accepted" in (await resp.json())["error"]
        # The same command uncompressed is answered: the signature is over the raw bytes.
        answered = await client.post(
            "/slack/events", data=raw, headers=signed_headers(SIGNING_SECRET, raw, ts)
        )
        assert answered.status == 200
        assert "firebreak" in (await answered.text()).lower()


async def test_a_signed_but_compressed_pagerduty_webhook_is_refused_unread(
    aiohttp_client: Any, make_config: Any, sqlite_url: str
) -> None:
    secret = "pd-webhook-secret-0123456789"
    config = make_config(sqlite_url, f'pagerduty: {{webhook_secrets: ["{secret}"]}}\n')
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    body = gzip.compress(b'{"event": {"event_type": "pagey.ping"}}')
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-PagerDuty-Signature": FakePagerDuty.sign(secret, body),
    }
    resp = await client.post("/integrations/pagerduty/webhook", data=body, headers=headers)
    assert resp.status == 415
    assert "Content-Encoding gzip is not accepted" in (await resp.json())["error"]


def _status_of(sock: socket.socket) -> int:
    """The status of the answer coming on ``sock``, read as far as its status line."""
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, f"closed before answering: {head!r}"
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_gzip_bombs_are_refused_before_they_are_sent_and_health_answers_meanwhile(
    tmp_path: Path,
) -> None:
    """Each bomb's headers and only its first 64 KiB are sent: the refusal comes back with
    the rest of the body never sent (a server that read or inflated the body would still be
    waiting for it), and /health answers while all three are in flight. Then whole bombs, sent
    from three threads at once, are refused while /health is asked in between."""
    bomb = gzip_bomb()
    callers = {
        "no credentials": (GZIP, 401),
        "the webhook token": ({**GZIP, **auth(WEBHOOK_TOKEN)}, 415),
        "a wrong token": ({**GZIP, **auth("wrong-token-0123456789")}, 401),
    }
    with serving(tmp_path) as server, contextlib.ExitStack() as open_bombs:
        in_flight = {}
        for caller, (headers, _refused) in callers.items():
            # A bound on waiting for an answer, not on its speed: a server that waited for the
            # rest of the body would never answer.
            sock = open_bombs.enter_context(connect(server, timeout=30))
            lines = ["POST /webhook HTTP/1.1", "Host: firebreak", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            lines.append(f"Content-Length: {len(bomb)}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + bomb[: 64 * 1024])
            in_flight[caller] = sock
        status, body = request(server, "GET", "/health")
        assert status == 200, body
        refusals = {caller: _status_of(sock) for caller, sock in in_flight.items()}
        assert refusals == {caller: refused for caller, (_h, refused) in callers.items()}

        answers: list[int] = []

        def send(headers: dict[str, str]) -> None:
            for _ in range(4):
                status, _body = request(server, "POST", "/webhook", headers=headers, body=bomb)
                answers.append(status)

        health: list[int] = []
        with ThreadPoolExecutor(3) as pool:
            senders = [pool.submit(send, headers) for headers, _refused in callers.values()]
            while not all(s.done() for s in senders) or len(health) < 20:
                health.append(request(server, "GET", "/health")[0])
                time.sleep(0.01)
            for sender in senders:
                sender.result()
        assert sorted(answers) == [401] * 8 + [415] * 4
        assert set(health) == {200}
        assert server.alerts() == []
