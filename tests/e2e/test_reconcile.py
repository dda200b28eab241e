"""Reconciling with a real Alertmanager through its v2 API: lost webhooks are made good, alerts
Alertmanager dropped are resolved, and a truncated webhook's group is fetched whole."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_grafana_webhook import grafana_alert, grafana_webhook
from tests.e2e.conftest import Alertmanager, FirebreakServer, free_port, http, wait_until
from tests.e2e.test_alertmanager import rfc3339

pytestmark = pytest.mark.e2e


def _alert(name: str, instance: str, starts: datetime, ends: datetime) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "service": "checkout", "instance": instance},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
    }


def reconciled(server: FirebreakServer, action: str) -> float:
    return server.metric("firebreak_reconciled_alerts_total", f'action="{action}"')


def _by_instance(server: FirebreakServer) -> dict[str, dict[str, Any]]:
    return {a["labels"]["instance"]: a for a in server.alerts() if "instance" in a["labels"]}


class TestFirebreaksOwnAlerts:
    """Alertmanager never holds the alerts Firebreak raises itself: reconciling leaves them
    firing however long they are absent from it."""

    @pytest.fixture
    def firebreak_extra_config(self, alertmanager_port: int) -> str:
        return f"""
alertmanager:
  url: "http://127.0.0.1:{alertmanager_port}"
  receiver: firebreak
  reconcile_interval: 1s
  resolve_grace: 1s
channels:
  mail:
    type: email
    email: {{host: 127.0.0.1, port: {free_port()}, sender: "Firebreak <fb@example.com>"}}
paging: {{email: mail}}
people:
  - {{id: mute, name: Nobody Home}}
schedules:
  - id: later
    layers: [{{members: [mute], shift: weekly, start: "2099-06-01"}}]
escalation_policies:
  oncall:
    tiers: [{{after: 0s, notify: [{{schedule: later}}]}}]
routes:
  - {{name: all, escalation_policy: oncall}}
"""

    @pytest.fixture
    def alertmanager_edit(self) -> Any:
        dead = f"http://127.0.0.1:{free_port()}/webhook"

        def edit(config: dict[str, Any]) -> None:
            for hook in config["receivers"][0]["webhook_configs"]:
                hook["url"] = dead

        return edit

    def test_an_on_call_gap_alert_is_not_resolved_for_being_absent_from_alertmanager(
        self, firebreak_server: FirebreakServer, alertmanager: Alertmanager
    ) -> None:
        now = datetime.now(UTC)
        alertmanager.post_alerts([_alert("Lost", "i9", now, now + timedelta(hours=1))])

        def gap() -> dict[str, Any] | None:
            found = [
                a
                for a in firebreak_server.alerts()
                if a["labels"].get("alertname") == "FirebreakOnCallGap"
            ]
            return found[0] if found else None

        raised = wait_until(gap, timeout=20, what="the gap alert raised")
        assert raised["status"] == "firing" and raised["fingerprint"].startswith("firebreak:")
        time.sleep(2)  # past resolve_grace since the gap alert was last seen
        # i9 ends, its resolved webhook lost: once reconciliation has resolved it, it has run
        # with the gap alert firing and past the grace.
        alertmanager.post_alerts([_alert("Lost", "i9", now, datetime.now(UTC))])
        wait_until(
            lambda: _by_instance(firebreak_server)["i9"]["status"] == "resolved",
            timeout=20,
            what="i9 resolved by reconciliation",
        )
        after = gap()
        assert after is not None and after["status"] == "firing"
        assert reconciled(firebreak_server, "resolved") == 1


class TestLostWebhooks:
    """Alertmanager's webhooks go to a port nobody listens on: every one is lost, and only
    reconciliation can tell Firebreak what fires and what stopped."""

    @pytest.fixture
    def firebreak_extra_config(self, alertmanager_port: int) -> str:
        return f"""
alertmanager:
  url: "http://127.0.0.1:{alertmanager_port}"
  receiver: firebreak
  reconcile_interval: 1s
  resolve_grace: 1s
