"""The demo service: its metrics, faults and remedies, and its self-traffic."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from examples.demo_app.app import DemoSettings, create_app
from examples.demo_app.load import generate_load
from tests.conftest import eventually
from tests.e2e.conftest import free_port, http, wait_until

ROOT = Path(__file__).resolve().parents[2]
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def demo(aiohttp_client: ClientFactory, registry: CollectorRegistry) -> TestClient[Any, Any]:
    # rng 0.0: an error fault fails every request it may fail, so tests are exact.
    return await aiohttp_client(create_app(registry=registry, rng=lambda: 0.0))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_item_requests_are_counted_and_timed(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    resp = await demo.get("/api/items/7")
    assert resp.status == 200
    assert await resp.json() == {"item": "7", "value": "item 7"}
    route = "/api/items/{item}"
    assert sample(registry, "demo_http_requests_total", route=route, method="GET", code="200") == 1
    assert sample(registry, "demo_http_request_duration_seconds_count", route=route) == 1
    assert sample(registry, "demo_cache_entries") == 1
    text = await (await demo.get("/metrics")).text()
    assert 'demo_fault_active{fault="queue"} 0.0' in text
    assert "demo_queue_depth 0.0" in text


async def test_error_fault_fails_requests_until_a_restart(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    resp = await demo.post("/admin/fault/errors", json={"ratio": 1.0})
    assert resp.status == 200
    assert (await resp.json())["faults"]["errors"] == {"ratio": 1.0}
    assert sample(registry, "demo_fault_active", fault="errors") == 1
    assert (await demo.get("/api/items/1")).status == 500
    route = "/api/items/{item}"
    assert sample(registry, "demo_http_requests_total", route=route, method="GET", code="500") == 1

    resp = await demo.post("/admin/restart")
    assert resp.status == 200
    assert (await resp.json())["faults"]["errors"] is None
    assert (await demo.get("/api/items/1")).status == 200
    assert sample(registry, "demo_restarts_total") == 1
    assert sample(registry, "demo_fault_active", fault="errors") == 0


async def test_error_fault_defaults_to_half_the_requests(
    aiohttp_client: ClientFactory,
) -> None:
    draws = iter([0.4, 0.6])
    client = await aiohttp_client(create_app(rng=lambda: next(draws)))
    body = await (await client.post("/admin/fault/errors")).json()
    assert body["faults"]["errors"] == {"ratio": 0.5}
    assert (await client.get("/api/items/1")).status == 500
    assert (await client.get("/api/items/1")).status == 200


async def test_latency_fault_is_cleared_with_the_cache(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    await demo.get("/api/items/1")
    resp = await demo.post("/admin/fault/latency", json={"seconds": 0.3})
    assert (await resp.json())["faults"]["latency"] == {"seconds": 0.3}
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await demo.get("/api/items/2")).status == 200
    assert loop.time() - started >= 0.3

    body = await (await demo.post("/admin/cache/clear")).json()
    assert body["faults"]["latency"] is None
    assert body["cache_entries"] == 0
    assert sample(registry, "demo_cache_clears_total") == 1
    started = loop.time()
    await demo.get("/api/items/2")
    assert loop.time() - started < 0.3


async def test_delete_clears_one_fault(demo: TestClient[Any, Any]) -> None:
    await demo.post("/admin/fault/errors")
    await demo.post("/admin/fault/queue")
    body = await (await demo.delete("/admin/fault/errors")).json()
    assert body["faults"] == {"errors": None, "latency": None, "queue": {"stuck": True}}
    assert await (await demo.get("/admin/faults")).json() == body


async def test_stuck_queue_grows_until_a_restart(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    await demo.post("/admin/fault/queue")
    for _ in range(5):
        assert (await demo.post("/api/jobs")).status == 202
    await asyncio.sleep(0.3)  # several consumer ticks
    assert sample(registry, "demo_queue_depth") == 5
    await demo.post("/admin/restart")
    await asyncio.sleep(0.5)  # the consumer finishes 20 jobs a second
    assert sample(registry, "demo_queue_depth") == 0
    assert sample(registry, "demo_queue_jobs_processed_total") == 5


async def test_restarting_the_consumer_drains_a_stuck_queue_and_keeps_the_rest(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    await demo.post("/admin/fault/queue")
    await demo.post("/admin/fault/errors", json={"ratio": 1.0})
    await demo.post("/admin/fault/latency", json={"seconds": 0.01})
    for _ in range(5):
        assert (await demo.post("/api/jobs")).status == 202
    assert sample(registry, "demo_queue_depth") == 5
    resp = await demo.post("/admin/queue/consumer/restart")
    assert resp.status == 200
    # Only the consumer: the other faults stay, and so do the queued jobs until drained.
    assert (await resp.json())["faults"] == {
        "errors": {"ratio": 1.0},
        "latency": {"seconds": 0.01},
        "queue": None,
    }
    assert sample(registry, "demo_fault_active", fault="queue") == 0
    assert sample(registry, "demo_restarts_total") == 0

    def drained() -> bool:
        return sample(registry, "demo_queue_depth") == 0

    await eventually(drained, within=5, what="the queue drained")
    assert sample(registry, "demo_queue_jobs_processed_total") == 5


async def test_restarting_the_consumer_needs_the_admin_token(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(create_app(DemoSettings(admin_token="s3cret")))
    assert (await client.post("/admin/queue/consumer/restart")).status == 401


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/admin/fault/disk", None, 404),
        ("/admin/fault/errors", {"ratio": 2}, 400),
        ("/admin/fault/errors", {"ratio": "half"}, 400),
        ("/admin/fault/latency", {"seconds": 0}, 400),
        ("/admin/fault/latency", [1], 400),
    ],
)
async def test_bad_fault_requests_are_refused(
    demo: TestClient[Any, Any], path: str, body: Any, status: int
) -> None:
    resp = await demo.post(path, json=body)
    assert resp.status == status
    assert (await resp.json())["status"] == "error"
    assert (await (await demo.get("/admin/faults")).json())["faults"]["errors"] is None


async def test_admin_token_is_required_when_set(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(DemoSettings(admin_token="s3cret")))
    assert (await client.post("/admin/restart")).status == 401
    assert (await client.post("/admin/restart", headers={"Authorization": "Bearer no"})).status == (
        401
    )
    resp = await client.post("/admin/restart", headers={"Authorization": "Bearer s3cret"})
    assert resp.status == 200
    assert (await client.get("/api/items/1")).status == 200  # only /admin is protected


async def test_load_generator_sends_traffic(
    demo: TestClient[Any, Any], registry: CollectorRegistry
) -> None:
    base = str(demo.make_url("")).rstrip("/")
    async with ClientSession() as session:
        task = asyncio.create_task(generate_load(session, base, 100, lambda: 0.5))
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    route = "/api/items/{item}"
    reads = sample(registry, "demo_http_requests_total", route=route, method="GET", code="200")
    jobs = sample(
        registry, "demo_http_requests_total", route="/api/jobs", method="POST", code="202"
    )
    assert reads >= 10
    assert reads / 2 - 2 <= jobs <= reads / 2 + 2  # a job for every second read


def test_runs_as_a_module(tmp_path: Path) -> None:
    """``python -m examples.demo_app`` serves metrics that move by themselves."""
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.demo_app", "--port", str(port), "--load-rate", "50"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def processed() -> bool:
            status, body = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=1)
            for line in body.decode().splitlines():
                if line.startswith("demo_queue_jobs_processed_total "):
                    return status == 200 and float(line.split()[1]) > 0
            return False

        wait_until(processed, timeout=15, what="demo app processes its own jobs", procs=(proc,))
        status, _ = http("POST", f"http://127.0.0.1:{port}/admin/fault/errors", body={})
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
