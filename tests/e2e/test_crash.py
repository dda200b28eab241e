"""A crash between a notification's send and its record: the real process is SIGKILLed while
the receiving end holds the request, a new process takes the job over when its lease runs out,
and the retry carries the same idempotency key, so the receiver can tell it is the same."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import ROOT, _start, _stop, http, serve_setup, wait_until
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e


class Receiver:
    """A webhook receiver on a thread: holds the first request until released."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"key": self.headers["X-Firebreak-Idempotency-Key"], "body": json.loads(body)}
                )
                if len(receiver.requests) == 1:
                    receiver.release.wait(30)  # the sender dies meanwhile
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    yield fake
    fake.close()


def test_crash_after_send_before_record_retries_with_the_same_key(
    receiver: Receiver, tmp_path: Path
) -> None:
    setup = serve_setup(
        tmp_path,
        f"""
channels:
  hook:
    type: webhook
    webhook: {{url: "{receiver.url}", timeout: 30s}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook]}}]
jobs: {{lease: 2s, poll_interval: 200ms, backoff_initial: 100ms, backoff_max: 500ms}}
""",
    )
    url, db_path, cmd = setup.url, setup.db_path, setup.cmd

    def start(log: str) -> subprocess.Popen[bytes]:
        proc = _start(cmd, tmp_path / log, cwd=ROOT)
        wait_until(
            lambda: http("GET", url + "/health", timeout=1)[0] == 200,
            timeout=20,
            what="firebreak GET /health",
            procs=(proc,),
        )
        return proc

    first = start("first.log")
    try:
        status, _ = http(
            "POST", url + "/webhook", body=webhook(alert("Crash")), token=WEBHOOK_TOKEN
        )
        assert status == 200
        wait_until(
            lambda: len(receiver.requests) == 1,
            timeout=10,
            what="the notification reaching the receiver",
            procs=(first,),
        )
        first.send_signal(signal.SIGKILL)  # sent, not yet recorded
        first.wait(10)
    finally:
        _stop(first)
    receiver.release.set()

    second = start("second.log")
    try:
        wait_until(
            lambda: len(receiver.requests) == 2,
            timeout=15,
            what="the job taken over after its lease ran out",
            procs=(second,),
        )
        first_key, second_key = (r["key"] for r in receiver.requests)
        assert first_key == second_key
        assert receiver.requests[0]["body"] == receiver.requests[1]["body"]

        def recorded() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(db_path, timeout=10)
            try:
                return conn.execute("SELECT idempotency_key FROM notifications").fetchall()
            finally:
                conn.close()

        wait_until(
            lambda: len(recorded()) == 1, timeout=10, what="the send recorded once", procs=(second,)
        )
        assert recorded() == [(first_key,)]
        assert len(receiver.requests) == 2
    finally:
        _stop(second)
