"""A webhook receiver on a thread, for tests that drive real ``firebreak serve`` processes
with blocking calls (the aiohttp ``WebhookReceiver`` needs the test's own event loop).

It records every request with its idempotency key and answers ``status`` (200 unless the test
sets another, e.g. 503 for an outage). With ``hold_first``, the first request is held until
``release`` is set (or 30 s pass): the sender can be killed while its send is in flight.
``close_port()`` and ``reopen_port()`` take the receiver off its port and back, so sends to it
are refused meanwhile.

    receiver = RecordingReceiver()
    ...  # point a webhook channel at receiver.url
    receiver.per_alert()  # Counter of delivered firing notices per alert fingerprint
    receiver.close()

``RecordingServer`` records requests of any method and path instead, for runbook steps: what
was asked of which path, with which headers, as the request target was sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_TIMEOUT = 30.0  # longest a held request waits for release


@dataclass(frozen=True)
class Delivery:
    """One request Firebreak's webhook channel made, and what it was answered."""

    key: str
    body: dict[str, Any]
    status: int
    at: float  # time.time() on arrival


class RecordingReceiver:
    """Listens on a free loopback port; ``url`` is ``http://127.0.0.1:<port>/hook``."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.deliveries: list[Delivery] = []
        self.status = 200
        self.release = threading.Event()
        self._hold_first = hold_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["X-Firebreak-Idempotency-Key"]
                with receiver._lock:
                    status = receiver.status
                    receiver.deliveries.append(Delivery(key, body, status, time.time()))
                    first = len(receiver.deliveries) == 1
                if first and receiver._hold_first:
                    receiver.release.wait(HOLD_TIMEOUT)
                # A held request's sender may have been killed meanwhile: nobody to answer.
                with contextlib.suppress(ConnectionError):
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._handler = Handler
        self.server: ThreadingHTTPServer | None = None
        self.port = self._listen(0)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _listen(self, port: int) -> int:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def close_port(self) -> None:
        """Stop listening: sends to ``url`` are refused until ``reopen_port()``."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reopen_port(self) -> None:
        """Listen again on the same port."""
        if self.server is None:
            self._listen(self.port)

    def delivered(self, kind: str = "firing") -> list[Delivery]:
        """Requests of this notice kind that were answered 200."""
        with self._lock:
            return [d for d in self.deliveries if d.status == 200 and d.body["kind"] == kind]

    def per_alert(self, kind: str = "firing") -> Counter[str]:
        """For each alert (by fingerprint), how many delivered notices named it."""
        return Counter(a["fingerprint"] for d in self.delivered(kind) for a in d.body["alerts"])

    def close(self) -> None:
        self.release.set()
        self.close_port()


@dataclass(frozen=True)
class Request:
    """One request a ``RecordingServer`` received, as it came on the wire."""

    method: str
    target: str  # the request target as sent: the raw path and query, nothing decoded
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class RecordingServer:
    """Any HTTP service a runbook step may call (an admin API, an identity provider, PagerDuty,
    Alertmanager's silences, Prometheus's query API), on a thread: records every request of any
    method and answers 200 with ``answers[path]`` (JSON) or ``{}``. ``url`` has no path."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.requests: list[Request] = []
        self.answers = dict(answers or {})
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers), body)
                with server._lock:
                    server.requests.append(request)
                answer = json.dumps(server.answers.get(request.path, {})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
