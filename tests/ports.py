"""Loopback ports for the processes and servers a test starts, picked so that no other test
takes them meanwhile.

A port found by binding to port 0 is one of the kernel's ephemeral ports: between the moment it
is released and the moment the process under test binds it, any server another worker starts on
port 0 (every aiohttp ``TestServer``) may be given it, and the test then talks to that server.
The ports here come from below the ephemeral range, a slice of its own for each pytest-xdist
worker, so only this worker hands them out, one after the other.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

_WORKERS = 20  # slices: a worker numbered higher shares one


def _ephemeral() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def _slices() -> tuple[int, int]:
    """Where the workers' slices begin, and how many ports each has: just below the ephemeral
    range (above 10,000, clear of the usual services' ports) when there is more room there
    than above it, as with Linux's default range; else just above it."""
    low, high = _ephemeral()
    room_below, room_above = low - 10_000, 65_535 - high
    if room_below >= room_above:
        size = min(600, room_below // _WORKERS)
        return low - size * _WORKERS, size
    return high + 1, min(600, room_above // _WORKERS)


_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % _WORKERS
_FIRST, _SLICE = _slices()
_BASE = _FIRST + _WORKER * _SLICE
_next = itertools.count(random.randrange(_SLICE))


def free_port() -> int:
    """A loopback port nothing listens on, that no other test of this run will be given."""
    for _ in range(_SLICE):
        port = _BASE + next(_next) % _SLICE
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # held by something else, or still in TIME_WAIT: the next one
            return port
    raise RuntimeError(f"no free loopback port in {_BASE}..{_BASE + _SLICE - 1}")
