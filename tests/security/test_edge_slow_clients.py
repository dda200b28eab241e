"""Slow clients against a real ``firebreak serve``: a client trickling its request head is cut
off after ``api.header_timeout``, and one address cannot hold more than
``api.max_connections_per_address`` connections, while another address (and Alertmanager's,
``webhook.trusted_senders``) still gets in."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WEBHOOK_TOKEN, auth
from tests.e2e.conftest import FirebreakServer, http, wait_until
from tests.payloads import alert, webhook
from tests.security.edge import connect, read_all, request, served, serving

HEADER_TIMEOUT = 2.0
CAP = 4
ALERTMANAGER = "127.0.0.3"

API = f"  header_timeout: {HEADER_TIMEOUT:g}s\n  max_connections_per_address: {CAP}\n"
# Loopback is trusted by default (where the shipped Alertmanager posts from): only one address.
WEBHOOK = f'  trusted_senders: ["{ALERTMANAGER}"]\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirebreakServer]:
    tmp_path: Path = tmp_path_factory.mktemp("slow-clients")
    with serving(tmp_path, api=API, webhook=WEBHOOK) as running:
        yield running


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    """Whether the server closes ``sock`` within ``wait`` seconds (anything it sends first is
    read and dropped)."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_a_client_trickling_its_headers_is_cut_off_after_the_header_timeout(
    server: FirebreakServer,
) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: firebreak\r\n")
        cut_off = False
        while time.monotonic() - started < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(b"X-Slow: 1\r\n")  # a header line every 200 ms, never the end
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            if closed_by_server(sock, 0.2):
                cut_off = True
                break
        elapsed = time.monotonic() - started
    # Cut off at all (within the loop's bound), and not before the timeout: a busy machine
    # only makes the cut later, so the upper bound is the loop's, not a tight one.
    assert cut_off, f"still open after {elapsed:.1f} s"
    assert elapsed >= HEADER_TIMEOUT - 0.5, f"cut off early, after {elapsed:.1f} s"


def test_an_idle_connection_is_closed_after_the_header_timeout(server: FirebreakServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert closed_by_server(sock, HEADER_TIMEOUT + 3)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5


def test_one_address_holds_at_most_the_cap_while_others_get_in(server: FirebreakServer) -> None:
    refused_before = server.metric("firebreak_http_connections_refused_total")
    with contextlib.ExitStack() as held:
        first = [served(held.enter_context(connect(server, "127.0.0.2"))) for _ in range(CAP)]
        with connect(server, "127.0.0.2") as one_too_many:
            answer = read_all(one_too_many)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert answer.endswith(b"too many open connections from this address\n")
        assert not any(closed_by_server(sock, 0) for sock in first)
        # Another client address is not held to that address's connections.
        assert request(server, "GET", "/health", source="127.0.0.4")[0] == 200
        # Alertmanager's address is never capped: more connections than the cap, all served.
        with contextlib.ExitStack() as alertmanager:
            senders = [
                alertmanager.enter_context(connect(server, ALERTMANAGER)) for _ in range(CAP + 2)
            ]
            status, body = request(
                server,
                "POST",
                "/webhook",
                headers={**auth(WEBHOOK_TOKEN), "Content-Type": "application/json"},
                body=json.dumps(webhook(alert("Storm"))).encode(),
                source=ALERTMANAGER,
            )
            assert status == 200, body
            assert not any(closed_by_server(sock, 0) for sock in senders)
    # Once the address lets its connections go, it gets in again.
    wait_until(
        lambda: request(server, "GET", "/health", source="127.0.0.2")[0] == 200,
        timeout=5,
        what="a new connection from 127.0.0.2 after its others closed",
    )
    assert server.metric("firebreak_http_connections_refused_total") == refused_before + 1


def test_the_cap_follows_a_reload_and_the_header_timeout_waits_for_a_restart(
    tmp_path: Path,
) -> None:
    api = "  max_connections_per_address: 2\n"
    webhook_lines = '  trusted_senders: ["192.0.2.1"]\n'  # nothing on loopback
    with (
        serving(tmp_path, api=api, webhook=webhook_lines) as server,
        contextlib.ExitStack() as held,
    ):
        for _ in range(2):
            served(held.enter_context(connect(server, "127.0.0.2")))
        with connect(server, "127.0.0.2") as refused:
            assert read_all(refused).startswith(b"HTTP/1.1 503 ")
        text = server.config_path.read_text()
        text = text.replace(api, "  max_connections_per_address: 3\n  header_timeout: 3s\n")
        server.config_path.write_text(text)
        status, body = http("POST", server.url + "/-/reload", token=server.admin_token)
        assert status == 200, body
        assert json.loads(body)["restart_needed"] == ["api.header_timeout"]
        assert request(server, "GET", "/health", source="127.0.0.2")[0] == 200
