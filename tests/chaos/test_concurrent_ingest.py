"""Two replicas on one PostgreSQL database taking the same alerts at once, harder than an HA pair
sends them: eight senders post overlapping groups — the same occurrences in different orders
and subsets, re-sends and resolutions mixed — to both replicas for a few seconds. Every answer
must be 200 (a deadlock or serialization failure would be a 503), and every occurrence one row
that ends resolved exactly when a resolution was acknowledged."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.chaos.conftest import Replica, Tally, duplicates
from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import http
from tests.payloads import alert, webhook

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.postgres]

SENDERS = 8
ALERTS = 120  # occurrences shared by every sender
PER_WEBHOOK = 40
DURATION = 6.0  # seconds of load
RESOLVE_AFTER = 3.0  # seconds in, senders start resolving the odd-numbered alerts


def test_overlapping_webhooks_to_two_replicas_never_answer_503_or_double(
    pg_url: str, replicas: Callable[..., Replica], tally: Tally
) -> None:
    pair = [replicas(pg_url, name=f"replica-{x}") for x in "ab"]
    names = [f"Shared{n}" for n in range(ALERTS)]
    codes: Counter[int] = Counter()
    resolved_acknowledged: set[str] = set()
    lock = threading.Lock()
    began = time.monotonic()

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while (elapsed := time.monotonic() - began) < DURATION:
            chosen = rng.sample(names, PER_WEBHOOK)
            resolving = elapsed > RESOLVE_AFTER
            alerts = [
                alert(
                    name,
                    status="resolved" if resolving and int(name[6:]) % 2 else "firing",
                    labels={"instance": name},
                )
                for name in chosen
            ]
            target = pair[(seed + n) % 2]
            status, _ = http(
                "POST",
                target.url + "/webhook",
                token=WEBHOOK_TOKEN,
                body=webhook(*alerts, group_key='{}:{alertname="Shared"}'),
                timeout=30,
            )
            with lock:
                codes[status] += 1
                if status == 200:
                    resolved_acknowledged.update(
                        a["labels"]["alertname"] for a in alerts if a["status"] == "resolved"
                    )
            n += 1

    threads = [threading.Thread(target=sender, args=(s,)) for s in range(SENDERS)]
    tally.inject(
        f"{SENDERS} senders posting overlapping {PER_WEBHOOK}-alert webhooks of {ALERTS} shared "
        f"alerts to two replicas for {DURATION:g}s, resolving half after {RESOLVE_AFTER:g}s"
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DURATION + 60)

    stored = pair[1].alerts()
    rows = [a["labels"]["alertname"] for a in stored]
    resolved = {a["labels"]["alertname"] for a in stored if a["status"] == "resolved"}
    tally.count(
        webhooks=sum(codes.values()),
        answered_200=codes.get(200, 0),
        answered_503=codes.get(503, 0),
        answered_other=sum(n for code, n in codes.items() if code not in (200, 503)),
        stored=len(rows),
        duplicated=duplicates(rows),
        lost=len(set(names) - set(rows)),
        resolved=len(resolved),
        resolved_wrongly=len(resolved ^ resolved_acknowledged),
    )
    assert set(codes) == {200}, codes
    assert duplicates(rows) == 0 and set(rows) == set(names)
    assert resolved == resolved_acknowledged
