"""PostgreSQL stopped and started again under a steady stream of webhooks: during the outage
every webhook is answered 503 (never a 4xx, never a 200 that was not stored); afterwards every
webhook answered 200 is stored exactly once, and the 503 ones, retried as Alertmanager would,
are stored too."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.chaos.conftest import PrivatePostgres, Replica, Tally, duplicates
from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import http
from tests.payloads import alert, webhook

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.postgres]

SENDERS = 4
BEFORE = 2.0  # seconds of load before PostgreSQL stops
OUTAGE = 3.0  # seconds PostgreSQL is down
AFTER = 3.0  # seconds of load after it is back
RETRY_TIMEOUT = 20.0
BACKOFF = 0.05  # a sender's pause after a non-200, as Alertmanager backs off


class Load:
    """Threads posting one-alert webhooks, each a new alert, recording every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: dict[str, int] = {}  # alertname -> last status (0: no answer)
        self.codes: Counter[int] = Counter()  # every answer, retries included
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send_loop, args=(n,), daemon=True) for n in range(SENDERS)
        ]

    def post(self, name: str) -> int:
        body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        try:
            status, _ = http("POST", self.url + "/webhook", token=WEBHOOK_TOKEN, body=body)
        except OSError:
            status = 0
        with self._lock:
            self.answers[name] = status
            self.codes[status] += 1
        return status

    def _send_loop(self, sender: int) -> None:
        n = 0
        while not self._stop.is_set():
            if self.post(f"Load{sender}x{n}") != 200:
                time.sleep(BACKOFF)
            n += 1

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def unanswered(self) -> list[str]:
        with self._lock:
            return [name for name, status in self.answers.items() if status != 200]


def test_postgres_restart_under_load_answers_503_and_loses_nothing(
    private_postgres: PrivatePostgres, replicas: Callable[..., Replica], tally: Tally
) -> None:
    replica = replicas(private_postgres.url)
    load = Load(replica.url)
    load.start()
    try:
        time.sleep(BEFORE)
        private_postgres.stop("fast")
        tally.inject(f"pg_ctl stop -m fast (port {private_postgres.port}) under load")
        time.sleep(OUTAGE)
        private_postgres.start()
        tally.inject(f"PostgreSQL started again after {OUTAGE:g}s")
        time.sleep(AFTER)
    finally:
        load.stop()
    acknowledged = {name for name, status in load.answers.items() if status == 200}
    codes_under_load = dict(load.codes)

    refused = load.unanswered()
    deadline = time.monotonic() + RETRY_TIMEOUT
    while load.unanswered() and time.monotonic() < deadline:
        for name in load.unanswered():
            load.post(name)
        time.sleep(0.2)

    rows = [a["labels"]["alertname"] for a in replica.alerts()]
    tally.count(
        sent=len(load.answers),
        acknowledged=len(acknowledged),
        answered_503=codes_under_load.get(503, 0),
        answered_other=sum(n for code, n in codes_under_load.items() if code not in (200, 503)),
        retried_to_200=len(refused) - len(load.unanswered()),
        stored=len(rows),
        duplicated=duplicates(rows),
        lost=len(acknowledged - set(rows)),
        lost_after_retries=len(set(load.answers) - set(rows)),
    )
    assert codes_under_load.get(503, 0) > 0, "no webhook met the outage: nothing was tested"
    assert set(codes_under_load) <= {200, 503}, codes_under_load
    assert not load.unanswered(), "webhooks still refused after PostgreSQL came back"
    assert duplicates(rows) == 0
    assert acknowledged <= set(rows)
    assert set(rows) == set(load.answers)
