"""A crash between a notification's send and its record: the real process is SIGKILLed while
the receiving end holds the request, a new process takes the job over when its lease runs out,
and the retry carries the same idempotency key, so the receiver can tell it is the same."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import (
    _stop,
    free_port,
    http,
    start_firebreak,
    wait_until,
    write_firebreak_config,
)
from tests.fakes.recording_receiver import RecordingReceiver
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    fake = RecordingReceiver(hold_first=True)  # the sender dies while it is held
    yield fake
    fake.close()


def test_crash_after_send_before_record_retries_with_the_same_key(
    receiver: RecordingReceiver, tmp_path: Path
) -> None:
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    config_path = write_firebreak_config(
        tmp_path / "firebreak.yml",
        f"sqlite+aiosqlite:///{db_path}",
        port,
        extra=f"""
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
    url = f"http://127.0.0.1:{port}"

    def start(log: str) -> subprocess.Popen[bytes]:
        return start_firebreak(config_path, url, tmp_path / log, timeout=20)

    first = start("first.log")
    try:
        status, _ = http(
            "POST", url + "/webhook", body=webhook(alert("Crash")), token=WEBHOOK_TOKEN
        )
        assert status == 200
        wait_until(
            lambda: len(receiver.deliveries) == 1,
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
            lambda: len(receiver.deliveries) == 2,
            timeout=15,
            what="the job taken over after its lease ran out",
            procs=(second,),
        )
        sent, sent_again = receiver.deliveries
        first_key = sent.key
        assert first_key == sent_again.key
        assert sent.body == sent_again.body

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
        assert len(receiver.deliveries) == 2
    finally:
        _stop(second)
