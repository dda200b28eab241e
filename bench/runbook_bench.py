#!/usr/bin/env python3
"""Webhook to first runbook step started: how long after Alertmanager posts a firing alert
the matching runbook's first step reaches the system it acts on.

Starts ``firebreak serve`` (SQLite, ``synchronous=full``, one process) with one runbook whose
first step is an HTTP POST to a receiver inside this script, then sends one-alert webhooks one
at a time, each a new occurrence, a moment apart (an idle receiver: the latency of one
incident, not of a storm). Each sample runs from just before the webhook is sent to the
moment the receiver gets the step's request — ingest, commit, the route job, the start job
with its storm-control checks, the step job, rendering and the HTTP call included.

Usage::

    python bench/runbook_bench.py               # 100 alerts
    python bench/runbook_bench.py --alerts 20   # a smoke run

Exit status: 0 when the median is under the target (100 ms), 1 when not, 2 when the run
could not be carried out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from aiohttp import ClientSession, web

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.webhook_bench import (  # noqa: E402
    HOST,
    WEBHOOK_TOKEN,
    _firebreak_command,
    firebreak_config,
    free_port,
)
from tests.payloads import alert, webhook  # noqa: E402

TARGET_MS = 100.0
GAP = 0.1  # seconds between incidents


def runbook(url: str) -> str:
    return f"""
id: bench-restart
title: Benchmark restart
match: 'alertname="BenchRunbook"'
cooldown: 0s
concurrency: {{max: 1000, per_alert: 1}}
steps:
  - id: restart
    http: {{method: POST, url: "{url}/restart/{{{{ labels.instance }}}}"}}
    timeout: 5s
"""


def start_firebreak(workdir: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """``firebreak serve`` with the benchmark runbook; its output goes to firebreak.log."""
    port = free_port()
    config = json.loads(firebreak_config(port, f"sqlite+aiosqlite:///{workdir / 'fb.db'}", "full"))
    (workdir / "runbooks").mkdir()
    (workdir / "runbooks" / "bench.yml").write_text(runbook(f"http://{HOST}:{target_port}"))
    # The runbook calls the benchmark's own target, which the guard rails must allow.
    config["automation"] = {"mode": "live", "runbooks": ["runbooks/*.yml"], "http_allow": [HOST]}
    config["jobs"] = {"lease": "10s"}
    (workdir / "firebreak.yml").write_text(json.dumps(config, indent=2))
    with (workdir / "firebreak.log").open("wb") as log:
        command = _firebreak_command(workdir / "firebreak.yml")
        return subprocess.Popen(command, cwd=workdir, stdout=log, stderr=log), port


async def measure(
    count: int, proc: subprocess.Popen[bytes], port: int, target_port: int
) -> list[float]:
    arrived: dict[str, float] = {}
    got = asyncio.Event()

    async def restart(request: web.Request) -> web.Response:
        arrived[request.match_info["instance"]] = time.perf_counter()
        got.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/restart/{instance}", restart)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, target_port).start()
    samples: list[float] = []
    try:
        await _ready(port, proc)
        run = secrets.token_hex(4)
        headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        async with ClientSession() as http:
            for n in range(count + 3):  # the first three warm up
                instance = f"{run}-{n}"
                payload = webhook(
                    alert("BenchRunbook", labels={"instance": instance}, starts_at=_now())
                )
                got.clear()
                sent = time.perf_counter()
                async with http.post(
                    f"http://{HOST}:{port}/webhook", json=payload, headers=headers
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}")
                while instance not in arrived:
                    await asyncio.wait_for(got.wait(), 10)
                    got.clear()
                if n >= 3:
                    samples.append((arrived[instance] - sent) * 1000)
                await asyncio.sleep(GAP)
    finally:
        await runner.cleanup()
    return samples


async def _ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"firebreak exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1):  # noqa: ASYNC210
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("firebreak did not start")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="firebreak-runbook-bench-") as tmp:
        target_port = free_port()
        proc, port = start_firebreak(Path(tmp), target_port)
        try:
            samples = asyncio.run(measure(args.alerts, proc, port, target_port))
        except (RuntimeError, OSError, TimeoutError) as exc:
            print(f"runbook bench could not run: {exc}", file=sys.stderr)
            return 2
        finally:
            proc.terminate()
            proc.wait(20)
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    print(f"webhook to first step started, {len(ordered)} incidents, one at a time:")
    print(
        f"  median {median:.1f} ms, p90 {p90:.1f} ms, min {ordered[0]:.1f} ms, "
        f"max {ordered[-1]:.1f} ms"
    )
    ok = median < TARGET_MS
    print(f"{'PASS' if ok else 'FAIL'} — median < {TARGET_MS:.0f} ms: {median:.1f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
