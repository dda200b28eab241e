#!/usr/bin/env python3
"""Webhook throughput and latency: Firebreak against a bare aiohttp handler.

Starts each server as a subprocess on a free loopback port (Firebreak through ``firebreak serve``
with a generated configuration and a temporary SQLite database; the baseline is
``bench/bare_server.py``), loads it from separate worker processes, stops it, and prints one table
plus PASS/FAIL for each target. Afterwards it counts Firebreak's stored alert rows and compares
them with the unique alerts that were acknowledged.

Scenarios, run against both servers with the same request bytes and the same concurrency:

- ``1-alert``: closed loop, ``--concurrency`` webhooks in flight, one alert each;
- ``100-alert``: the same with one hundred alerts per webhook;
- ``open-500/s``: open loop, ``--rate`` one-alert webhooks a second sent on schedule whatever
  the answers; latency runs from the scheduled send time (no coordinated omission). It runs
  first, on an idle receiver;
- ``open-500/s+backlog``: the same after the two storms, while Firebreak works off the
  escalation they queued (reported, no target).

Every alert of every webhook is a new occurrence (a fingerprint never sent before, in this run or
any other), and all request bytes are built before the clock starts. The load generator is a
minimal HTTP/1.1 keep-alive client on raw asyncio transports: on a 2-core machine the client
shares the CPU with the server, and a heavier client (aiohttp's) would cap the baseline first.

Usage::

    python bench/webhook_bench.py            # ~10 s per scenario, about 2 minutes in all
    python bench/webhook_bench.py --quick    # 2 s per scenario, a smoke run
    python bench/webhook_bench.py --json out.json
    python bench/webhook_bench.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Exit status: 0 when the run completed (whatever the targets said; add ``--strict`` to exit 1 when
a check fails), 2 when the run itself could not be carried out.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import ctypes
import hashlib
import json
import math
import multiprocessing
import os
import platform
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.payloads import alert, webhook  # noqa: E402

HOST = "127.0.0.1"
WEBHOOK_TOKEN = "bench-webhook-token-" + "x" * 16
READY_TIMEOUT = 60.0  # server start (Firebreak migrates the schema first)
BUILD_TIMEOUT = 180.0  # a worker building its request bytes
DRAIN_TIMEOUT = 15.0  # requests still in flight once a scenario's time is up
STOP_TIMEOUT = 20.0  # graceful server shutdown before SIGKILL

# Prebuilt bodies per second of scenario (all workers together). A closed-loop run that uses them
# all ends early, and says so: sizing is generous for this machine's baseline, and both servers get
# the same bytes in the same order.
POOL_RATE = {1: 40_000, 100: 6_000}
MAX_POOL_BYTES = 4 * 2**30  # and at most this much request data in memory at once

# CPU (percent of one core) used by processes other than the server and the load generator
# during a scenario above which its numbers are flagged as disturbed.
OTHER_LOAD_WARN_PCT = 15.0

TARGET_RATIO_1 = 0.25
TARGET_ALERTS_100 = 25_000
TARGET_P99_OPEN_MS = 25.0


# --- request bodies ---------------------------------------------------------------------------

_SLOT = re.compile(r"@@([IF])(\d+)@@")


def _fingerprint(text: str) -> str:
    """16 hex digits, as random-looking as Alertmanager's label hash (index inserts stay random)."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class BodyFactory:
    """Webhook bodies from ``tests.payloads``, serialised once as a template.

    Each body fills the template's slots with a unique ``instance`` label and fingerprint per
    alert, so building one costs a join, not a ``json.dumps`` of a hundred dicts. The bytes are
    compact JSON, as Alertmanager (Go's encoding/json) sends them.
    """

    def __init__(self, run_id: str, key: str, alerts_per_webhook: int) -> None:
        self.run_id = run_id
        self.key = key
        self.alerts_per_webhook = alerts_per_webhook
        alerts = [
            alert(
                labels={
                    "job": "node",
                    "namespace": "prod",
                    "cluster": "eu-west-1",
                    "instance": f"node-@@I{i}@@:9100",
                    "bench_run": run_id,
                },
                fingerprint=f"@@F{i}@@",
            )
            for i in range(alerts_per_webhook)
        ]
        group_key = bench_group_key(run_id)
        template = json.dumps(webhook(*alerts, group_key=group_key), separators=(",", ":"))
        pieces = _SLOT.split(template)
        self._texts = pieces[0::3]
        self._slots = [(kind, int(i)) for kind, i in zip(pieces[1::3], pieces[2::3], strict=True)]

    def build(self, worker: int, seq: int) -> bytes:
        stem = f"{self.key}.{worker}.{seq}."
        idents = [f"{stem}{i}" for i in range(self.alerts_per_webhook)]
        prints = [_fingerprint(f"{self.run_id}/{ident}") for ident in idents]
        values = [idents[i] if kind == "I" else prints[i] for kind, i in self._slots]
        out: list[str] = [""] * (len(self._texts) + len(values))
        out[0::2] = self._texts
        out[1::2] = values
        return "".join(out).encode()


