"""``firebreak serve``: the receiver, with TLS, SIGHUP reloads and the heap frozen after
start-up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from receiver import __version__
from receiver.api.server import serve as run_server
from receiver.app import create_app
from receiver.cli.check import config_warnings
from receiver.cli.loaded import Loaded
from receiver.config import TlsConfig
from receiver.listening import base_url, bind, cannot_listen, console_login
from receiver.obs import configure_logging
from receiver.typedefs import AUDIT, RELOAD

log = logging.getLogger("firebreak.cli")


def serve(_args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak serve``: bind, build the application, serve until a signal stops it."""
    config, path = loaded.config, loaded.path
    configure_logging(config.log)
    for warning in [*config_warnings(config), *loaded.runbook_warnings]:
        log.warning(warning)
    tls = None
    if config.tls is not None:
        try:
            tls = _tls_context(config.tls)
        except (OSError, ssl.SSLError) as exc:
            print(f"firebreak serve: tls: cannot load the certificate: {exc}", file=sys.stderr)
            return 1
    # Bound before anything starts: a busy port stops us before the store is touched.
    try:
        sockets = bind(config.listen_host, config.listen_port)
    except OSError as exc:
        print(f"firebreak serve: {cannot_listen(config.listen, exc)}", file=sys.stderr)
        return 1
    map_large_blocks_apart()
    app = create_app(config, config_path=path)
    app.on_startup.append(_freeze_heap)
    app.cleanup_ctx.append(_trim_memory)
    app.on_startup.append(functools.partial(_reload_on_sighup, tls, config.tls))
    scheme = "https" if tls else "http"
    overridden = f" (from {config.listen_from})" if config.listen_from != "listen" else ""

    def announce() -> None:
        # Called once every socket accepts connections.
        log.info(
            "firebreak %s listening on %s://%s%s", __version__, scheme, config.listen, overridden
        )
        url = base_url(config, tls=tls is not None)
        log.info("console: %s/ — %s", url, console_login(config))

    run_server(
        app,
        sockets=sockets,
        ssl_context=tls,
        announce=announce,
        access_log=logging.getLogger("aiohttp.access") if config.log.access else None,
        shutdown_timeout=config.shutdown_grace.total_seconds(),
    )
    return 0


def _tls_context(tls: TlsConfig, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """A server context (TLS 1.2 and up) holding the configured certificate and key."""
    if context is None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


async def _reload_on_sighup(
    context: ssl.SSLContext | None, tls: TlsConfig | None, app: web.Application
) -> None:
    """SIGHUP reloads the configuration and runbooks (as POST /-/reload does) and reads the TLS
    certificate and key again: a renewed certificate needs no restart. New connections get
    the new certificate; a pair that does not load leaves the old one."""

    def reload() -> None:
        if context is not None and tls is not None:
            try:
                _tls_context(tls, context)
            except (OSError, ssl.SSLError) as exc:
                log.error("tls: keeping the old certificate; the new one does not load: %s", exc)
            else:
                log.info("tls: certificate reloaded from %s", tls.cert_file)
        task = asyncio.get_running_loop().create_task(_reload_and_audit(app))
        _background.add(task)
        task.add_done_callback(_background.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


_background: set[asyncio.Task[object]] = set()


async def _reload_and_audit(app: web.Application) -> None:
    result = await app[RELOAD]()
    await app[AUDIT].record(
        actor="SIGHUP",
        interface="signal",
        action="reload",
        outcome="ok" if result.ok else "rejected",
        detail={"problems": list(result.problems)} if result.problems else None,
    )


# Allocations between two young collections (the interpreter's default is 700). A 100-alert
# webhook allocates some tens of thousands of objects that mostly die young: at 700 the young
# passes walked the ones still in flight every few hundred alerts, 0.56-0.64 ms of CPU a
# webhook, against 0.20-0.26 ms at 10,000 (bench/LABLOG.md, 7 Dec).
_YOUNG_COLLECTION_EVERY = 10_000


def freeze_heap() -> None:
    """Move everything start-up allocated out of the collector's sight: later full
    collections then walk only what requests allocate (measured: p99 at load fell by half).
    And collect the young generation less often (``_YOUNG_COLLECTION_EVERY``)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, older, oldest)


async def _freeze_heap(_app: object) -> None:
    freeze_heap()


# How often freed memory is handed back to the system (see ``_trim_memory``).
_TRIM_EVERY = 10.0


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the process's own libc
    except (OSError, AttributeError):
        return None
    return trim


# glibc's mallopt parameter for the size from which a block is mapped apart (mmap) rather than
# carved from a heap, and the size we fix it at: above the 256 KiB that asyncio's transports
# allocate for every read (and shrink to what came), which mapped apart would cost a mapping
# and 64 page faults a read (measured: two a webhook, +0.2 ms of CPU at one alert).
_M_MMAP_THRESHOLD = -3
_MAP_APART_FROM = 512 * 1024


def map_large_blocks_apart() -> bool:
    """Keep blocks of 512 KiB and up from growing glibc's heaps: one that the heap's free space
    cannot hold is mapped on its own and handed back to the system when freed. glibc maps
    blocks of 128 KiB and up so at first, but raises that size to that of every mapped block
    freed (up to 32 MiB), so after the first large one (a turn's lists of ids, a batch's rows)
    such blocks grow the heap among small ones that outlive them, and the holes they leave are
    neither reused whole nor trimmable. Fixing the size turns that adjustment off. False where
    there is no ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt: Callable[[int, int], int] = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MAP_APART_FROM))


async def _trim_memory(_app: web.Application) -> AsyncIterator[None]:
    """Every ``_TRIM_EVERY`` seconds, hand the memory freed since back to the system. glibc
    keeps freed blocks in its heaps for reuse, and after bursts of webhooks (hundreds in flight,
    their bodies and batches) what it kept grew: in soaks, 5 to 10 MiB kept free within three
    minutes, against 3 to 4 MiB trimmed (bench/LABLOG.md, 7 Dec). On its own thread (a few
    milliseconds each): the loop goes on."""
    trim = malloc_trim()
    if trim is None:
        yield
        return

    async def every() -> None:
        while True:
            await asyncio.sleep(_TRIM_EVERY)
            await asyncio.to_thread(trim, 0)

    task = asyncio.create_task(every(), name="firebreak-memory-trim")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
