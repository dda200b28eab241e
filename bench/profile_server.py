#!/usr/bin/env python3
"""Profile Firebreak under the benchmark's closed-loop loads with py-spy, and summarise.

Starts Firebreak exactly as ``webhook_bench.py`` does (temp SQLite, generated config), drives the
1-alert and 100-alert closed-loop scenarios and the 500/s open loop, and samples the server with
``py-spy record`` while each runs. Prints, per scenario and per server thread, the functions with
the most samples: ``self`` (the frame was running) and ``total`` (the frame was on the stack), as
shares of that thread's samples, each with its hottest ``file:line``. The raw collapsed stacks
are kept in ``--out`` (load them into speedscope or flamegraph.pl).

Needs py-spy (``pip install py-spy``) and permission to ptrace the server (root, or
kernel.yama.ptrace_scope=0). py-spy pauses the process for each sample, so throughput under the
profiler is a little lower than in the benchmark.

Usage::

    python bench/profile_server.py [--duration 10] [--rate 100] [--native] [--gil] [--out DIR]

``--native`` adds C frames: the garbage collector, sqlite3's commit, WAL checkpoints, fsync.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_bench as wb

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \((?P<tid>[^)]*)\): ?(?P<name>.*)$")


@dataclass
class ThreadProfile:
    name: str
    samples: int = 0
    self_: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    lines: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def _split_frame(frame: str) -> tuple[str, str]:
    """('func (file)', 'file:line') for a py-spy frame 'func (file:line)'."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, frame
    key = f"{match['func']} ({match['file']})"
    where = f"{match['file']}:{match['line']}" if match["line"] else match["file"]
    return key, where


def parse_raw(path: Path) -> dict[str, ThreadProfile]:
    """py-spy ``--format raw --threads`` output, aggregated per thread name."""
    threads: dict[str, ThreadProfile] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread_name = "?"
        head = _THREAD.match(frames[0])
        if head is not None:
            thread_name = head["name"] or head["tid"]
            frames = frames[1:]
        # Frames a thread name may carry: "MainThread", "asyncio_0", "Thread-1 (run)" ...
        if frames and "(" not in frames[0]:
            thread_name = frames[0]
            frames = frames[1:]
        thread_name = re.sub(r"-\d+", "-N", thread_name)  # aiosqlite's Thread-3 ~ Thread-7
        prof = threads.setdefault(thread_name, ThreadProfile(thread_name))
        prof.samples += count
        if not frames:
            continue
        seen: set[str] = set()
        for frame in frames:
            key, where = _split_frame(frame)
            if key not in seen:  # recursion counts once per sample
                prof.total[key] += count
                seen.add(key)
        key, where = _split_frame(frames[-1])
        prof.self_[key] += count
        prof.lines[key][where] += count
    return threads


# Frames every stack of a thread passes through: the event loop, greenlet switches, threads.
_PLUMBING = (
    "(firebreak)",
    "receiver/cli/",
    "aiohttp/web.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "_asynciomodule.c",
    "greenlet",
    "threading.py",
    "thread_run",
    "_connection_worker_thread",
    "_bootstrap",
)


def _package(key: str) -> str:
    """Where a frame lives: receiver, sqlalchemy, aiohttp, asyncio, json, C: libsqlite3 ..."""
    where = key[key.rfind("(") + 1 : -1]
    if where.endswith(".py"):
        head = where.split("/", 1)[0]
        return head if "/" in where else f"stdlib {where}"
    if ".so" in where:
        return "C: " + where.split(".so", 1)[0]
    return "C: python" if where.endswith((".c", ".h")) else where


