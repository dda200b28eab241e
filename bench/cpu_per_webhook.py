#!/usr/bin/env python3
"""CPU seconds Firebreak spends per webhook, stored, routed and notified: a measure that another
load on the machine skews far less than it skews throughput.

Runs Firebreak in this process with the comparison's configuration (``bench_servers``: SQLite
with ``synchronous=FULL``, the default policy notifying the log channel), posts ``--webhooks``
bodies of ``--alerts`` alerts each (``loadgen.BodyFactory``, as the benchmarks send them, built
before the clock starts) with ``--in-flight`` requests at a time, waits for the jobs they set
off, and prints this process's CPU time (every thread, the test client's small part included)
per webhook. The heap built at start-up is frozen first, and the collector set, as the
checkout's ``firebreak serve`` does. Compare a change with the code before it by running both
in the same hour, alternating: ``PYTHONPATH=<other checkout> python bench/cpu_per_webhook.py``
measures another checkout with this one's script.

Usage: ``python bench/cpu_per_webhook.py [--webhooks 200] [--alerts 100] [--in-flight 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_servers
from aiohttp.test_utils import TestClient, TestServer
from loadgen import WEBHOOK_TOKEN, BodyFactory
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config

try:
    from receiver.cli.serve import freeze_heap
except ImportError:  # a checkout from before it: its serve froze the heap, and no more

    def freeze_heap() -> None:
        gc.collect()
        gc.freeze()


_WARM_UP = 10  # webhooks first, outside the clock: statements prepared, caches filled


async def measure(webhooks: int, alerts: int, in_flight: int, settle: float) -> float:
    """CPU seconds per webhook."""
    with tempfile.TemporaryDirectory(prefix="firebreak-cpu-") as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'firebreak.db'}"
        text = bench_servers.firebreak_config(8080, db_url, "full")  # the port is not bound
        app = create_app(parse_config(text, env={}), registry=CollectorRegistry())
        factory = BodyFactory(secrets.token_hex(4), "cpu", alerts)
        bodies = [factory.build(0, i) for i in range(webhooks + _WARM_UP)]
        headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}
        async with TestClient(TestServer(app)) as client:

            async def post(body: bytes) -> None:
                response = await client.post("/webhook", data=body, headers=headers)
                if response.status != 200:
                    raise SystemExit(f"webhook answered {response.status}")

            for body in bodies[:_WARM_UP]:
                await post(body)
            await asyncio.sleep(settle)
            # As `firebreak serve` does once started: the collector's full passes then walk
            # only what requests allocate, not the start-up heap (without this, a few full
            # passes over it cost a tenth of the CPU measured, and their timing its spread).
            freeze_heap()
            queue = iter(bodies[_WARM_UP:])

            async def sender() -> None:
                for body in queue:
                    await post(body)

            started = time.process_time()
            await asyncio.gather(*(sender() for _ in range(in_flight)))
            await asyncio.sleep(settle)  # the jobs they set off
            return (time.process_time() - started) / webhooks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=100, help="alerts per webhook")
    parser.add_argument("--in-flight", type=int, default=8, help="requests at a time")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds for the jobs to run")
    args = parser.parse_args()
    cpu = asyncio.run(measure(args.webhooks, args.alerts, args.in_flight, args.settle))
    print(
        f"{args.webhooks} webhooks of {args.alerts} alert(s), {args.in_flight} in flight: "
        f"{1000 * cpu:.2f} ms of CPU per webhook"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
