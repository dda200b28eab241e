"""An http step that cannot connect says so in a sentence; aiohttp's own text stays in the
step's output as the detail."""

from __future__ import annotations

from typing import Any

import pytest

from tests.automation.conftest import finished
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, auth
from tests.console.conftest import login
from tests.ports import free_port


async def test_a_refused_connection_is_a_sentence_with_the_detail_kept(start: Any) -> None:
    port = free_port()
    client = await start(
        f"""
id: poke
title: Poke a service that is down
steps:
  - id: poke
    http: {{method: POST, url: "http://127.0.0.1:{port}/admin/restart"}}
"""
    )
    resp = await client.post(
        "/api/v1/runbooks/poke/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 202, await resp.text()
    record = await finished(client, (await resp.json())["id"])
    assert record["state"] == "failed"
    (step,) = record["steps"]
    assert step["error"] == f"cannot connect to 127.0.0.1:{port}: connection refused"
    detail = step["output"]["detail"]
    assert detail.startswith("ClientConnectorError: Cannot connect to host 127.0.0.1:")
    # The console's execution page shows the sentence as the step's problem, and the detail
    # under its output.
    await login(client, VIEWER_TOKEN)
    page = await client.get(f"/console/executions/{record['id']}")
    assert page.status == 200
    text = await page.text()
    assert (
        f'<div class="problem">cannot connect to 127.0.0.1:{port}: connection refused</div>' in text
    )
    assert "Cannot connect to host 127.0.0.1" in text


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ("promql: {query: up, expect: '== 1'}", "prometheus query failed: "),
        ("silence: {max_duration: 1h}", "alertmanager silence failed: "),
    ],
)
async def test_prometheus_and_alertmanager_out_of_reach_are_sentences_too(
    start: Any, step: str, said: str
) -> None:
    port = free_port()
    down = f"http://127.0.0.1:{port}"
    client = await start(
        f"""
id: look
title: Ask Prometheus or Alertmanager, which are down
steps:
  - id: ask
    {step}
""",
        extra=f'automation: {{prometheus_url: "{down}", alertmanager_url: "{down}"}}\n',
    )
    resp = await client.post(
        "/api/v1/runbooks/look/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 202, await resp.text()
    record = await finished(client, (await resp.json())["id"])
    assert record["state"] == "failed"
    (step_record,) = record["steps"]
    assert step_record["error"] == f"{said}cannot connect to 127.0.0.1:{port}: connection refused"
    assert step_record["output"]["detail"].startswith(
        "ClientConnectorError: Cannot connect to host"
    )
