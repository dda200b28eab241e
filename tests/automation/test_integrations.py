"""Steps against the real thing: promql against a Prometheus started on loopback (scraping
itself), silences created on and expired from a real Alertmanager."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.automation.conftest import finished
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.e2e.conftest import (
    alertmanager_bin,  # noqa: F401 - a fixture
    free_port,
    http,
    serve,
)
from tests.maintenance.conftest import alertmanager_at
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def prometheus_url(tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping itself every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed; install it with `scripts/system-deps.sh test`")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "prometheus",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    yield from serve(command, port, tmp_path / "prometheus.log")


@pytest.fixture
def alertmanager_url(tmp_path: Path, alertmanager_bin: str) -> Iterator[str]:  # noqa: F811
    """A real Alertmanager that notifies nobody: silences are what is tested."""
    with alertmanager_at(free_port(), tmp_path, alertmanager_bin) as url:
        yield url


async def run(client: Any, runbook: str) -> int:
    resp = await client.post(
        f"/api/v1/runbooks/{runbook}/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 202, await resp.text()
    return int((await resp.json())["id"])


async def test_promql_steps_poll_a_real_prometheus_until_the_condition_holds(
    start: Any, prometheus_url: str
) -> None:
    client = await start(
        """
id: recovered
title: Validate recovery
steps:
  - id: up
    promql:
      query: 'up{job="prometheus"}'
      expect: "== 1"
      poll_interval: 500ms
      poll_for: 20s
  - id: ratio
    promql: {query: 'vector(0.002)', expect: "< 0.01"}
  - id: never
    promql: {query: 'vector(1)', expect: "< 0.01", poll_interval: 200ms, poll_for: 600ms}
""",
        extra=f"automation: {{prometheus_url: '{prometheus_url}'}}",
    )
    eid = await run(client, "recovered")
    record = await finished(client, eid, within=30)
    steps = {s["step_id"]: s for s in record["steps"]}
    assert steps["up"]["state"] == "succeeded", steps["up"]
    assert steps["up"]["output"]["value"] == 1.0
    assert steps["ratio"]["output"]["value"] == 0.002
    assert record["state"] == "failed"
    assert steps["never"]["error"] == "vector(1) = 1.0, not < 0.01 within 600ms"


async def test_a_silence_step_silences_the_alert_until_the_run_ends(
    start: Any, alertmanager_url: str
) -> None:
    client = await start(
        """
id: quiet
title: Silence and page
match: 'alertname="DiskFilling"'
steps:
  - id: hush
    silence: {max_duration: 1h}
  - id: hold
    wait: {duration: 1s}
""",
        extra=f"automation: {{mode: live, alertmanager_url: '{alertmanager_url}'}}",
    )

    def silences() -> list[dict[str, Any]]:
        status, body = http("GET", alertmanager_url + "/api/v2/silences")
        assert status == 200
        found: list[dict[str, Any]] = json.loads(body)
        return found

    payload = webhook(alert("DiskFilling", labels={"instance": "db-1"}))
    await client.post("/webhook", json=payload, headers=auth(WEBHOOK_TOKEN))
    active = await eventually(
        lambda: [s for s in silences() if s["status"]["state"] == "active"], within=10
    )
    silence = active[0]
    assert silence["createdBy"] == "firebreak"
    assert silence["comment"].startswith("firebreak execution ")
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    assert matchers["alertname"] == "DiskFilling" and matchers["instance"] == "db-1"
    eid = int(silence["comment"].rsplit(" ", 1)[1])
    record = await finished(client, eid)
    assert record["state"] == "succeeded"
    await eventually(lambda: all(s["status"]["state"] == "expired" for s in silences()), within=10)
