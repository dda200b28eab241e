"""A dry run is marked as one wherever the console shows an execution, and its page says what
each step would have done; a live run carries no such mark. Over HTTP, as a browser reads the
pages."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.automation.conftest import executions, finished, runbooks
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, eventually
from tests.console.conftest import APPROVAL_RUNBOOK, console_config_text, fire, login
from tests.payloads import alert

RESTART = """
id: restart-checkout-now
title: Restart checkout when it fires
match: ['alertname="HighErrorRate"', 'service="checkout"']
steps:
  - id: restart
    http:
      method: POST
      url: "http://127.0.0.1:9/restart/{{ labels.service }}"
      body: {why: "{{ annotations.summary }}"}
"""
BADGE = 'class="tag dry-run"'


def row(page: str, execution_id: int) -> str:
    """The table row that links to the execution."""
    for found in re.findall(r"<tr>.*?</tr>", page, re.S):
        if f'href="/console/executions/{execution_id}"' in found:
            return str(found)
    raise AssertionError(f"no row for execution {execution_id}")


async def start(aiohttp_client: Any, db_url: str) -> TestClient[Any, Any]:
    config = parse_config(console_config_text(db_url), env={})  # no automation.mode
    app = create_app(
        config,
        registry=CollectorRegistry(),
        runbooks=runbooks(RESTART, APPROVAL_RUNBOOK),
        step_actions={},
    )
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_a_dry_run_is_marked_everywhere_it_is_shown(aiohttp_client: Any, db_url: str) -> None:
    client = await start(aiohttp_client, db_url)
    [alert_id] = await fire(client, alert(annotations={"summary": "5xx <b>on</b> checkout"}))
    [auto] = await eventually(lambda: executions(client))
    dry = (await finished(client, auto["id"]))["id"]
    # A live run by hand, for contrast: no mark.
    resp = await client.post(
        "/api/v1/runbooks/restart-checkout/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    live = int((await resp.json())["id"])
    await login(client, VIEWER_TOKEN)

    page = await (await client.get(f"/console/alerts/{alert_id}")).text()
    assert BADGE in row(page, dry)
    assert f"runbook restart-checkout-now started: execution {dry} (dry run)" in page
    page = await (await client.get("/console/executions")).text()
    assert BADGE in row(page, dry) and BADGE not in row(page, live)
    page = await (await client.get("/console/runbooks/restart-checkout-now")).text()
    assert BADGE in row(page, dry)
    page = await (await client.get("/console/runbooks")).text()
    [listed] = [r for r in re.findall(r"<tr>.*?</tr>", page, re.S) if "restart-checkout-now" in r]
    assert BADGE in listed and "automatic, as dry runs" in listed
    page = await (await client.get(f"/console/executions/{live}")).text()
    assert BADGE not in page

    page = await (await client.get(f"/console/executions/{dry}")).text()
    succeeded = '<span class="state state-succeeded">succeeded</span>'
    assert f'<p class="execution-state">{succeeded} <span {BADGE}' in page
    # What the step would have done, the alert's text escaped for the page.
    assert (
        '<div class="step-action"><code>would POST http://127.0.0.1:9/restart/checkout body '
        "{&#34;why&#34;: &#34;5xx &lt;b&gt;on&lt;/b&gt; checkout&#34;}</code></div>"
    ) in page
    assert "<b>on</b>" not in page


async def test_a_dry_run_by_hand_names_its_sample_alert(aiohttp_client: Any, db_url: str) -> None:
    client = await start(aiohttp_client, db_url)
    resp = await client.post(
        "/api/v1/runbooks/restart-checkout-now/execute",
        json={"dry_run": True},
        headers=auth(ADMIN_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    done = await finished(client, int((await resp.json())["id"]))
    assert done["state"] == "succeeded" and done["alert_id"] is None
    assert done["steps"][0]["output"]["would"]["body"] == {
        "why": "sample alert for a dry run of restart-checkout-now"
    }
    await login(client, VIEWER_TOKEN)
    page = await (await client.get(f"/console/executions/{done['id']}")).text()
    assert "a sample alert: " in page
    assert '<span class="label">service="checkout"</span>' in page
    assert "/restart/checkout body {&#34;why&#34;: &#34;sample alert for a dry run" in page
