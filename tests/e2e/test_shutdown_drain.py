"""SIGTERM while webhooks are on their way in: the real ``firebreak serve`` keeps the promise
Alertmanager relies on — a webhook answered 2xx is stored; one not stored gets no 2xx (the
connection closes, or a 5xx), so Alertmanager sends it again. Never a 2xx without its row."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import _stop, free_port, start_firebreak, write_firebreak_config
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e

GRACE = 3.0  # shutdown_grace below


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    config_path = write_firebreak_config(
        tmp_path / "firebreak.yml",
        f"sqlite+aiosqlite:///{db_path}",
        port,
        extra=f"shutdown_grace: {GRACE:g}s\n",
    )
    proc = start_firebreak(config_path, f"http://127.0.0.1:{port}", tmp_path / "serve.log")
    try:
        yield proc, port, db_path
    finally:
        _stop(proc)


def _request(name: str) -> tuple[bytes, bytes]:
    """The head and body of a webhook for one alert named ``name``."""
    body = json.dumps(webhook(alert(name, labels={"drain": name}))).encode()
    head = (
        "POST /webhook HTTP/1.1\r\nHost: firebreak\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def _answer(sock: socket.socket, timeout: float) -> int | None:
    """The status the server answered with, or None if it closed the connection without one."""
    sock.settimeout(timeout)
    received = b""
    try:
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    if not received.startswith(b"HTTP/1.1 "):
        return None
    return int(received.split()[1])


def _stored(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {name for (name,) in conn.execute("SELECT alertname FROM alerts")}


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _half_sent(port: int, name: str) -> tuple[socket.socket, bytes]:
    """A connection that has sent a webhook's head and the start of its body, once the
    handler is reading the body; and the rest of the body."""
    head, body = _request(name)
    sock = _connect(port)
    sock.sendall(head + body[:20])
    time.sleep(0.5)
    return sock, body[20:]


def test_a_body_still_arriving_at_sigterm_is_answered_200_and_stored(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, db_path = server
    sock, rest = _half_sent(port, "ArrivingSlowly")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the server stops accepting; this request is still in flight
    with pytest.raises(OSError):
        _connect(port).close()
    sock.sendall(rest)
    status = _answer(sock, timeout=2 * GRACE + 5)
    sock.close()
    assert proc.wait(2 * GRACE + 5) == 0
    assert status == 200
    assert "ArrivingSlowly" in _stored(db_path)


def test_a_body_that_never_finishes_gets_no_2xx_and_nothing_is_stored(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, db_path = server
    sock, _rest = _half_sent(port, "NeverFinished")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status = _answer(sock, timeout=2 * GRACE + 5)
    sock.close()
    assert proc.wait(2 * GRACE + 5) == 0
    assert status is None or status >= 500, status  # Alertmanager sends it again
    assert time.monotonic() - started < 2 * GRACE + 3
    assert "NeverFinished" not in _stored(db_path)


def test_webhooks_sent_around_sigterm_are_never_answered_2xx_without_their_row(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, db_path = server
    answers: dict[str, int | None] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n: int) -> None:
        sent = 0
        while not stop.is_set():
            name = f"Storm{n}x{sent}"
            sent += 1
            head, body = _request(name)
            try:
                sock = _connect(port)
            except OSError:
                return  # no longer accepting
            try:
                sock.sendall(head + body)
                status = _answer(sock, timeout=2 * GRACE + 5)
            except OSError:
                status = None
            finally:
                sock.close()
            with lock:
                answers[name] = status

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(2 * GRACE + 5) == 0
    stop.set()
    for thread in threads:
        thread.join(2 * GRACE + 10)

    stored = _stored(db_path)
    answered = {name for name, status in answers.items() if status is not None and status < 300}
    assert answered, "no webhook was answered before the shutdown"
    assert answered <= stored, sorted(answered - stored)
    # Anything else was told to come again (no answer or a 5xx), never refused outright.
    assert {s for s in answers.values() if s is not None and s >= 300} <= {500, 502, 503}
