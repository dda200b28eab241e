"""One benchmark scenario run: load workers forked and started together against a started
server, their answers and latencies gathered, the server's and the rest of the machine's CPU
measured over the same window, as one ``Result``."""

from __future__ import annotations

import array
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import loadgen
from bench_servers import Server
from loadgen import (
    BUILD_TIMEOUT,
    BodyFactory,
    WorkerResult,
    WorkerSpec,
    _worker_main,
    request_bytes,
)

# Prebuilt bodies per second of scenario (all workers together). A closed-loop run that uses them
# all ends early, and says so: sizing is generous for this machine's baseline, and both servers get
# the same bytes in the same order.
POOL_RATE = {1: 40_000, 100: 6_000}
MAX_POOL_BYTES = 4 * 2**30  # and at most this much request data in memory at once


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    key: str  # goes into every alert's identity: scenarios never share an occurrence
    alerts_per_webhook: int
    mode: str  # "closed" | "open"
    concurrency: int = 0
    rate: float = 0.0


@dataclass
class Result:
    scenario: str
    server: str
    mode: str
    alerts_per_webhook: int
    duration: float
    concurrency: int
    target_rate: float
    sent: int
    ok: int
    ok_in_window: int
    errors: int
    error_kinds: dict[str, int]
    error_samples: list[str]
    webhooks_per_s: float
    alerts_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rate_achieved: bool | None
    send_lag_p99_ms: float
    send_lag_max_ms: float
    exhausted_at: float | None
    server_cpu_pct: float
    client_cpu_pct: float
    other_cpu_pct: float  # the rest of the machine: anything else running skews the numbers
    request_mib: float
    connections_opened: int
    mean_batch_webhooks: float | None = None
    mean_commit_ms: float | None = None


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_scenario(
    server: Server,
    sc: Scenario,
    run_id: str,
    duration: float,
    workers: int,
    on_start: Callable[[], None] | None = None,
    more_servers: Sequence[Server] = (),
    max_in_flight: int = 0,
) -> Result:
    """Run one scenario against a started server (and ``more_servers``, the load spread
    round-robin over them all, their CPU added up); ``on_start`` is called as the load
    begins."""
    servers = [server, *more_servers]
    if sc.mode == "closed":
        n_workers = max(1, min(workers, sc.concurrency))
        conns = _split(sc.concurrency, n_workers)
        sample = len(
            request_bytes(
                server.port,
                BodyFactory(run_id, sc.key, sc.alerts_per_webhook).build(0, 0),
                server.webhook_path,
                server.bearer,
            )
        )
        total_bodies = min(
            math.ceil(POOL_RATE[sc.alerts_per_webhook] * duration), MAX_POOL_BYTES // sample
        )
        rates = [0.0] * n_workers
    else:
        n_workers = 1  # 500/s is light work; one clock keeps the schedule exact
        conns = [32]
        total_bodies = math.floor(sc.rate * duration)
        rates = [sc.rate]
    bodies = _split(total_bodies, n_workers)
    ctx = multiprocessing.get_context("fork")
    procs: list[Any] = []
    pipes: list[Connection] = []
    try:
        for w in range(n_workers):
            parent_end, child_end = ctx.Pipe()
            spec = WorkerSpec(
                port=server.port,
                run_id=run_id,
                key=sc.key,
                alerts_per_webhook=sc.alerts_per_webhook,
                worker=w,
                bodies=bodies[w],
                mode=sc.mode,
                connections=conns[w],
                rate=rates[w],
                duration=duration,
                more_ports=tuple(s.port for s in more_servers),
                max_in_flight=max_in_flight,
                path=server.webhook_path,
                bearer=server.bearer,
            )
            proc = ctx.Process(target=_worker_main, args=(child_end, spec), daemon=True)
            proc.start()
            child_end.close()
            procs.append(proc)
            pipes.append(parent_end)
        request_bytes_total = 0
        for pipe in pipes:
            request_bytes_total += _expect(pipe, "ready", BUILD_TIMEOUT)
        start_at = time.perf_counter() + 0.3
        for pipe in pipes:
            pipe.send(start_at)
        metrics0 = server.metrics()
        time.sleep(max(0.0, start_at - time.perf_counter()))
        cpu0 = sum(s.cpu_seconds() for s in servers)
        machine0 = machine_busy_seconds()
        if on_start is not None:
            on_start()
        time.sleep(max(0.0, start_at + duration - time.perf_counter()))
        server_cpu = sum(s.cpu_seconds() for s in servers) - cpu0
        machine_busy = machine_busy_seconds() - machine0
        results: list[WorkerResult] = [
            _expect(pipe, "done", duration + loadgen.DRAIN_TIMEOUT + 30) for pipe in pipes
        ]
        metrics1 = server.metrics()
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in pipes:
            pipe.close()

    lat: list[float] = []
    errors: Counter[str] = Counter()
    samples: list[str] = []
    for r in results:
        lat.extend(array.array("d", r.latencies))
        errors.update(r.errors)
        samples.extend(r.error_samples)
    lat.sort()
    client_cpu = sum(r.cpu_seconds for r in results)
    lags = sorted(x for r in results for x in array.array("d", r.send_lags))
    exhausted = [r.exhausted_at for r in results if r.exhausted_at is not None]
    window = min([duration, *exhausted])
    ok_in_window = sum(r.ok_in_window for r in results)
    sent = sum(r.sent for r in results)
    ok = sum(r.ok for r in results)
    webhooks_per_s = ok_in_window / window if window > 0 else 0.0
    achieved = None
    if sc.mode == "open":
        scheduled = math.floor(sc.rate * duration)
        achieved = sent == scheduled and ok == scheduled and webhooks_per_s >= 0.98 * sc.rate
    result = Result(
        scenario=sc.name,
        server=server.kind,
        mode=sc.mode,
        alerts_per_webhook=sc.alerts_per_webhook,
        duration=round(window, 3),
        concurrency=sc.concurrency,
        target_rate=sc.rate,
        sent=sent,
        ok=ok,
        ok_in_window=ok_in_window,
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        error_samples=samples[:5],
        webhooks_per_s=webhooks_per_s,
        alerts_per_s=webhooks_per_s * sc.alerts_per_webhook,
        p50_ms=_percentile(lat, 0.50) * 1e3,
        p90_ms=_percentile(lat, 0.90) * 1e3,
        p99_ms=_percentile(lat, 0.99) * 1e3,
        max_ms=(lat[-1] if lat else float("nan")) * 1e3,
        rate_achieved=achieved,
        send_lag_p99_ms=_percentile(lags, 0.99) * 1e3,
        send_lag_max_ms=(lags[-1] if lags else float("nan")) * 1e3,
        exhausted_at=min(exhausted) if exhausted else None,
        server_cpu_pct=100.0 * server_cpu / duration,
        client_cpu_pct=100.0 * client_cpu / duration,
        other_cpu_pct=max(0.0, 100.0 * (machine_busy - server_cpu - client_cpu) / duration),
        request_mib=request_bytes_total / 2**20,
        connections_opened=sum(r.connections_opened for r in results),
    )
    batches = _delta(metrics0, metrics1, "firebreak_ingest_batch_webhooks_count")
    if metrics0 and metrics1 and batches > 0:
        webhooks = _delta(metrics0, metrics1, "firebreak_ingest_batch_webhooks_sum")
        commit = _delta(metrics0, metrics1, "firebreak_ingest_commit_duration_seconds_sum")
        result.mean_batch_webhooks = webhooks / batches
        result.mean_commit_ms = 1e3 * commit / batches
    return result


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat), for spotting other load."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10])  # already counted in user/nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _expect(pipe: Connection, kind: str, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError(f"a load worker sent no '{kind}' within {timeout:.0f}s")
    got, payload = pipe.recv()
    if got != kind:
        raise RuntimeError(f"a load worker failed: {payload}")
    return payload