def request_bytes(port: int, body: bytes, path: str = "/webhook", bearer: bool = True) -> bytes:
    """One request, as Alertmanager sends it; ``bearer``: with Firebreak's webhook token."""
    auth = f"Authorization: Bearer {WEBHOOK_TOKEN}\r\n" if bearer else ""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"User-Agent: Alertmanager/0.27.0\r\n"
        f"{auth}"
        f"Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# --- a minimal HTTP/1.1 keep-alive client -----------------------------------------------------


class ProtocolError(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; answers with the status code."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.last_body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            self._parse()

    def _parse(self) -> None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        pos = head.find(b"\r\ncontent-length:")
        try:
            if not head.startswith(b"http/1.1 ") or pos < 0:
                raise ProtocolError(f"unexpected response head: {head[:200]!r}")
            status = int(head[9:12])
            eol = head.find(b"\r\n", pos + 17)
            length = int(head[pos + 17 : eol if eol >= 0 else len(head)])
        except (ValueError, ProtocolError) as exc:
            self._fail(exc if isinstance(exc, ProtocolError) else ProtocolError(str(exc)))
            return
        total = end + 4 + length
        if len(buf) < total:
            return
        if status != 200:
            self.last_body = bytes(buf[end + 4 : total])
        del buf[:total]
        if b"\r\nconnection: close" in head:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection lost: {exc or 'closed by server'}"))

    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


async def connect(port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(HttpConnection, HOST, port)
    sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return protocol


# --- load workers (separate processes) --------------------------------------------------------


@dataclass
class WorkerSpec:
    port: int
    run_id: str
    key: str
    alerts_per_webhook: int
    worker: int
    bodies: int
    mode: str  # "closed" | "open"
    connections: int  # closed loop: fixed; open loop: opened up front (more when all are busy)
    rate: float  # open loop, this worker's share
    duration: float
    more_ports: tuple[int, ...] = ()  # several servers: connections go round-robin over them
    max_in_flight: int = 0  # open loop: at most this many requests at once (0: no limit)
    path: str = "/webhook"  # where the server takes webhooks
    bearer: bool = True  # send Firebreak's webhook token

    def ports(self) -> tuple[int, ...]:
        return (self.port, *self.more_ports)


@dataclass
class WorkerResult:
    sent: int = 0
    ok: int = 0
    ok_in_window: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latencies: bytes = b""  # array('d') of seconds, every answered request
    exhausted_at: float | None = None  # seconds into the run when the bodies ran out
    cpu_seconds: float = 0.0
    send_lags: bytes = b""  # open loop: array('d') of each send's lateness against its schedule
    connections_opened: int = 0


class _Recorder:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.result = WorkerResult()
        self.errors: Counter[str] = Counter()
        self.lat = array.array("d")

    def answered(self, status: int, started: float, conn: HttpConnection) -> None:
        done = time.perf_counter()
        self.lat.append(done - started)
        if 200 <= status < 300:  # a 201 or 202 acknowledges too (other servers than ours)
            self.result.ok += 1
            if done <= self.deadline:
                self.result.ok_in_window += 1
        else:
            self.error(f"HTTP {status}", conn.last_body.decode(errors="replace")[:300])

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.result.error_samples) < 5:
            self.result.error_samples.append(f"{kind}: {detail}")

    def finish(self) -> WorkerResult:
        self.result.errors = dict(self.errors)
        self.result.latencies = self.lat.tobytes()
        return self.result


async def _closed_loop(spec: WorkerSpec, requests: list[bytes], start_at: float) -> WorkerResult:
    ports = spec.ports()
    conns = [await connect(ports[i % len(ports)]) for i in range(spec.connections)]
    deadline = start_at + spec.duration
    rec = _Recorder(deadline)
    rec.result.connections_opened = len(conns)
    all_conns = list(conns)
    next_index = 0

    async def drive(conn: HttpConnection, port: int) -> None:
        nonlocal next_index
        while True:
            now = time.perf_counter()
            if now >= deadline:
                return
            if next_index >= len(requests):
                if rec.result.exhausted_at is None:
                    rec.result.exhausted_at = now - start_at
                return
            if conn.closed:
                try:
                    conn = await connect(port)
                except OSError as exc:
                    rec.error("connect " + type(exc).__name__, str(exc))
                    await asyncio.sleep(0.1)
                    continue
                all_conns.append(conn)
                rec.result.connections_opened += 1
            data = requests[next_index]
            next_index += 1
            rec.result.sent += 1
            try:
                status = await conn.request(data)
            except (OSError, ProtocolError) as exc:
                rec.error(type(exc).__name__, str(exc))
                continue
            except asyncio.CancelledError:
                rec.error("timeout", f"no answer within {DRAIN_TIMEOUT:.0f}s after the run")
                raise
            rec.answered(status, now, conn)

    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    cpu0 = time.process_time()
    tasks = [asyncio.create_task(drive(c, ports[i % len(ports)])) for i, c in enumerate(conns)]
    _, pending = await asyncio.wait(tasks, timeout=spec.duration + DRAIN_TIMEOUT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    rec.result.cpu_seconds = time.process_time() - cpu0
    for conn in all_conns:
        if conn.transport is not None:
            conn.transport.close()
    return rec.finish()


async def _open_loop(spec: WorkerSpec, requests: list[bytes], start_at: float) -> WorkerResult:
    ports = spec.ports()
    idle: deque[HttpConnection] = deque()
    for i in range(spec.connections):
        idle.append(await connect(ports[i % len(ports)]))
    all_conns = list(idle)
    deadline = start_at + spec.duration
    rec = _Recorder(deadline)
    rec.result.connections_opened = len(all_conns)
    interval = 1.0 / spec.rate
    count = min(len(requests), math.floor(spec.duration * spec.rate))

    # A cap on requests in flight (as a sender with a bounded pool has): a stall then
    # queues sends here, still timed from their schedule, instead of opening a connection
    # for every one until the server runs out of file descriptors.
    in_flight = (
        asyncio.Semaphore(spec.max_in_flight) if spec.max_in_flight else contextlib.nullcontext()
    )

    async def send(data: bytes, scheduled: float) -> None:
        async with in_flight:
            await _send(data, scheduled)

    async def _send(data: bytes, scheduled: float) -> None:
        conn = idle.pop() if idle else None
        try:
            if conn is None or conn.closed:
                conn = await connect(ports[len(all_conns) % len(ports)])
                all_conns.append(conn)
                rec.result.connections_opened += 1
            status = await conn.request(data)
        except (OSError, ProtocolError) as exc:
            rec.error(type(exc).__name__, str(exc))
            return
        except asyncio.CancelledError:
            rec.error("timeout", f"no answer within {DRAIN_TIMEOUT:.0f}s after the run")
            raise
        rec.answered(status, scheduled, conn)  # latency from the schedule, not the send
        if not conn.closed:
            idle.append(conn)

    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    cpu0 = time.process_time()
    tasks: set[asyncio.Task[None]] = set()
    lags = array.array("d")
    for k in range(count):
        scheduled = start_at + k * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - scheduled)
        rec.result.sent += 1
        task = asyncio.create_task(send(requests[k], scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    rec.result.cpu_seconds = time.process_time() - cpu0
    rec.result.send_lags = lags.tobytes()
    for conn in all_conns:
        if conn.transport is not None:
            conn.transport.close()
    return rec.finish()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the benchmark process dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(pipe: Connection, spec: WorkerSpec) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        factory = BodyFactory(spec.run_id, spec.key, spec.alerts_per_webhook)
        requests = [
            request_bytes(spec.port, factory.build(spec.worker, seq), spec.path, spec.bearer)
            for seq in range(spec.bodies)
        ]
        pipe.send(("ready", sum(len(r) for r in requests)))
        start_at = pipe.recv()
        run = _closed_loop if spec.mode == "closed" else _open_loop
        result = asyncio.run(run(spec, requests, start_at))
        pipe.send(("done", result))
    except BaseException as exc:  # report, never hang the parent
        with contextlib.suppress(Exception):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _firebreak_command(config: Path, wrapper: str | None = None) -> list[str]:
    if wrapper:
        return [sys.executable, str(Path(wrapper).resolve()), "serve", "--config", str(config)]
    exe = Path(sys.executable).with_name("firebreak")
    if exe.exists():
        return [str(exe), "serve", "--config", str(config)]
    return [sys.executable, "-m", "receiver.cli", "serve", "--config", str(config)]


def firebreak_config(port: int, db_url: str, synchronous: str) -> str:
    # JSON is YAML: every value quoted safely.
    config = {
        "listen": f"{HOST}:{port}",
        "database": {"url": db_url, "sqlite_synchronous": synchronous},
        "webhook": {"auth": {"bearer_tokens": [WEBHOOK_TOKEN]}},
        "api": {"tokens": [{"token": secrets.token_hex(16), "role": "viewer", "name": "bench"}]},
        "log": {"level": "warning", "format": "json", "access": False},
    }
    return json.dumps(config, indent=2) + "\n"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid``, all threads (NaN when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A server subprocess; always stopped by ``stop()`` (SIGINT, then SIGKILL)."""

    webhook_path = "/webhook"  # where it takes Alertmanager's webhooks
    bearer = True  # with Firebreak's webhook token

    def __init__(
        self, kind: str, workdir: Path, db_url: str, synchronous: str, wrapper: str | None = None
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = workdir / f"{kind}.log"
        if kind == "firebreak":
            config = workdir / "firebreak.yml"
            config.write_text(firebreak_config(self.port, db_url, synchronous))
            cmd = _firebreak_command(config, wrapper)
        else:
            cmd = [sys.executable, str(BENCH_DIR / "bare_server.py"), "--port", str(self.port)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # the parent has no threads
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        path = "/health" if self.kind == "firebreak" else None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if path is None:
                    with socket.create_connection((HOST, self.port), timeout=1):
                        return
                else:
                    with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=2) as r:
                        if r.status == 200:
                            return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} not ready after {READY_TIMEOUT:.0f}s:\n{self.log()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all threads."""
        return process_cpu_seconds(self.pid)

    def metrics(self) -> dict[str, float]:
        """Firebreak's ingest counters from /metrics ({} for the baseline or on failure)."""
        if self.kind != "firebreak":
            return {}
        wanted = (
            "firebreak_ingest_batch_webhooks_sum",
            "firebreak_ingest_batch_webhooks_count",
            "firebreak_ingest_commit_duration_seconds_sum",
            "firebreak_ingest_commit_duration_seconds_count",
        )
        try:
            url = f"http://{HOST}:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                found[name] = float(value)
        return found

    def log(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def log_line_count(self) -> int:
        try:
            return len(self.log_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


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
            _expect(pipe, "done", duration + DRAIN_TIMEOUT + 30) for pipe in pipes
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


# --- verification -----------------------------------------------------------------------------


@dataclass
class DbCheck:
    expected_min: int  # alerts in webhooks answered 200
    expected_max: int  # ... plus those of webhooks whose fate is unknown (errors, no answer)
    rows: int | None
    webhook_rows: int | None
    webhooks_expected_min: int
    how: str
    ok: bool


def bench_group_key(run_id: str) -> str:
    """The Alertmanager group key every webhook of one run carries, to count them after."""
    return f'{{}}:{{bench_run="{run_id}"}}'


def count_rows(db_url: str, run_id: str) -> tuple[int, int, str]:
    """Alert rows and webhook rows this run stored."""
    if db_url.startswith("sqlite"):
        path = db_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            (rows,) = db.execute(
                "SELECT count(*) FROM alerts WHERE json_extract(labels, '$.bench_run') = ?",
                (run_id,),
            ).fetchone()
            (hooks,) = db.execute(
                "SELECT count(*) FROM webhooks WHERE group_key = ?", (bench_group_key(run_id),)
            ).fetchone()
        return rows, hooks, f"stdlib sqlite3 on {path}"
    return asyncio.run(_count_postgres(db_url, run_id))


async def _count_postgres(db_url: str, run_id: str) -> tuple[int, int, str]:
    import asyncpg  # type: ignore[import-not-found]

    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE labels->>'bench_run' = $1", run_id
        )
        hooks = await conn.fetchval(
            "SELECT count(*) FROM webhooks WHERE group_key = $1", bench_group_key(run_id)
        )
    finally:
        await conn.close()
    return int(rows), int(hooks), "SQL count over asyncpg"


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(results: list[Result], db_is_external: bool = False) -> None:
    bare = {r.scenario: r for r in results if r.server == "bare"}
    header = (
        f"{'scenario':<12} {'server':<9} {'webhooks/s':>10} {'alerts/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'FB/bare':>7}  {'srv CPU':>7} {'load CPU':>8}  notes"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = ""
        base = bare.get(r.scenario)
        if r.server == "firebreak" and base is not None and base.webhooks_per_s > 0:
            ratio = f"{r.webhooks_per_s / base.webhooks_per_s:.2f}"
        notes = []
        if r.rate_achieved is not None:
            notes.append(f"rate {'achieved' if r.rate_achieved else 'NOT achieved'}")
            notes.append(f"send lag p99 {r.send_lag_p99_ms:.1f} ms")
        if r.exhausted_at is not None:
            notes.append(f"bodies ran out at {r.exhausted_at:.1f}s")
        if db_is_external and r.server == "firebreak":
            notes.append(f"other CPU (PostgreSQL included) {r.other_cpu_pct:.0f}%")
        elif r.other_cpu_pct > OTHER_LOAD_WARN_PCT:
            notes.append(f"OTHER LOAD {r.other_cpu_pct:.0f}% CPU")
        if r.mean_batch_webhooks is not None:
            notes.append(
                f"batch {r.mean_batch_webhooks:.1f} webhooks, commit {r.mean_commit_ms:.1f} ms"
            )
        print(
            f"{r.scenario:<12} {r.server:<9} {_fmt(r.webhooks_per_s):>10} "
            f"{_fmt(r.alerts_per_s, 0):>10} {_fmt(r.p50_ms, 2):>8} {_fmt(r.p99_ms, 2):>8} "
            f"{r.errors:>6} {ratio:>7}  {_fmt(r.server_cpu_pct, 0):>6}% "
            f"{_fmt(r.client_cpu_pct, 0):>7}%  {'; '.join(notes)}"
        )


def evaluate(results: list[Result], db: DbCheck | None) -> list[tuple[str, str, bool]]:
    by = {(r.scenario, r.server): r for r in results}
    checks: list[tuple[str, str, bool]] = []
    fb1, bare1 = by.get(("1-alert", "firebreak")), by.get(("1-alert", "bare"))
    if fb1 and bare1 and bare1.webhooks_per_s > 0:
        ratio = fb1.webhooks_per_s / bare1.webhooks_per_s
        checks.append(
            (
                f"1-alert webhooks/s, Firebreak/bare >= {TARGET_RATIO_1}",
                f"{ratio:.3f} ({fb1.webhooks_per_s:,.0f} / {bare1.webhooks_per_s:,.0f})",
                ratio >= TARGET_RATIO_1,
            )
        )
    fb100 = by.get(("100-alert", "firebreak"))
    if fb100:
        checks.append(
            (
                f"100-alert webhooks, Firebreak alerts/s >= {TARGET_ALERTS_100:,}",
                f"{fb100.alerts_per_s:,.0f}",
                fb100.alerts_per_s >= TARGET_ALERTS_100,
            )
        )
    fbo = next((r for r in results if r.mode == "open" and r.server == "firebreak"), None)
    if fbo:
        checks.append(
            (
                f"Firebreak p99 < {TARGET_P99_OPEN_MS:g} ms at {fbo.target_rate:g} webhooks/s",
                f"{fbo.p99_ms:.2f} ms, rate {'achieved' if fbo.rate_achieved else 'NOT achieved'}",
                bool(fbo.rate_achieved) and fbo.p99_ms < TARGET_P99_OPEN_MS,
            )
        )
    errors = sum(r.errors for r in results)
    checks.append(("no non-200 answers or transport errors", str(errors), errors == 0))
    if db is not None:
        if db.rows is None:
            checks.append(("Firebreak stored every alert it acknowledged", db.how, True))
        else:
            expected = (
                str(db.expected_min)
                if db.expected_min == db.expected_max
                else f"{db.expected_min}..{db.expected_max}"
            )
            checks.append(
                (
                    "Firebreak alert rows == unique alerts acknowledged",
                    f"{db.rows} rows, {expected} expected; webhook rows {db.webhook_rows}"
                    f" (>= {db.webhooks_expected_min}); {db.how}",
                    db.ok,
                )
            )
    return checks


def stored_once_check(rows: int, acknowledged: int, sent: int, how: str) -> tuple[str, str, bool]:
    """The check that every alert acknowledged with a 200 is stored, exactly once."""
    return (
        "every alert acknowledged stored once",
        f"{rows} rows, {acknowledged} acknowledged ({sent} sent); {how}",
        rows == acknowledged == sent,
    )


def report(
    checks: list[tuple[str, str, bool]], json_path: str | None, results: dict[str, Any]
) -> None:
    """Print PASS/FAIL for each check; with ``json_path`` also write ``results`` and them."""
    print()
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    if json_path:
        checked = [{"check": n, "value": v, "pass": ok} for n, v, ok in checks]
        out = {**results, "checks": checked}
        Path(json_path).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {json_path}")


# --- main -------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Firebreak webhook throughput/latency against a bare aiohttp handler."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--quick", action="store_true", help="2 s per scenario (smoke run)")
    parser.add_argument("--db-url", help="run Firebreak on this database instead of temp SQLite")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop in flight")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop webhooks/s")
    parser.add_argument(
        "--workers", type=int, default=2, help="load processes for closed-loop scenarios"
    )
    parser.add_argument("--sqlite-synchronous", choices=("full", "normal", "off"), default="full")
    parser.add_argument(
        "--servers", default="bare,firebreak", help="comma-separated subset of bare,firebreak"
    )
    parser.add_argument(
        "--scenarios",
        default="1-alert,100-alert,open",
        help="comma-separated subset of 1-alert,100-alert,open",
    )
    parser.add_argument(
        "--firebreak-wrapper",
        metavar="SCRIPT",
        help="run Firebreak as 'python SCRIPT serve --config F' (e.g. bench/serve_variant.py)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 2.0
    if args.duration <= 0 or args.duration > 120:
        parser.error("--duration must be in (0, 120] seconds")
    if args.db_url and not args.db_url.startswith(
        ("sqlite+aiosqlite:///", "postgresql+asyncpg://")
    ):
        parser.error("--db-url must start with sqlite+aiosqlite:/// or postgresql+asyncpg://")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or set(args.servers) - {"bare", "firebreak"}:
        parser.error("--servers takes bare, firebreak or both")
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenarios or set(args.scenarios) - {"1-alert", "100-alert", "open"}:
        parser.error("--scenarios takes 1-alert, 100-alert, open or several")
    return args


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    # The latency target is measured first, on a receiver with nothing queued. The storms
    # leave escalation work behind (hundreds of thousands of alerts), worked off in the
    # background; the last row measures webhook latency while that happens (no target).
    return [
        Scenario(f"open-{args.rate:g}/s", "o1", 1, "open", rate=args.rate),
        Scenario("1-alert", "c1", 1, "closed", concurrency=args.concurrency),
        Scenario("100-alert", "c100", 100, "closed", concurrency=args.concurrency),
        Scenario(f"open-{args.rate:g}/s+backlog", "o2", 1, "open", rate=args.rate),
    ]


WARMUP = Scenario("warm-up", "w", 1, "closed", concurrency=16)


def _sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(2)


@contextlib.contextmanager
def running(
    kind: str, workdir: Path, db_url: str, synchronous: str, wrapper: str | None = None
) -> Iterator[Server]:
    with serving(Server(kind, workdir, db_url, synchronous, wrapper)) as server:
        yield server


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    """A started server, once it is ready; stopped on leaving the block."""
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        if code not in (0, -signal.SIGINT, None):
            print(f"  note: {server.kind} exited with {code}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    import aiohttp

    run_id = secrets.token_hex(4)
    print(
        f"Firebreak webhook benchmark  run {run_id}: {args.duration:g} s per scenario, "
        f"concurrency {args.concurrency}, open loop {args.rate:g}/s, {args.workers} load "
        f"process(es), Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    results: list[Result] = []
    db_check: DbCheck | None = None
    log_lines: dict[str, int] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        workdir = Path(tmp)
        db_url = args.db_url or f"sqlite+aiosqlite:///{workdir / 'firebreak.db'}"
        fb_alerts_min = fb_alerts_max = fb_webhooks_min = 0
        for kind in args.servers:
            wrapper = args.firebreak_wrapper if kind == "firebreak" else None
            with running(kind, workdir, db_url, args.sqlite_synchronous, wrapper) as server:
                warm = run_scenario(server, WARMUP, run_id, 1.0, args.workers)
                runs = [warm]
                for sc in scenarios(args):
                    if (sc.name if sc.mode == "closed" else "open") not in args.scenarios:
                        continue
                    print(f"  {kind:<9} {sc.name} ...", end="", flush=True)
                    result = run_scenario(server, sc, run_id, args.duration, args.workers)
                    print(
                        f" {result.webhooks_per_s:,.0f} webhooks/s, p99 {result.p99_ms:.1f} ms,"
                        f" {result.errors} errors",
                        flush=True,
                    )
                    results.append(result)
                    runs.append(result)
                if kind == "firebreak":
                    for r in runs:
                        fb_alerts_min += r.ok * r.alerts_per_webhook
                        fb_alerts_max += r.sent * r.alerts_per_webhook
                        fb_webhooks_min += r.ok
            log_lines[kind] = server.log_line_count()
            if log_lines[kind]:
                print(f"  note: {kind} logged {log_lines[kind]} line(s) at warning or above:")
                print("    " + server.log(10).replace("\n", "\n    "))
        if "firebreak" in args.servers:
            rows, hooks, how = count_rows(db_url, run_id)
            db_check = DbCheck(
                expected_min=fb_alerts_min,
                expected_max=fb_alerts_max,
                rows=rows,
                webhook_rows=hooks,
                webhooks_expected_min=fb_webhooks_min,
                how=how,
                ok=fb_alerts_min == fb_alerts_max == rows and hooks >= fb_webhooks_min,
            )
    elapsed = time.monotonic() - started

    print()
    db_is_external = bool(args.db_url and args.db_url.startswith("postgresql"))
    print_table(results, db_is_external)
    print()
    checks = evaluate(results, db_check)
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    for r in results:
        for sample in r.error_samples:
            print(f"  error sample ({r.scenario}, {r.server}): {sample}")
    disturbed = [
        r
        for r in results
        if r.other_cpu_pct > OTHER_LOAD_WARN_PCT
        and not (db_is_external and r.server == "firebreak")
    ]
    if disturbed:
        worst = max(r.other_cpu_pct for r in disturbed)
        print(
            f"WARNING: other processes used up to {worst:.0f}% of a core during "
            f"{len(disturbed)} scenario run(s): those numbers are skewed; rerun on a quiet machine"
        )
    print(f"\ntotal {elapsed:.0f} s")

    if args.json:
        out = {
            "run_id": run_id,
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "cpus": os.cpu_count(),
            "options": {k: v for k, v in vars(args).items() if k not in ("json",) and k != "db_url"}
            | {"database": (args.db_url or "sqlite (temp)").split("://", 1)[0]},
            "results": [asdict(r) for r in results],
            "checks": [{"check": n, "value": v, "pass": ok} for n, v, ok in checks],
            "db": asdict(db_check) if db_check else None,
            "server_log_lines": log_lines,
            "elapsed_s": round(elapsed, 1),
        }
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    if args.strict and not all(ok for _, _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(2)
