#!/usr/bin/env python3
"""``firebreak`` with a record of where its memory is, for soaks that leave receiver/ alone.

Runs ``receiver.cli.main`` unchanged, with a thread that every ``FB_PROBE_SECONDS`` (10 by
default) appends one JSON line to ``FB_PROBE_FILE``:

- ``rss``, ``anon``, ``file``: /proc/self/smaps_rollup (KiB): resident, of it anonymous
  (the heap, arenas, thread stacks) and file-backed (libraries);
- ``sqlite``: SQLite's own allocations (``sqlite3_status64``, all connections: page caches,
  schemas, prepared statements), and ``connections``: for each open connection, the thread
  that opened it and what it holds (``sqlite3_db_status``, KiB): its page cache, schema and
  prepared statements, and with ``FB_PROBE_STATEMENTS=1`` the statements by kind (see
  ``_statements``: a diagnostic that may crash the server);
- ``malloc``: glibc's ``mallinfo2``: ``arena`` (bytes the heaps of all arenas took from the
  system), ``inuse`` (allocated), ``free`` (free inside them), ``mmap`` (large blocks mapped
  apart), and ``arenas``: the number of glibc arenas (``[heap]`` plus the per-thread heaps);
- ``objects``: the objects the collector tracks, and with ``FB_PROBE_TYPES=N`` the N most
  numerous of their types (what a burst holds at the moment of the record);
- ``gc``: collections and objects they collected, by generation; with ``FB_PROBE_COLLECT=1``
  the probe runs a full collection after each record's figures (``gc_freed``, ``gc_ms``), to
  see what garbage waiting for one holds;
- with ``FB_PROBE_CONNECTS=1``, in ``FB_PROBE_FILE.connects``: when each connection of the
  async pool opened and the coroutines of the task that asked for it, innermost first;
- ``py``: bytes the interpreter's allocator holds (``sys._debugmallocstats`` is too slow;
  ``tracemalloc`` when on), ``threads``.

``FB_TRACEMALLOC=N`` starts tracemalloc with N frames at the first record and writes a snapshot to
``FB_PROBE_FILE.<seconds>.snap`` at each of the seconds listed in ``FB_SNAP_AT``
(e.g. ``70,190``: the end of the warm-up minute and of the third), to diff afterwards::

    python bench/memory_probe.py diff A.snap B.snap

Use as ``soak_bench.py --firebreak-wrapper bench/memory_probe.py``.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import itertools
import json
import os
import sqlite3
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_SQLITE_STATUS_MEMORY_USED = 0
_SQLITE_DBSTATUS_CACHE_USED = 1
_SQLITE_DBSTATUS_SCHEMA_USED = 2
_SQLITE_DBSTATUS_STMT_USED = 3
_SQLITE_STMTSTATUS_MEMUSED = 99
_WALK_STATEMENTS = os.environ.get("FB_PROBE_STATEMENTS") == "1"
_TYPES = int(os.environ.get("FB_PROBE_TYPES", "0"))
_COLLECT = os.environ.get("FB_PROBE_COLLECT") == "1"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


# Every SQLite connection the process opens (the start-up's are frozen out of gc's sight).
_connections: list[tuple[sqlite3.Connection, str]] = []
_connect = sqlite3.connect


def _connect_and_keep(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn: sqlite3.Connection = _connect(*args, **kwargs)
    _connections.append((conn, threading.current_thread().name))
    return conn


def _libsqlite() -> ctypes.CDLL:
    import _sqlite3

    # The library the sqlite3 module is linked to (the process has it loaded already).
    return ctypes.CDLL(ctypes.util.find_library("sqlite3") or _sqlite3.__file__)


def _db_pointer(conn: sqlite3.Connection) -> int:
    # pysqlite_Connection: PyObject_HEAD, then ``sqlite3 *db``.
    return ctypes.c_void_p.from_address(id(conn) + 2 * ctypes.sizeof(ctypes.c_void_p)).value or 0


def _smaps() -> dict[str, int]:
    found: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        found[key] = int(rest.split()[0])
    return found


def _arenas() -> int:
    # Each non-main arena lives in 64 MiB heaps, mapped aligned: count the distinct ones with
    # a readable+writable anonymous mapping directly followed by their reserve (---p).
    count = 1
    lines = Path("/proc/self/maps").read_text().splitlines()
    for line, following in itertools.pairwise(lines):
        parts, nxt = line.split(), following.split()
        if len(parts) == 5 and parts[1] == "rw-p" and len(nxt) == 5 and nxt[1] == "---p":
            start = int(parts[0].split("-")[0], 16)
            end = int(nxt[0].split("-")[1], 16)
            if start % (64 << 20) == 0 and end - start == 64 << 20:
                count += 1
    return count


def _statements(walk: ctypes.PyDLL, db: int) -> list[tuple[str, int, int]]:
    """The connection's prepared statements by kind (the SQL's first words): how many, and
    the KiB they hold (``sqlite3_stmt_status(SQLITE_STMTSTATUS_MEMUSED)``), largest first.

    Only with ``FB_PROBE_STATEMENTS=1``, for a look, not in a run that must finish: the walk
    cannot hold the connection's mutex (the interpreter may switch threads between two calls,
    to one that holds the interpreter's lock and waits for that mutex: a deadlock, seen), so a
    statement its thread finalizes meanwhile (the driver's cache evicting one) may crash the
    process. ``walk`` is a ``PyDLL`` (its calls keep the interpreter's lock), which narrows
    that window to the Python between two calls."""
    kinds: dict[str, list[int]] = {}
    stmt = walk.sqlite3_next_stmt(db, None)
    while stmt:
        sql = (walk.sqlite3_sql(stmt) or b"").decode(errors="replace")
        kind = " ".join(sql.split()[:4])[:48]
        found = kinds.setdefault(kind, [0, 0])
        found[0] += 1
        found[1] += walk.sqlite3_stmt_status(stmt, _SQLITE_STMTSTATUS_MEMUSED, 0)
        stmt = walk.sqlite3_next_stmt(db, stmt)
    ranked = sorted(kinds.items(), key=lambda item: -item[1][1])
    return [(kind, count, size // 1024) for kind, (count, size) in ranked[:6]]


def _record(
    libsqlite: ctypes.CDLL, walk: ctypes.PyDLL, libc: ctypes.CDLL, started: float
) -> dict[str, object]:
    smaps = _smaps()
    current, high = ctypes.c_int64(), ctypes.c_int64()
    libsqlite.sqlite3_status64(
        _SQLITE_STATUS_MEMORY_USED, ctypes.byref(current), ctypes.byref(high), 0
    )
    connections = []
    for entry in list(_connections):
        db = _db_pointer(entry[0])
        if not db:  # closed
            _connections.remove(entry)
            continue
        used: dict[str, object] = {"by": entry[1][:20]}
        for name, op in (
            ("cache", _SQLITE_DBSTATUS_CACHE_USED),
            ("schema", _SQLITE_DBSTATUS_SCHEMA_USED),
            ("stmt", _SQLITE_DBSTATUS_STMT_USED),
        ):
            value, top = ctypes.c_int(), ctypes.c_int()
            libsqlite.sqlite3_db_status(
                ctypes.c_void_p(db), op, ctypes.byref(value), ctypes.byref(top), 0
            )
            used[name] = value.value // 1024
        if _WALK_STATEMENTS:
            used["kinds"] = _statements(walk, db)
        connections.append(used)
    info = libc.mallinfo2()
    record: dict[str, object] = {
        "t": round(time.monotonic() - started, 1),
        "rss": smaps.get("Rss", 0),
        "anon": smaps.get("Anonymous", 0),
        "file": smaps.get("Rss", 0) - smaps.get("Anonymous", 0),
        "sqlite": current.value // 1024,
        "sqlite_high": high.value // 1024,
        "connections": connections,
        "malloc": {
            "arena": info.arena // 1024,
            "inuse": info.uordblks // 1024,
            "free": info.fordblks // 1024,
            "mmap": info.hblkhd // 1024,
        },
        "arenas": _arenas(),
        "threads": threading.active_count(),
    }
    # Collections so far and what they found, by generation: cyclic garbage (a closed
    # connection's transport and protocol) waits in the older generations for one of theirs.
    record["gc"] = [[g["collections"], g["collected"]] for g in gc.get_stats()]
    record["gc_count"] = list(gc.get_count())
    if _COLLECT:
        started = time.perf_counter()
        record["gc_freed"] = gc.collect()
        record["gc_ms"] = round((time.perf_counter() - started) * 1000, 1)
    objects = gc.get_objects()
    record["objects"] = len(objects)
    if _TYPES:
        counts = collections.Counter(type(o).__qualname__ for o in objects)
        record["types"] = dict(counts.most_common(_TYPES))
    del objects
    if tracemalloc.is_tracing():
        record["traced"] = tracemalloc.get_traced_memory()[0] // 1024
    return record


def _probe(path: Path, every: float, snap_at: list[float], frames: int) -> None:
    libsqlite = _libsqlite()
    libsqlite.sqlite3_db_status.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    walk = ctypes.PyDLL(libsqlite._name)  # the same library; calls keep the GIL
    walk.sqlite3_next_stmt.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    walk.sqlite3_next_stmt.restype = ctypes.c_void_p
    walk.sqlite3_sql.argtypes = [ctypes.c_void_p]
    walk.sqlite3_sql.restype = ctypes.c_char_p
    walk.sqlite3_stmt_status.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    started = time.monotonic()
    pending = sorted(snap_at)
    with path.open("a") as out:
        while True:
            time.sleep(every)
            serving = any(by.startswith("firebreak-sqlite") for _, by in _connections)
            if frames and serving and not tracemalloc.is_tracing():
                tracemalloc.start(frames)  # after start-up, which it would slow past the wait
            out.write(json.dumps(_record(libsqlite, walk, libc, started)) + "\n")
            out.flush()
            elapsed = time.monotonic() - started
            while pending and elapsed >= pending[0] and tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(f"{path}.{int(pending.pop(0))}.snap")


def diff(before: str, after: str, top: int = 30) -> None:
    """Print the allocation sites that grew most between two snapshots."""
    old = tracemalloc.Snapshot.load(before)
    new = tracemalloc.Snapshot.load(after)
    total = sum(s.size for s in new.statistics("filename")) - sum(
        s.size for s in old.statistics("filename")
    )
    print(f"traced growth {total / 2**20:+.2f} MiB")
    for key in ("filename", "traceback"):
        print(f"-- by {key}")
        for stat in new.compare_to(old, key)[:top]:
            print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d}  {stat.traceback}")
            if key == "traceback":
                for line in stat.traceback.format()[-8:]:
                    print("      ", line)


def _log_connects(path: Path) -> None:
    """Write to ``path`` when and for which task each new SQLite connection of the async pool
    opens (each is a thread, with a page cache and a heap of its own), with the task's stack."""
    import asyncio

    import aiosqlite
    import greenlet  # type: ignore[import-untyped]

    started = time.monotonic()
    opened = aiosqlite.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        # On SQLAlchemy's greenlet: the frame its parent left off in leads back through the
        # task's coroutines (innermost first) to the loop.
        where = []
        frame = greenlet.getcurrent().parent and greenlet.getcurrent().parent.gr_frame
        while frame is not None:
            where.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")
            frame = frame.f_back
        entry = {"t": round(time.monotonic() - started, 1), "task": task and task.get_name()}
        with path.open("a") as out:
            out.write(json.dumps({**entry, "stack": where}) + "\n")
        return opened(*args, **kwargs)

    aiosqlite.connect = connect


def main() -> int:
    frames = int(os.environ.get("FB_TRACEMALLOC", "0"))
    path = Path(os.environ.get("FB_PROBE_FILE", "memory_probe.jsonl"))
    if os.environ.get("FB_PROBE_CONNECTS") == "1":
        _log_connects(path.with_name(path.name + ".connects"))
    every = float(os.environ.get("FB_PROBE_SECONDS", "10"))
    snap_at = [float(s) for s in os.environ.get("FB_SNAP_AT", "").split(",") if s]
    sqlite3.connect = _connect_and_keep  # type: ignore[assignment]
    sqlite3.dbapi2.connect = _connect_and_keep  # type: ignore[assignment]  # SQLAlchemy's
    threading.Thread(
        target=_probe, args=(path, every, snap_at, frames), name="memory-probe", daemon=True
    ).start()
    from receiver.cli import main as firebreak_main

    return firebreak_main()


if __name__ == "__main__":
    if sys.argv[1:2] == ["diff"]:
        diff(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
