"""A real Prometheus on loopback holding one known hour of data, written into its storage with
``promtool tsdb create-blocks-from openmetrics`` before it starts, and a scripted HTTP server
that plays a Prometheus gone wrong (slow, refusing, answering garbage or too much).

The hour is fixed in the past (``HOUR_START`` to ``HOUR_END``), so every test asks for the
same points and the graphs drawn are the same bytes; retention is set long enough that
Prometheus keeps the block.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver.config import GraphsConfig
from tests.api.test_channels import ca, smtp  # noqa: F401 - fixtures: a test CA, an SMTP server
from tests.e2e.conftest import free_port, serve

HOUR_START = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
HOUR_END = HOUR_START + timedelta(hours=1)
# When the errors of instance "b" jump: the alert's start in these tests.
JUMP = HOUR_START + timedelta(minutes=40)
SCRAPE = 15  # seconds between the samples written
MANY = 30  # series of many_series


def _hour_of_samples() -> str:
    """OpenMetrics text of the hour: two error ratios (one jumps at JUMP), a series with a
    half-hour hole, and MANY series of another metric."""
    lines = ["# TYPE errors_ratio gauge"]
    start = int(HOUR_START.timestamp())
    jump = int(JUMP.timestamp())
    for t in range(start, start + 3601, SCRAPE):
        wobble = 0.002 * math.sin((t - start) / 120)
        lines.append(f'errors_ratio{{instance="a",job="api"}} {0.01 + wobble} {t}')
        ratio = 0.25 + wobble if t >= jump else 0.012 - wobble
        lines.append(f'errors_ratio{{instance="b",job="api"}} {ratio} {t}')
    lines.append("# TYPE gappy gauge")
    for t in range(start, start + 3601, SCRAPE):
        if not start + 900 <= t < start + 2700:
            lines.append(f"gappy {1 + (t - start) / 3600} {t}")
    lines.append("# TYPE many_series gauge")
    for i in range(MANY):
        for t in range(start, start + 3601, 60):
            lines.append(f'many_series{{i="{i:02d}"}} {i} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Prometheus that holds the hour."""
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        pytest.skip("prometheus is not installed; install it with `scripts/system-deps.sh test`")
    base = tmp_path_factory.mktemp("prometheus-graphs")
    samples = base / "hour.om"
    samples.write_text(_hour_of_samples())
    data = base / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(samples), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = base / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 1m}\nscrape_configs: []\n")
    port = free_port()
    yield from serve(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        port,
        base / "prometheus.log",
    )


def graphs_config(url: str, **overrides: Any) -> GraphsConfig:
    return GraphsConfig(prometheus_url=url, **overrides)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ScriptedPrometheus:
    """An HTTP server that answers ``/api/v1/query_range`` as the test says, and records the
    requests it got (so a test can say it was never asked)."""

    answer: Answer | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path, **request.query})
        if self.answer is None:
            return web.json_response(
                {"status": "success", "data": {"resultType": "matrix", "result": []}}
            )
        return await self.answer(request)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedPrometheus]:
    found = ScriptedPrometheus()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    found.released.set()
    await found.server.close()


def unused_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"
