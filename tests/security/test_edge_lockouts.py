"""Lockouts that would lock out the team: the failed-authentication limit refuses failures
only, never a valid credential, never /health or /metrics, and behind a trusted proxy it (and
the audit trail and the logs) sees the client the proxy names, not the proxy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from receiver.errors import ConfigError
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, config_text
from tests.e2e.conftest import wait_until
from tests.payloads import alert, webhook
from tests.security.edge import request, serving

ATTACKER = "203.0.113.7"
COLLEAGUE = "198.51.100.20"
Start = Callable[..., Any]


def _config_text(db_url: str, trusted: str) -> str:
    api = f"api:\n  auth_failure_limit: 3\n  trusted_proxies: {trusted}\n"
    return config_text(db_url).replace("api:\n", api, 1)


@pytest.fixture
def start(aiohttp_client: Any, sqlite_url: str) -> Start:
    """The application, every request from 127.0.0.1 (the test client), limited at 3
    failures, trusting the proxies given (YAML)."""

    async def run(trusted: str = "[]") -> TestClient[Any, Any]:
        config = parse_config(_config_text(sqlite_url, trusted), env={})
        return await aiohttp_client(create_app(config, registry=CollectorRegistry()))  # type: ignore[no-any-return]

    return run


def via(client_address: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": client_address}
    return {**headers, **auth(token)} if token else headers


async def _audit(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200
    return list((await resp.json())["entries"])


async def test_behind_a_trusted_proxy_failures_lock_out_their_client_only(start: Start) -> None:
    client = await start('["127.0.0.1"]')
    for _ in range(3):
        resp = await client.get("/api/v1/alerts", headers=via(ATTACKER, "guess-0123456789abc"))
        assert resp.status == 401
    held = await client.get("/api/v1/alerts", headers=via(ATTACKER, "guess-0123456789abc"))
    assert held.status == 429
    assert 1 <= int(held.headers["Retry-After"]) <= 60
    assert "too many failed authentications" in (await held.json())["error"]
    # A colleague behind the same proxy is another client: their own mistakes count for them.
    wrong = await client.get("/api/v1/alerts", headers=via(COLLEAGUE, "typo-0123456789abcd"))
    assert wrong.status == 401
    assert (await client.get("/api/v1/alerts", headers=via(COLLEAGUE, VIEWER_TOKEN))).status == 200
    # Even from the held-off address, a valid credential is served, and liveness and scrapes
    # answer whatever the address did.
    assert (await client.get("/api/v1/alerts", headers=via(ATTACKER, VIEWER_TOKEN))).status == 200
    assert (await client.get("/health", headers=via(ATTACKER))).status == 200
    assert (await client.get("/metrics", headers=via(ATTACKER))).status == 200
    login = await client.post(
        "/console/login",
        data={"token": RESPONDER_TOKEN, "next": "/"},
        headers=via(ATTACKER),
        allow_redirects=False,
    )
    assert login.status == 303


async def test_ten_failures_from_a_nat_never_lock_out_a_valid_token(start: Start) -> None:
    client = await start()  # no proxy: everyone shares 127.0.0.1, as behind a NAT
    for _ in range(10):
        assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status in (401, 429)
    assert (await client.get("/api/v1/alerts", headers=auth("guess"))).status == 429
    for token in (VIEWER_TOKEN, RESPONDER_TOKEN, ADMIN_TOKEN):
        assert (await client.get("/api/v1/alerts", headers=auth(token))).status == 200
    assert (await client.get("/health")).status == 200
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/health/detailed", headers=auth(VIEWER_TOKEN))).status == 200


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(start: Start) -> None:
    client = await start()
    # Forging a new address per request does not buy new attempts.
    for n in range(3):
        assert (
            await client.get("/api/v1/alerts", headers=via(f"192.0.2.{n}", "guess"))
        ).status == 401
    assert (await client.get("/api/v1/alerts", headers=via("192.0.2.99", "guess"))).status == 429


@pytest.mark.parametrize(
    ("trusted", "forwarded", "client_address"),
    [
        # The right-most address the proxy did not vouch for: the forged left part is ignored.
        ('["127.0.0.1"]', f"10.9.9.9, {ATTACKER}", ATTACKER),
        # A chain of trusted proxies is walked through.
        ('["127.0.0.1", "10.0.0.0/8"]', f"{ATTACKER}, 10.1.2.3", ATTACKER),
        # Every hop trusted: the left-most.
        ('["127.0.0.1", "10.0.0.0/8"]', "10.1.1.1, 10.1.2.3", "10.1.1.1"),
        # What is not an address stops the walk at the proxy that wrote it.
        ('["127.0.0.1"]', f"{ATTACKER}, unknown", "127.0.0.1"),
        ('["127.0.0.1"]', "[2001:db8::7]:443", "2001:db8::7"),
        # Not from a trusted proxy: the header is the client's own word and ignored.
        ('["10.0.0.0/8"]', ATTACKER, "127.0.0.1"),
    ],
)
async def test_audit_rows_name_the_client_behind_the_proxy(
    start: Start, trusted: str, forwarded: str, client_address: str
) -> None:
    client = await start(trusted)
    resp = await client.post(
        "/api/v1/alerts/1/acknowledge",
        headers={"X-Forwarded-For": forwarded, **auth("not-a-token-0123456789")},
    )
    assert resp.status == 401
    (entry,) = await _audit(client)
    assert entry["actor"] == f"unauthenticated@{client_address}"
    assert entry["outcome"] == "refused"


async def test_logs_name_the_client_behind_the_proxy(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    client = await start('["127.0.0.1"]')
    with caplog.at_level(logging.WARNING, logger="firebreak.http"):
        resp = await client.post(
            "/webhook", json=webhook(alert()), headers=via(ATTACKER, "wrong-0123456789abcdef")
        )
    assert resp.status == 401
    (record,) = [r for r in caplog.records if r.getMessage().startswith("webhook refused")]
    assert record.remote == ATTACKER  # type: ignore[attr-defined]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not-an-address", "10.0.0.1:80", ""])
def test_a_trusted_proxy_that_is_no_address_is_a_config_error(sqlite_url: str, entry: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_config_text(sqlite_url, f'["{entry}"]'), source="f.yml", env={})
    assert raised.value.problems == [
        "f.yml:11:21: api.trusted_proxies[0]: expected an IP address or a CIDR range such as "
        "10.0.0.0/8 or fd00::/8"
    ]


def test_one_trusted_proxy_may_be_written_alone(sqlite_url: str) -> None:
    config = parse_config(_config_text(sqlite_url, "10.0.0.0/8"), env={})
    assert config.api.trusted_proxies == ("10.0.0.0/8",)


def test_the_access_log_names_the_client_behind_the_proxy(tmp_path: Path) -> None:
    with serving(
        tmp_path, api='  trusted_proxies: ["127.0.0.1"]\n', log="  access: true\n"
    ) as server:
        status, _body = request(server, "GET", "/health", headers={"X-Forwarded-For": ATTACKER})
        assert status == 200
        wait_until(
            lambda: f'{ATTACKER} "GET /health" 200' in server.log_path.read_text(),
            timeout=5,
            what="the access log line",
        )
