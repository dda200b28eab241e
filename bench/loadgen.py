"""The webhook benchmarks' load generator: Alertmanager webhook bodies built before the clock
starts (each alert a new occurrence), a minimal HTTP/1.1 keep-alive client on raw asyncio
transports, and the load worker processes that send them in a closed loop (a fixed number in
flight) or an open loop (on schedule, whatever the answers; latency from the scheduled send).

``webhook_bench.py`` runs it against Firebreak and a bare handler and reports; other benchmarks
use it through ``webhook_bench`` (``import webhook_bench as wb``).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import hashlib
import json
import math
import re
import signal
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.payloads import alert, webhook  # noqa: E402

HOST = "127.0.0.1"
WEBHOOK_TOKEN = "bench-webhook-token-" + "x" * 16
BUILD_TIMEOUT = 180.0  # a worker building its request bytes
# Requests still in flight once a scenario's time is up. A benchmark that needs longer sets
# ``loadgen.DRAIN_TIMEOUT`` before it runs (the load workers are forked, so they see it too).
DRAIN_TIMEOUT = 15.0


def bench_group_key(run_id: str) -> str:
    """The Alertmanager group key every webhook of one run carries, to count them after."""
    return f'{{}}:{{bench_run="{run_id}"}}'


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
