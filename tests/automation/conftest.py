"""Fixtures for runbook automation: the application with runbooks given as YAML, and a local
HTTP server that records what the steps sent it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.automation.definitions import Runbooks, parse_runbook
from tests.conftest import VIEWER_TOKEN, auth, eventually

JOBS = """
jobs: {workers: 4, lease: 5s, max_attempts: 3, backoff_initial: 100ms, backoff_max: 200ms,
       poll_interval: 200ms}
"""

# Steps in these tests call the local Target and run this Python; nothing else is allowed.
# Live: alerts start runbooks that act (the default, dry_run, only records what they would do).
GUARDS = f"""
automation: {{mode: live, http_allow: ["127.0.0.1"], shell_allow: ["{sys.executable}"]}}
"""

# A runbook that only waits a moment, for DiskFull alerts.
PAUSE = """
id: pause
title: Pause a moment
match: ['alertname="DiskFull"']
steps:
  - id: wait
    wait: {duration: 100ms}
"""

SHIPPED_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def shipped_automation(
    *, http_allow: list[str], prometheus_url: str, alertmanager_url: str, shell_allow: str = ""
) -> str:
    """The ``automation:`` section of an application that runs the shipped runbooks for real
    (``mode: live``), their steps reaching only what the test lists."""
    allow = ", ".join(f'"{entry}"' for entry in http_allow)
    shell = f', shell_allow: ["{shell_allow}"]' if shell_allow else ""
    return (
        f'automation: {{runbooks: ["{SHIPPED_RUNBOOKS}/*.yml"], mode: live, '
        f'prometheus_url: "{prometheus_url}", alertmanager_url: "{alertmanager_url}", '
        f"http_allow: [{allow}]{shell}}}\n"
    )


class Target:
    """A local HTTP service steps call: records every request, answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        status = self.status.get(request.path, 200)
        return web.json_response({"ok": status < 400, "path": request.path}, status=status)

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    found = Target()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    await found.server.close()


def runbooks(*texts: str, env: Mapping[str, str] | None = None) -> Runbooks:
    parsed = [
        parse_runbook(text, source=f"runbook{i}.yml", env=env or {}) for i, text in enumerate(texts)
    ]
    return Runbooks({rb.id: rb for rb in parsed})


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Any], db_url: str, make_config: Callable[..., Any]
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """Start the application on the test's database with the given runbooks."""

    async def run(
        *texts: str,
        extra: str = "",
        actions: dict[str, Any] | None = None,
        owner: str = "a",
        jobs: str = JOBS,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> TestClient[Any, Any]:
        """``env``: what ``${VAR}`` in the runbooks reads; ``port``: where the application
        listens (for a runbook that calls it back at an address it is given up front)."""
        if "automation:" not in extra:
            extra += GUARDS
        config = make_config(db_url, jobs + extra)
        app = create_app(
            config,
            registry=CollectorRegistry(),
            owner=owner,
            runbooks=runbooks(*texts, env=env),
            step_actions=actions or {},
        )
        server = {"host": "127.0.0.1", "port": port} if port else {}
        return await aiohttp_client(app, server_kwargs=server)  # type: ignore[no-any-return]

    return run


async def execution(client: TestClient[Any, Any], execution_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/executions/{execution_id}", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def finished(
    client: TestClient[Any, Any], execution_id: int, within: float = 10.0
) -> dict[str, Any]:
    """The execution once it has ended."""

    async def check() -> dict[str, Any] | None:
        found = await execution(client, execution_id)
        ended = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")
        return found if found["state"] in ended else None

    result: dict[str, Any] = await eventually(check, within)
    return result


async def in_state(
    client: TestClient[Any, Any], execution_id: int, state: str, within: float = 10.0
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await execution(client, execution_id)
        return found if found["state"] == state else None

    result: dict[str, Any] = await eventually(check, within)
    return result


async def executions(client: TestClient[Any, Any], query: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/executions?{query}", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["executions"]  # type: ignore[no-any-return]
