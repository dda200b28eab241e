"""A notification channel down for a long spell (answering 503, or its port closed), many
breaker cool-downs long: the jobs wait behind the circuit breaker instead of spending their
attempts, none is dead-lettered although the spell is far longer than max_attempts x backoff,
and every notification arrives exactly once after the channel recovers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.conftest import (
    RecordingReceiver,
    Replica,
    Tally,
    scrape,
    settle,
    webhook_channel,
)
from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import http
from tests.payloads import alert, webhook

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

ALERTS = 3  # few: the probes fall on the same jobs again and again
COOLDOWN = 1.0  # seconds an open breaker refuses sends
MAX_ATTEMPTS = 3
BACKOFF_MAX = 0.2  # seconds
SPELL = 8.0  # seconds the channel answers 503: eight cool-downs, 13x max_attempts x backoff
BREAKER = f"{{failure_threshold: 2, open_cooldown: {COOLDOWN:g}s, half_open_probe_count: 1}}"


@pytest.mark.parametrize("outage", ["503", "port-closed"])
def test_a_long_channel_outage_defers_behind_the_breaker_and_dead_letters_nothing(
    outage: str,
    tmp_path: Path,
    receiver: RecordingReceiver,
    replicas: Callable[..., Replica],
    tally: Tally,
) -> None:
    extra = webhook_channel(
        receiver.url,
        breaker=BREAKER,
        max_attempts=str(MAX_ATTEMPTS),
        backoff_initial="100ms",
        backoff_max=f"{BACKOFF_MAX * 1000:g}ms",
    )
    replica = replicas(f"sqlite+aiosqlite:///{tmp_path / 'firebreak.db'}", extra)
    if outage == "503":
        receiver.status = 503
    else:
        receiver.close_port()
    tally.inject(
        f"notification channel {'answers 503' if outage == '503' else 'port closed'} for "
        f"{SPELL:g}s (cool-down {COOLDOWN:g}s)"
    )
    began = time.monotonic()
    names = [f"Outage{n}" for n in range(ALERTS)]
    for name in names:
        body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        status, _ = http("POST", replica.url + "/webhook", token=WEBHOOK_TOKEN, body=body)
        assert status == 200
    dead_during_spell = 0
    breaker_opened = False
    while time.monotonic() - began < SPELL:
        dead_during_spell = max(
            dead_during_spell, len(replica.get_json("/api/v1/jobs?state=dead")["jobs"])
        )
        breaker_opened |= (
            replica.metric("firebreak_circuit_breaker_state", 'channel="hook",target=""') == 2
        )
        time.sleep(0.5)
    # Sends that failed (503 or refused), as Firebreak counted them.
    attempts_during_spell = int(
        scrape(replica.url, "firebreak_notifications_total", channel="hook", outcome="failed")
    )
    receiver.status = 200
    receiver.reopen_port()
    tally.inject("notification channel answers 200 again")

    fingerprints = {a["fingerprint"] for a in replica.alerts()}
    settled = settle(lambda: set(receiver.per_alert()) >= fingerprints, 4 * COOLDOWN + 10)
    time.sleep(2 * COOLDOWN)  # anything still to come would come now
    per_alert = receiver.per_alert()
    dead = replica.get_json("/api/v1/jobs?state=dead")["jobs"]
    dead_lettered = replica.metric("firebreak_jobs_dead_lettered_total")
    tally.count(
        settled=int(settled),
        alerts=len(fingerprints),
        sends_failed_during_spell=attempts_during_spell,
        dead_jobs_during_spell=dead_during_spell,
        notified=len(per_alert),
        duplicated=sum(n - 1 for n in per_alert.values()),
        lost=len(fingerprints - set(per_alert)),
        dead_jobs=len(dead),
        dead_lettered_total=int(dead_lettered),
    )
    assert len(fingerprints) == ALERTS
    assert breaker_opened, "the breaker never opened: nothing was tested"
    assert dead_during_spell == 0 and dead == [] and dead_lettered == 0
    assert set(per_alert) == fingerprints and set(per_alert.values()) == {1}
    # Behind the breaker the channel was probed about once a cool-down, not hammered.
    assert attempts_during_spell <= 2 + 2 * SPELL / COOLDOWN + ALERTS
