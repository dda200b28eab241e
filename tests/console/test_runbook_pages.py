"""Every shipped runbook's console page renders through the real HTTP edge, with what each of
its steps does (headers, env, args and rollbacks included) and its secrets redacted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.automation.definitions import load_runbooks
from receiver.config import parse_config
from tests.automation.conftest import JOBS, SHIPPED_RUNBOOKS, shipped_automation
from tests.conftest import VIEWER_TOKEN, config_text
from tests.console.conftest import login

SHIPPED = sorted(path.stem for path in SHIPPED_RUNBOOKS.glob("*.yml"))
# What the runbooks read from the environment: a secret default that must never show.
ENV = {
    "IDP_ADMIN_TOKEN": "idp-token-7c6b5a",
    "PAGERDUTY_ROUTING_KEY": "routing-key-1a2b3c",
}


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], db_url: str) -> TestClient[Any, Any]:
    automation = shipped_automation(
        http_allow=["127.0.0.1"],
        prometheus_url="http://127.0.0.1:9",
        alertmanager_url="http://127.0.0.1:9",
    )
    config = parse_config(config_text(db_url, JOBS + automation), env={})
    runbooks = load_runbooks(config, env=ENV)
    assert sorted(rb.id for rb in runbooks) == SHIPPED
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks, step_actions={})
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_every_shipped_runbook_page_renders_what_its_steps_do(
    client: TestClient[Any, Any],
) -> None:
    await login(client, VIEWER_TOKEN)
    listing = await (await client.get("/console/runbooks")).text()
    for runbook_id in SHIPPED:
        assert runbook_id in listing
        resp = await client.get(f"/console/runbooks/{runbook_id}")
        text = await resp.text()
        assert resp.status == 200, (runbook_id, text[-2000:])
        assert f"<h1>{runbook_id} <small>" in text
        for secret in ENV.values():
            assert secret not in text, runbook_id
    # The sections that made the page fail (headers, args, env), shown and redacted.
    security = await (await client.get("/console/runbooks/security-incident")).text()
    assert "{{ params.user | path_segment }}" in security
    assert "&#34;Authorization&#34;: &#34;&lt;redacted&gt;&#34;" in security
    assert "/unlock" in security  # the lock step's rollback, with what it does
    recovery = await (await client.get("/console/runbooks/dead-letter-recovery")).text()
    assert "retry_dead_letters" in recovery and "dead_letters_settled" in recovery
    scale = await (await client.get("/console/runbooks/scale-out")).text()
    assert "DOCKER_HOST" in scale and "not_option" in scale
