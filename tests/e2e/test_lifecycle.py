"""SIGTERM: in-flight webhooks are answered and stored, a job stuck in a send is cut off after
shutdown_grace with its lease handed back (so another replica runs it), and the process exits
0 within the grace."""

from __future__ import annotations

import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import FirebreakServer, http, wait_until
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers: a send to it hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def firebreak_extra_config(black_hole: int) -> str:
    return f"""
shutdown_grace: 2s
channels:
  stuck:
    type: webhook
    webhook: {{url: "http://127.0.0.1:{black_hole}/hook", timeout: 60s}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [stuck]}}]
"""


def test_sigterm_answers_in_flight_webhooks_and_hands_back_stuck_jobs(
    firebreak_server: FirebreakServer,
) -> None:
    post = lambda name: http(  # noqa: E731
        "POST",
        firebreak_server.url + "/webhook",
        token=firebreak_server.webhook_token,
        body=webhook(alert(name), group_key=name),
    )
    assert post("First")[0] == 200
    wait_until(
        lambda: (
            firebreak_server.query(
                "SELECT count(*) FROM jobs WHERE kind = 'notify' AND state = 'running'"
            )
            == [(1,)]
        ),
        timeout=10,
        what="the notify job stuck sending",
    )
    # Five webhooks in flight when the signal comes: the database's write lock is held here,
    # so their commit (and with it their answer) waits until after the signal.
    lock = sqlite3.connect(firebreak_server.db_path, timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    answers: list[int] = []
    senders = [
        threading.Thread(target=lambda n=n: answers.append(post(f"InFlight{n}")[0]))
        for n in range(5)
    ]
    for sender in senders:
        sender.start()
    time.sleep(0.5)  # for the requests to reach their handlers, which wait for the lock
    began = time.monotonic()
    firebreak_server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    lock.execute("ROLLBACK")
    lock.close()
    code = firebreak_server.proc.wait(timeout=30)
    took = time.monotonic() - began
    for sender in senders:
        sender.join()
    assert code == 0, code
    # The stuck send holds shutdown up for the grace (2s), not for its own 60s timeout (the
    # ceiling leaves a loaded machine room to close the rest).
    assert 2 <= took < 20, f"shutdown took {took:.1f}s"
    assert "jobs still running at shutdown" in firebreak_server.log_path.read_text()
    # Every webhook that was answered 200 is stored; none was answered with a 4xx.
    stored = {row[0] for row in firebreak_server.query("SELECT alertname FROM alerts")}
    assert answers == [200] * 5, answers
    assert stored == {"First"} | {f"InFlight{n}" for n in range(5)}
    # The stuck job is handed back for another process, not lost and not marked done.
    rows = firebreak_server.query(
        "SELECT state, lease_owner FROM jobs WHERE kind = 'notify' ORDER BY id LIMIT 1"
    )
    assert rows == [("pending", None)]
