"""PagerDuty end to end: a real Alertmanager notifies a real ``firebreak serve``, which pages
the HTTPS PagerDuty fake with its routing key from the environment; a signed v3 webhook from
the fake acknowledges, and Alertmanager's resolve resolves the incidents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    GROUP_INTERVAL,
    REPEAT_INTERVAL,
    Alertmanager,
    FirebreakServer,
    http,
    wait_until,
)
from tests.e2e.test_alertmanager import DELIVERY_TIMEOUT, make_alerts
from tests.fakes.pagerduty import ThreadedFakePagerDuty, channel_yaml

pytestmark = pytest.mark.e2e

KEY = "E2EROUTINGKEY0123456789ABCDEFGHI"
SECRET = "e2e-pagerduty-webhook-secret"


@pytest.fixture
def pagerduty() -> Iterator[ThreadedFakePagerDuty]:
    with ThreadedFakePagerDuty(routing_keys=(KEY,)) as server:
        yield server


@pytest.fixture
def firebreak_extra_config(
    pagerduty: ThreadedFakePagerDuty, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    # The server inherits the environment: the key and secret come in as in production.
    monkeypatch.setenv("FIREBREAK_TEST_PD_KEY", KEY)
    monkeypatch.setenv("FIREBREAK_TEST_PD_SECRET", SECRET)
    ca_file = pagerduty.fake.write_ca(tmp_path / "pagerduty-ca.pem")
    channel = channel_yaml(pagerduty.fake, ca_file, "${FIREBREAK_TEST_PD_KEY}", "500ms")
    return f"""
channels:{channel}
escalation_policies:
  page:
    tiers: [{{after: 0s, notify: [pd]}}]
routes:
  - {{name: critical, match: 'severity="critical"', escalation_policy: page}}
pagerduty:
  webhook_secrets: ["${{FIREBREAK_TEST_PD_SECRET}}"]
jobs: {{backoff_initial: 200ms, backoff_max: 1s, poll_interval: 500ms}}
"""


def test_alertmanager_to_pagerduty_and_back(
    alertmanager: Alertmanager, firebreak_server: FirebreakServer, pagerduty: ThreadedFakePagerDuty
) -> None:
    fake, server = pagerduty.fake, firebreak_server
    fake.script(429, 503)  # a throttled spell and a failing one before PagerDuty takes events
    starts_at = datetime.now(UTC)
    alertmanager.post_alerts(make_alerts(starts_at, starts_at + timedelta(hours=1)))

    # The three critical alerts (one Alertmanager group) each open one incident; the warning
    # one goes to the default policy and never reaches PagerDuty.
    wait_until(
        lambda: len(fake.incidents) == 3,
        timeout=DELIVERY_TIMEOUT,
        what="three PagerDuty incidents",
        procs=(alertmanager.proc, server.proc),
    )
    assert fake.answers[:2] == [429, 503]
    assert all(r["payload"]["severity"] == "critical" for r in fake.requests)
    assert {r["payload"]["source"] for r in fake.requests} == {f"checkout-{i}" for i in range(3)}

    # Alertmanager re-sends the group (repeat_interval): still three incidents, each paged once.
    accepted = server.metric("firebreak_webhook_requests_total", 'code="200"')
    wait_until(
        lambda: server.metric("firebreak_webhook_requests_total", 'code="200"') >= accepted + 1,
        timeout=REPEAT_INTERVAL + 3 * GROUP_INTERVAL,
        what="Alertmanager re-sending the group",
        procs=(alertmanager.proc, server.proc),
    )
    assert len(fake.incidents) == 3
    assert [i.triggers for i in fake.incidents] == [1, 1, 1]

    # Acknowledged in PagerDuty by a signed webhook: acknowledged in Firebreak.
    incident = fake.incidents[0]
    url = server.url + "/integrations/pagerduty/webhook"
    status, body = pagerduty.call(
        fake.send_webhook(url, "incident.acknowledged", incident, (SECRET,))
    )
    assert (status, body["outcome"]) == (200, "acknowledged")
    acknowledged = [a for a in server.alerts() if a["acknowledged_by"] == "Dana Ops"]
    assert len(acknowledged) == 1
    # The acknowledge goes back out as an Events API acknowledge, which changes nothing there.
    wait_until(
        lambda: any(r["event_action"] == "acknowledge" for r in fake.requests),
        timeout=DELIVERY_TIMEOUT,
        what="the acknowledge passed on",
    )

    # A forged webhook is refused.
    forged = fake.webhook_body("incident.resolved", fake.incidents[1])
    status, _ = http("POST", url, body=json.loads(forged))
    assert status == 401

    # Alertmanager resolves the alerts: every incident is resolved with its own key.
    alertmanager.post_alerts(make_alerts(starts_at, datetime.now(UTC)))
    wait_until(
        lambda: all(i.status == "resolved" for i in fake.incidents),
        timeout=DELIVERY_TIMEOUT,
        what="PagerDuty incidents resolved",
        procs=(alertmanager.proc, server.proc),
    )
    resolves = [r["dedup_key"] for r in fake.requests if r["event_action"] == "resolve"]
    assert sorted(resolves) == sorted(i.incident_key for i in fake.incidents)
    assert len(fake.incidents) == 3
