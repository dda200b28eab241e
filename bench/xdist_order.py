"""Replay pytest-xdist's load scheduling over measured test durations, in collection order and
in the order tests/conftest.py gives a parallel run, and print when each worker would finish.

The run itself cannot be timed on a shared machine without the others' load in it; its
schedule can. Inputs are what pytest prints:

  .venv/bin/pytest --collect-only -q > collected.txt
  .venv/bin/pytest -q -n 2 --durations=0 tests/api > api.txt     # and so on, a directory each
  .venv/bin/pytest --collect-only -q -m long > long.txt
  python bench/xdist_order.py collected.txt api.txt ... --long long.txt

Each duration is scaled by a factor drawn from [0.6, 1.4] per test and per round (``--rounds``),
so that one lucky or unlucky placement does not decide. The model gives each worker a core of
its own: where the run is short of CPU, the real ends are later and closer together.
"""

from __future__ import annotations

import argparse
import heapq
import random
import re
import statistics
import sys
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _long_first, _spread_heavy_modules  # noqa: E402

DURATION = re.compile(r"^([0-9.]+)s (setup|call|teardown)\s+(\S+)")
UNLISTED = 0.003  # seconds: pytest --durations=0 leaves out what took under 5 ms


@dataclass(frozen=True)
class Test:
    """What the ordering in tests/conftest.py reads of a pytest item."""

    nodeid: str
    long: bool

    @property
    def path(self) -> Path:
        return ROOT / self.nodeid.split("::", 1)[0]

    def get_closest_marker(self, name: str) -> object | None:
        return True if name == "long" and self.long else None


def schedule(order: Sequence[str], seconds: Callable[[str], float], workers: int) -> list[float]:
    """When each worker finishes: xdist 3.8's LoadScheduling (first batches of a quarter of
    each worker's share, then a refill to half of ``pending // workers`` whenever a worker
    holds less than a quarter of it, unless its last test took 0.1 s or more and it still
    holds two)."""
    pending = deque(range(len(order)))
    queues: list[deque[int]] = [deque() for _ in range(workers)]
    first = max(len(order) // workers // 4, 2)
    for queue in queues:
        for _ in range(min(first, len(pending))):
            queue.append(pending.popleft())
    ends = [0.0] * workers
    events = [(0.0, w) for w in range(workers)]
    while events:
        now, w = heapq.heappop(events)
        if not queues[w]:
            ends[w] = now
            continue
        took = seconds(order[queues[w].popleft()])
        if pending:
            low = max(2, len(pending) // workers // 4)
            high = max(2, len(pending) // workers // 2)
            held = len(queues[w])
            if held < low and not (took >= 0.1 and held >= 2):
                for _ in range(min(high - held, len(pending))):
                    queues[w].append(pending.popleft())
        heapq.heappush(events, (now + took, w))
    return ends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("collected", help="pytest --collect-only -q")
    parser.add_argument("durations", nargs="+", help="pytest --durations=0 outputs")
    parser.add_argument("--long", help="pytest --collect-only -q -m long")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    def lines(name: str) -> list[str]:
        return Path(name).read_text().splitlines()

    order = [line.strip() for line in lines(args.collected) if "::" in line]
    long = {line.strip() for line in lines(args.long) if "::" in line} if args.long else set()
    measured: Counter[str] = Counter()
    for name in args.durations:
        for line in lines(name):
            if match := DURATION.match(line):
                measured[match[3]] += float(match[1])
    # Schemathesis's tests are collected under one name each (an operation a test): share.
    copies = Counter(order)

    def seconds(nodeid: str) -> float:
        if copies[nodeid] > 1:
            return measured[nodeid] / copies[nodeid]
        return measured.get(nodeid, UNLISTED)

    tests = [Test(nodeid, nodeid in long) for nodeid in order]
    ordered = [t.nodeid for t in _long_first(_spread_heavy_modules(tests), args.workers)]
    rows: dict[str, list[float]] = {"collection order": [], "conftest order": [], "ideal": []}
    for seed in range(args.rounds):
        draw = random.Random(seed)
        factor = {nodeid: draw.uniform(0.6, 1.4) for nodeid in copies}

        def scaled(nodeid: str, factor: dict[str, float] = factor) -> float:
            return seconds(nodeid) * factor[nodeid]

        rows["collection order"].append(max(schedule(order, scaled, args.workers)))
        rows["conftest order"].append(max(schedule(ordered, scaled, args.workers)))
        rows["ideal"].append(sum(scaled(n) for n in order) / args.workers)
    print(f"{len(order)} tests, {args.workers} workers, {args.rounds} rounds; last worker's end, s")
    for label, ends in rows.items():
        ends.sort()
        print(
            f"  {label:17s} median {statistics.median(ends):6.0f}  "
            f"min {ends[0]:6.0f}  max {ends[-1]:6.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