"""

    @pytest.fixture
    def alertmanager_edit(self) -> Any:
        dead = f"http://127.0.0.1:{free_port()}/webhook"

        def edit(config: dict[str, Any]) -> None:
            for hook in config["receivers"][0]["webhook_configs"]:
                hook["url"] = dead

        return edit

    def test_lost_firing_is_ingested_and_dropped_alert_is_resolved(
        self, firebreak_server: FirebreakServer, alertmanager: Alertmanager
    ) -> None:
        now = datetime.now(UTC)
        alerts = [_alert("Lost", f"i{n}", now, now + timedelta(hours=1)) for n in range(3)]
        alertmanager.post_alerts(alerts)

        stored = wait_until(
            lambda: len(_by_instance(firebreak_server)) == 3 and _by_instance(firebreak_server),
            timeout=20,
            what="the three alerts ingested by reconciliation",
        )
        assert {a["status"] for a in stored.values()} == {"firing"}
        assert {a["group_key"] for a in stored.values()} == {"firebreak:reconcile"}
        assert reconciled(firebreak_server, "ingested") == 3

        # i0 ends in Alertmanager; its resolved webhook is lost too.
        alertmanager.post_alerts([_alert("Lost", "i0", now, datetime.now(UTC))])
        wait_until(
            lambda: _by_instance(firebreak_server)["i0"]["status"] == "resolved",
            timeout=20,
            what="i0 resolved by reconciliation",
        )
        after = _by_instance(firebreak_server)
        assert after["i1"]["status"] == after["i2"]["status"] == "firing"
        assert reconciled(firebreak_server, "resolved") == 1
        # One occurrence each however many runs saw them; one chain of reconcile jobs.
        assert len(firebreak_server.alerts()) == 3
        pending = firebreak_server.query(
            "SELECT count(*) FROM jobs WHERE kind = 'reconcile' AND state IN ('pending', 'running')"
        )
        assert pending == [(1,)]

    def test_grafana_and_manual_alerts_are_not_resolved_for_being_absent_from_alertmanager(
        self, firebreak_server: FirebreakServer, alertmanager: Alertmanager
    ) -> None:
        # Grafana's truncated notification must not send Firebreak to Alertmanager for its group.
        payload = grafana_webhook(grafana_alert()) | {"truncatedAlerts": 2}
        status, _ = http(
            "POST",
            firebreak_server.url + "/webhook/grafana",
            token=firebreak_server.webhook_token,
            body=payload,
        )
        assert status == 200
        # Nor those raised by hand.
        page = {"key": "reconcile-1", "title": "Paged by hand"}
        status, _ = http(
            "POST",
            firebreak_server.url + "/api/v1/alerts",
            token=firebreak_server.admin_token,
            body=page,
        )
        assert status == 201
        now = datetime.now(UTC)
        # An Alertmanager alert that then ends, its resolved webhook lost: once reconciliation
        # has resolved it, it has run with the Grafana alert firing and past the grace.
        alertmanager.post_alerts([_alert("Lost", "i9", now, now + timedelta(hours=1))])
        wait_until(lambda: "i9" in _by_instance(firebreak_server), timeout=20, what="i9 stored")
        alertmanager.post_alerts([_alert("Lost", "i9", now, datetime.now(UTC))])
        wait_until(
            lambda: _by_instance(firebreak_server)["i9"]["status"] == "resolved",
            timeout=20,
            what="i9 resolved by reconciliation",
        )
        others = {
            a["labels"]["alertname"]: a
            for a in firebreak_server.alerts()
            if "instance" not in a["labels"]
        }
        grafana = others["High memory usage"]
        assert grafana["status"] == "firing" and grafana["grafana"]["values"]["B"] > 44
        assert others["Paged by hand"]["status"] == "firing"
        assert firebreak_server.jobs("kind=fetch_group") == []


class TestTruncatedGroup:
    """Alertmanager sends at most one alert per webhook (max_alerts: 1); Firebreak fetches the
    rest of the group from the API. Reconciliation is off, so nothing else could."""

    @pytest.fixture
    def firebreak_extra_config(self, alertmanager_port: int) -> str:
        return f"""
alertmanager:
  url: "http://127.0.0.1:{alertmanager_port}"
  reconcile_interval: 0s
"""

    @pytest.fixture
    def alertmanager_edit(self) -> Any:
        def edit(config: dict[str, Any]) -> None:
            for hook in config["receivers"][0]["webhook_configs"]:
                hook["max_alerts"] = 1

        return edit

    def test_truncated_webhook_group_is_fetched_whole(
        self, firebreak_server: FirebreakServer, alertmanager: Alertmanager
    ) -> None:
        now = datetime.now(UTC)
        alertmanager.post_alerts(
            [_alert("Cut", f"i{n}", now, now + timedelta(hours=1)) for n in range(4)]
        )
        wait_until(
            lambda: len(firebreak_server.alerts()) == 4,
            timeout=20,
            what="all four alerts of the truncated group stored",
        )
        truncated = firebreak_server.query("SELECT max(truncated_alerts) FROM webhooks")
        assert truncated == [(3,)]
        assert reconciled(firebreak_server, "fetched") >= 3
        assert len(firebreak_server.alerts()) == 4