def report(title: str, threads: dict[str, ThreadProfile], top: int, expected: float) -> str:
    out = [f"== {title}"]
    for prof in sorted(threads.values(), key=lambda p: -p.samples):
        n = prof.samples
        busy = f", {100 * n / expected:.0f}% of wall time" if expected else ""
        out.append(f"-- thread {prof.name}: {n} samples{busy}")
        packages: Counter[str] = Counter()
        for key, count in prof.self_.items():
            packages[_package(key)] += count
        shares = ", ".join(f"{pkg} {100 * c / n:.0f}%" for pkg, c in packages.most_common(8))
        out.append(f"   self by package: {shares}")
        out.append(f"   {'self%':>6} {'total%':>6}  function (file of the hottest line: share)")
        for key, count in prof.self_.most_common(top):
            hottest, hot = prof.lines[key].most_common(1)[0]
            out.append(
                f"   {100 * count / n:6.1f} {100 * prof.total[key] / n:6.1f}"
                f"  {key}  [{hottest}: {100 * hot / n:.1f}%]"
            )
        out.append("   inclusive (total%), roots left out:")
        shown = 0
        for key, count in prof.total.most_common():
            if count >= 0.97 * n or key.startswith("0x") or any(p in key for p in _PLUMBING):
                continue
            out.append(f"   {100 * count / n:6.1f}  {key}")
            shown += 1
            if shown >= top:
                break
        mine = [
            (key, count)
            for key, count in prof.total.most_common()
            if "(receiver/" in key and "receiver/cli/" not in key
        ]
        if mine:
            out.append("   receiver/ functions, inclusive:")
            for key, count in mine[:top]:
                out.append(f"   {100 * count / n:6.1f}  {key}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--open-rate", type=float, default=500.0, help="also the open loop at this rate (0: no)"
    )
    parser.add_argument("--top", type=int, default=15, help="functions listed per thread")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--native", action="store_true", help="include C frames (sqlite3, fsync)")
    parser.add_argument("--out", default=None, help="directory for the raw stacks and summary")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="firebreak-profile-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(4)
    every = wb.scenarios(argparse.Namespace(concurrency=args.concurrency, rate=args.open_rate))
    chosen = [s for s in every if s.mode == "closed" or args.open_rate > 0]
    summaries = []
    with tempfile.TemporaryDirectory(prefix="firebreak-profile-") as tmp:
        workdir = Path(tmp)
        db_url = f"sqlite+aiosqlite:///{workdir / 'firebreak.db'}"
        with wb.running("firebreak", workdir, db_url, "full") as server:
            wb.run_scenario(server, wb.WARMUP, run_id, 1.0, args.workers)
            for sc in chosen:
                raw = out_dir / (re.sub(r"[^A-Za-z0-9.-]+", "_", sc.name) + ".txt")
                cmd = [py_spy, "record", "--pid", str(server.pid), "--threads", "--format"]
                cmd += ["raw", "--rate", str(args.rate), "--output", str(raw)]
                # Bodies are built first (a few seconds); py-spy starts once the load does and
                # stops a little before it ends.
                cmd += ["--duration", str(max(1, int(args.duration) - 1))]
                if args.gil:
                    cmd.append("--gil")
                if args.native:
                    cmd.append("--native")
                spy: subprocess.Popen[bytes] | None = None

                def on_start(cmd: list[str] = cmd) -> None:
                    nonlocal spy
                    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

                try:
                    result = wb.run_scenario(
                        server, sc, run_id, args.duration, args.workers, on_start=on_start
                    )
                finally:
                    if spy is not None:
                        try:
                            _, err = spy.communicate(timeout=30)
                        except subprocess.TimeoutExpired:
                            spy.kill()
                            _, err = spy.communicate()
                        if spy.returncode != 0:
                            print(err.decode(errors="replace"), file=sys.stderr)
                title = (
                    f"{sc.name}: {result.webhooks_per_s:,.0f} webhooks/s, "
                    f"{result.alerts_per_s:,.0f} alerts/s, p99 {result.p99_ms:.1f} ms under "
                    f"py-spy{' --gil' if args.gil else ''} at {args.rate} Hz"
                )
                expected = args.rate * max(1, int(args.duration) - 1)
                summaries.append(report(title, parse_raw(raw), args.top, expected))
                time.sleep(0.5)
    text = "\n\n".join(summaries)
    (out_dir / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nraw stacks and summary in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
