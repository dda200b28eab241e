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
import pytest_asyncio
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from tests.automation.conftest import JOBS, runbooks
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, aiohttp_clients, auth, config_text
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


# The mark of a module of browser tests. Playwright's objects belong to the event loop that
# started it, and the worker's one Chromium (``chromium``) is started on the session's loop:
# the tests that drive it run there too, and so must the applications they visit, which such
# a module serves with ``browsers_aiohttp_client`` in place of pytest-aiohttp's
# ``aiohttp_client`` (whose applications live on the test's own loop):
#
#     pytestmark = ON_THE_BROWSERS_LOOP
#
#     @pytest.fixture
#     def aiohttp_client(browsers_aiohttp_client: Any) -> Any:
#         return browsers_aiohttp_client
#
# or, for one test of another module, ``@needs_chromium`` and ``@BROWSERS_LOOP``.
BROWSERS_LOOP = pytest.mark.asyncio(loop_scope="session")
ON_THE_BROWSERS_LOOP = [needs_chromium, BROWSERS_LOOP]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Headless Chromium through Playwright, launched once per worker: the driver and the
    launch take about 1.2 s of CPU and 3 s, which every browser test paid when each launched
    its own. Each test gets contexts of its own (``browser``)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        found = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox"],  # CI runs as root, where Chromium's sandbox cannot start
        )
        yield found
        await found.close()


class Browser:
    """The worker's Chromium as one test sees it: the contexts it opens (each with its own
    cookies, storage and pages) are closed when the test ends, so nothing of one test is left
    for the next."""

    def __init__(self, chromium: Any) -> None:
        self._chromium = chromium
        self._contexts: list[Any] = []

    async def new_context(self, **options: Any) -> Any:
        context = await self._chromium.new_context(**options)
        self._contexts.append(context)
        return context

    async def close(self) -> None:
        while self._contexts:
            await self._contexts.pop().close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Any) -> AsyncIterator[Browser]:
    """The browser of one test (tests marked ``ON_THE_BROWSERS_LOOP``)."""
    assert chromium.is_connected(), "the worker's Chromium has gone"
    found = Browser(chromium)
    try:
        yield found
    finally:
        await found.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browsers_aiohttp_client() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """pytest-aiohttp's ``aiohttp_client`` on the browsers' loop: a browser module's
    ``aiohttp_client`` (above), so that ``start`` and the module's own fixtures serve their
    applications there."""
    async with aiohttp_clients() as start_client:
        yield start_client
