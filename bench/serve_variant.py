#!/usr/bin/env python3
"""``firebreak`` with interpreter-level knobs, for A/B experiments that leave receiver/ alone.

Runs ``receiver.cli.main`` unchanged, with ``gc.callbacks`` timing every collection by
generation; the totals go to stderr when the process exits. Environment knobs (all optional):

- ``FB_GC_FREEZE=1``: ``gc.freeze()`` once the app has started (objects from imports, the
  alembic migration and startup move to the permanent generation, which collections skip);
- ``FB_GC_THRESHOLD=a,b,c``: ``gc.set_threshold(a, b, c)`` at start;
- ``FB_SWITCH_INTERVAL=seconds``: ``sys.setswitchinterval`` (default 0.005): how long a thread
  that wants the GIL (aiosqlite's, with a result) waits for the busy event loop to give it up.

With ``webhook_bench.py --servers firebreak --firebreak-wrapper bench/serve_variant.py`` it
stands in for ``firebreak serve``; the report appears as the server's log line.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time

_started: dict[int, float] = {}
_spent = [0.0, 0.0, 0.0]
_count = [0, 0, 0]
_collected = [0, 0, 0]


def _callback(phase: str, info: dict[str, int]) -> None:
    gen = info["generation"]
    if phase == "start":
        _started[gen] = time.perf_counter()
    elif gen in _started:
        _spent[gen] += time.perf_counter() - _started.pop(gen)
        _count[gen] += 1
        _collected[gen] += info.get("collected", 0)


def _report() -> None:
    parts = [
        f"gen{g}: {_count[g]} collections, {_spent[g]:.3f} s, {_collected[g]} objects freed"
        for g in range(3)
    ]
    print(
        f"serve_variant: {'; '.join(parts)}; tracked objects at exit {len(gc.get_objects())}, "
        f"frozen {gc.get_freeze_count()}, threshold {gc.get_threshold()}",
        file=sys.stderr,
        flush=True,
    )


def main() -> int:
    gc.callbacks.append(_callback)
    atexit.register(_report)
    interval = os.environ.get("FB_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))
    threshold = os.environ.get("FB_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(*(int(x) for x in threshold.split(",")))
    if os.environ.get("FB_GC_FREEZE") == "1":
        from aiohttp import web

        from receiver import app as app_module

        create_app = app_module.create_app

        def create_app_then_freeze(*args: object, **kwargs: object) -> web.Application:
            app = create_app(*args, **kwargs)  # type: ignore[arg-type]

            async def freeze(_app: web.Application) -> None:
                gc.collect()
                gc.freeze()

            app.on_startup.append(freeze)  # after cleanup_ctx: store and migration done
            return app

        app_module.create_app = create_app_then_freeze  # type: ignore[assignment]
    from receiver.cli import main as firebreak_main

    return firebreak_main()


if __name__ == "__main__":
    sys.exit(main())
