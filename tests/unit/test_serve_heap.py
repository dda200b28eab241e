"""What ``firebreak serve`` does to its heap once started: the start-up heap frozen out of the
collector's sight, the young generation collected every 10,000 allocations, not the default
700, memory freed inside glibc's heap handed back to the system every few seconds, and large
blocks kept out of that heap."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from receiver.cli import serve
from receiver.cli.serve import freeze_heap, malloc_trim


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serve_freezes_the_start_up_heap_and_collects_the_young_less_often(
    collector: None,
) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    start_up = [object() for _ in range(3)], {"kept": [1, 2]}
    freeze_heap()
    assert gc.get_freeze_count() > 0
    # Frozen: in no generation a collection walks.
    assert all(found is not start_up for found in gc.get_objects())
    assert gc.get_threshold() == (10_000, 10, 10)


def _resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(malloc_trim() is None, reason="the C library has no malloc_trim")
def test_trimming_hands_memory_freed_inside_the_heap_back_to_the_system() -> None:
    """What serve does every few seconds: memory freed in the middle of glibc's heap (a
    burst's blocks, one still held after them) stays resident until trimmed."""
    trim = malloc_trim()
    assert trim is not None
    trim(0)
    burst = [bytes(64 * 1024) for _ in range(800)]  # 50 MiB in blocks glibc keeps in its heap
    held_after = bytes(64 * 1024)
    del burst
    before = _resident_kib()
    trim(0)
    after = _resident_kib()
    assert before - after > 25 * 1024, (before, after)
    assert held_after  # still there: the heap's top did not shrink by itself


async def test_serve_trims_memory_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    twice = asyncio.Event()
    loop = asyncio.get_running_loop()

    def trim(pad: int) -> int:  # called on a thread of its own
        calls.append(pad)
        if len(calls) == 2:
            loop.call_soon_threadsafe(twice.set)
        return 1

    monkeypatch.setattr(serve, "malloc_trim", lambda: trim)
    monkeypatch.setattr(serve, "_TRIM_EVERY", 0.01)
    context = serve._trim_memory(web.Application())
    await anext(context)
    await asyncio.wait_for(twice.wait(), 30)
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    assert calls[:2] == [0, 0]


# A child process (the setting is the whole process's): 16 blocks of 640 KiB allocated after a
# 4 MiB one was freed, and how much of them glibc then holds mapped apart from its heaps.
_LARGE_AFTER_LARGER = textwrap.dedent(
    """
    import ctypes, sys
    from receiver.cli.serve import map_large_blocks_apart

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "apart":
        assert map_large_blocks_apart()
    larger = bytearray(4 << 20)
    del larger
    before = libc.mallinfo2().hblkhd
    blocks = [bytearray(640 << 10) for _ in range(16)]
    print((libc.mallinfo2().hblkhd - before) >> 10)
    """
)


def _mapped_apart_kib(mode: str) -> int:
    run = [sys.executable, "-c", _LARGE_AFTER_LARGER, mode]
    return int(subprocess.run(run, capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(malloc_trim() is None, reason="not glibc")
def test_large_blocks_do_not_grow_the_heap_after_a_larger_one_was_freed() -> None:
    """glibc alone grows its heap for them (it raised its threshold when the larger one was
    freed); as serve sets it, those the heap's free space cannot hold are mapped apart, and
    handed back when freed."""
    assert _mapped_apart_kib("default") < 1024
    assert _mapped_apart_kib("apart") >= 5 * 1024
