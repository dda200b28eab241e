"""Hostile callers: tokens given as hashes, failed authentication limited per address (never a
valid credential, never on the webhook, /health or /metrics), and a client that trickles its
body in too slowly."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import ApiConfig, from_data
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

HASHED = "hashed-token-0123456789"

API = {
    "tokens": [
        {"token_sha256": hashlib.sha256(HASHED.encode()).hexdigest(), "role": "viewer"},
        {"token": VIEWER_TOKEN, "role": "viewer", "name": "carol"},
    ],
    "auth_failure_limit": 3,
    "auth_failure_window": "1m",
    "body_timeout": "500ms",
}


async def _start(aiohttp_client: Any, make_config: Any, db_url: str) -> Any:
    config = dataclasses.replace(make_config(db_url), api=from_data(ApiConfig, API))
    return await aiohttp_client(create_app(config, registry=CollectorRegistry()))


async def test_a_token_given_as_its_sha256_authenticates(
    aiohttp_client: Any, make_config: Any, db_url: str
) -> None:
    client = await _start(aiohttp_client, make_config, db_url)
    assert (await client.get("/api/v1/alerts", headers=auth(HASHED))).status == 200
    wrong = await client.get("/api/v1/alerts", headers=auth(HASHED + "x"))
    assert wrong.status == 401


async def test_repeated_failures_are_answered_429_but_never_on_the_webhook(
    aiohttp_client: Any, make_config: Any, db_url: str
) -> None:
    client = await _start(aiohttp_client, make_config, db_url)
    for _ in range(3):
        assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status == 401
    limited = await client.get("/api/v1/alerts", headers=auth("guess"))
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many failed authentications" in (await limited.json())["error"]
    # A valid credential is never refused by the limit: a neighbour behind the same NAT or
    # proxy must not lock the team out (guessing 16+ characters is hopeless anyway).
    assert (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).status == 200
    assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status == 429
    assert (await client.get("/health")).status == 200
    assert (await client.get("/metrics")).status == 200
    # The webhook keeps answering as Alertmanager needs: 401 for bad credentials, 200 for good.
    body = webhook(alert("A"))
    assert (await client.post("/webhook", json=body, headers=auth("guess"))).status == 401
    good = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
    assert good.status == 200


async def test_the_limit_counts_its_window_on_the_application_clock(
    aiohttp_client: Any, make_config: Any, db_url: str
) -> None:
    clock = ManualClock()
    config = dataclasses.replace(make_config(db_url), api=from_data(ApiConfig, API))
    app = create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    for _ in range(3):
        assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status == 401
    await clock.advance(timedelta(seconds=20))
    limited = await client.get("/api/v1/alerts", headers=auth("guess"))
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "40"  # the minute's window, less the 20 s gone
    await clock.advance(timedelta(seconds=40))
    # The window has passed: a failure is answered 401 again, and counts anew.
    assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status == 401


async def test_a_body_trickled_in_too_slowly_gets_408(
    aiohttp_client: Any, make_config: Any, db_url: str
) -> None:
    client = await _start(aiohttp_client, make_config, db_url)
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + WEBHOOK_TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert b" 408 " in status_line
