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
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
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
