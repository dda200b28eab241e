"""Fixtures for the console: the application with a runbook that waits for an approval and
one that only reads, and helpers that log in and press buttons as a browser would."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.automation.conftest import JOBS, runbooks
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.payloads import alert, webhook

APPROVAL_RUNBOOK = """
id: restart-checkout
title: Restart checkout once someone approves
owner: team-payments
params:
  code: {secret: true, default: "default-code-5c4b3a"}
steps:
  - id: ask
    approval: {message: "Restart checkout?", timeout: 30m}
  - id: settle
    wait: {duration: 2s}
"""

PROBE_RUNBOOK = """
id: probe-checkout
title: Ask checkout how it is
params:
  service: {from: labels.service, default: checkout, settable: true, pattern: '[a-z][a-z0-9-]*'}
steps:
  - id: status
    http: {url: "http://127.0.0.1:9/{{ params.service | path_segment }}/status"}
"""

# Steps may only reach loopback; the dry run reaches nothing at all.
GUARDS = 'automation: {http_allow: ["127.0.0.1"]}\n'

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')

Start = Callable[..., Awaitable[TestClient[Any, Any]]]


def console_config_text(
    db_url: str, *, auth_failure_limit: int = 10, secure_cookies: bool = False
) -> str:
    text = config_text(db_url, JOBS + GUARDS)
    api = f"api:\n  auth_failure_limit: {auth_failure_limit}\n"
    api += f"  secure_cookies: {str(secure_cookies).lower()}\n"
    return text.replace("api:\n", api, 1)


@pytest.fixture
def start(aiohttp_client: Callable[..., Any], db_url: str) -> Start:
    """The application on the test's database, with the two runbooks."""

    async def run(**options: Any) -> TestClient[Any, Any]:
        config = parse_config(console_config_text(db_url, **options), env={})
        app = create_app(
            config,
            registry=CollectorRegistry(),
            runbooks=runbooks(APPROVAL_RUNBOOK, PROBE_RUNBOOK),
            step_actions={},
        )
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return run


async def fire(client: TestClient[Any, Any], *alerts: dict[str, Any]) -> list[int]:
    """Post the alerts through the webhook; their ids, newest first."""
    resp = await client.post(
        "/webhook", json=webhook(*(alerts or (alert(),))), headers=auth(WEBHOOK_TOKEN)
    )
    assert resp.status == 200, await resp.text()
    listing = await client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))
    return [a["id"] for a in (await listing.json())["alerts"]]


async def login(client: TestClient[Any, Any], token: str) -> str:
    """Log in through the form; the CSRF token the pages then carry."""
    resp = await client.post(
        "/console/login", data={"token": token, "next": "/"}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    page = await client.get("/")
    assert page.status == 200
    found = CSRF.search(await page.text())
    assert found is not None
    return found.group(1)


async def press(client: TestClient[Any, Any], path: str, csrf: str | None, **fields: str) -> Any:
    """Submit a console form as the browser does, without following the redirect."""
    data = dict(fields)
    if csrf is not None:
        data["csrf_token"] = csrf
    return await client.post(path, data=data, allow_redirects=False)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The browser tests' mark: Debian's chromium, driven by Playwright.
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Chromium is not installed (scripts/system-deps.sh test)"
)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where browser tests write their screenshots: ``$FIREBREAK_SCREENSHOTS`` when set."""
    where = Path(os.environ.get("FIREBREAK_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium through Playwright."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        found = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox"],  # CI runs as root, where Chromium's sandbox cannot start
        )
        yield found
        await found.close()
