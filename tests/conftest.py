"""Fixtures shared by every test: configs on a real SQLite file or a real PostgreSQL database,
and a running application with a fresh metrics registry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import Config, parse_config
from tests.clock import ManualClock
from tests.fakes.slack import SlackFake

# Property tests are bounded by their number of examples, never by the clock: on a loaded machine
# a slow draw or a slow example says nothing about the code. Every run draws a quarter of
# Hypothesis's usual number; the scheduled run (HYPOTHESIS_PROFILE=nightly) twenty times that.
settings.register_profile(
    "firebreak",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly", parent=settings.get_profile("firebreak"), max_examples=500, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "firebreak"))


# Directories whose tests start real processes (Firebreak, Alertmanager, Prometheus, headless
# Chromium, a restarted PostgreSQL): seconds to tens of seconds a test, where most others take
# a fraction of one.
HEAVY_DIRECTORIES = frozenset({"e2e", "chaos", "console", "security"})
# The share of the run over which their modules are spread: the rest is light tests only,
# which even out the workers' ends.
HEAVY_SPREAD = 0.6
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order of a parallel run (pytest-xdist's load scheduling, as ``make test`` runs it).

    xdist hands each worker consecutive tests: a first batch of ``len(items) // N // 4`` for
    each of its N workers, then, as a worker runs low, up to a twelfth of what is left. In
    collection order the tests of HEAVY_DIRECTORIES came to one or two workers in a few
    such batches, and the run waited for those workers alone at its end. Here their modules
    (each kept whole, so that a module-scoped fixture serves it once) are spread evenly over
    the first 60 % of the run, and each test marked ``long`` heads a worker's first batch. A
    run without workers keeps the collection order."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers > 1:
        items[:] = _long_first(_spread_heavy_modules(items), workers)


def _spread_heavy_modules(items: list[pytest.Item]) -> list[pytest.Item]:
    modules: list[list[pytest.Item]] = []
    for item in items:
        if modules and modules[-1][0].path == item.path:
            modules[-1].append(item)
        else:
            modules.append([item])

    def heavy(module: list[pytest.Item]) -> bool:
        path = module[0].path
        return path.is_relative_to(TESTS) and path.relative_to(TESTS).parts[0] in HEAVY_DIRECTORIES

    heavies = [module for module in modules if heavy(module)]
    lights = [module for module in modules if not heavy(module)]
    if not heavies:
        return items
    light_count = sum(len(module) for module in lights)
    # Heavy module k goes before the first light module at or past its share of the run.
    due = [int(HEAVY_SPREAD * light_count * (k + 0.5) / len(heavies)) for k in range(len(heavies))]
    order: list[pytest.Item] = []
    placed = 0
    for module in lights:
        while heavies and due[0] <= placed:
            order += heavies.pop(0)
            due.pop(0)
        order += module
        placed += len(module)
    for module in heavies:
        order += module
    return order


def _long_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The k-th test marked ``long`` at the head of the k-th worker's first batch: started
    late, one would run on alone after every other test is done."""
    long = [item for item in items if item.get_closest_marker("long")]
    if not long:
        return items
    batch = max(len(items) // workers // 4, 2)
    slots: dict[int, pytest.Item] = {}
    for k, item in enumerate(long):
        index = (k % workers) * batch + k // workers
        while index in slots or index >= len(items):
            index = (index + 1) % len(items)
        slots[index] = item
    rest = iter([item for item in items if not item.get_closest_marker("long")])
    return [slots[i] if i in slots else next(rest) for i in range(len(items))]


def examples(per_hundred: int) -> int:
    """A property test's number of examples, weighed against Hypothesis's usual 100: ``200``
    for a test worth twice the usual draw (cheap examples, a wide input space), ``60`` for one
    whose examples are costly. Scaled by the loaded profile, at least 10."""
    return max(10, per_hundred * settings.default.max_examples // 100)


WEBHOOK_TOKEN = "hook-secret-0123456789"
ADMIN_TOKEN = "admin-secret-0123456789"
RESPONDER_TOKEN = "responder-secret-0123456789"
VIEWER_TOKEN = "viewer-secret-0123456789"

PG_ADMIN_URL = os.environ.get("FIREBREAK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def eventually(check: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it gives something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {within:g} s" + (f": {what}" if what else ""))
        await asyncio.sleep(0.05)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def config_text(db_url: str, extra: str = "") -> str:
    return f"""
listen: "127.0.0.1:9095"
database:
  url: "{db_url}"
webhook:
  auth:
    bearer_tokens: ["{WEBHOOK_TOKEN}"]
  max_body_bytes: 1048576
api:
  tokens:
    - {{token: "{ADMIN_TOKEN}", role: admin, name: alice}}
    - {{token: "{RESPONDER_TOKEN}", role: responder, name: bob}}
    - {{token: "{VIEWER_TOKEN}", role: viewer, name: carol}}
log:
  level: debug
  format: console
{extra}
"""


def _pg_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server as its administrator."""
    import asyncpg

    async def admin() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # Its own thread and loop: the caller may be inside a running loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin()).result()


@contextlib.contextmanager
def new_pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (an SQLAlchemy URL), dropped on leaving the block;
    skips the test when the server does not answer."""
    import asyncpg

    name = f"firebreak_test_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); skipping its leg")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database made for this test session, dropped at its end."""
    with new_pg_database() as url:
        yield url


async def _empty_pg(url: str) -> None:
    """Every row of the session's database gone and every sequence back at its start, the
    schema kept: a test starts as on a freshly migrated database. DELETE, not TRUNCATE: on
    tables this small TRUNCATE's new files cost about 0.2 s a test, DELETE about 0.03 s; the
    foreign keys are not checked meanwhile (replica role), since every table is emptied."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        # Only those the last test drew from (last_value is NULL until the first nextval
        # after a restart): each ALTER SEQUENCE writes the catalog, and a test draws from a
        # few of the fourteen (emptying after one that drew from six took about 0.6 of the
        # time of restarting all of them).
        sequences = await conn.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' "
            "AND last_value IS NOT NULL"
        )
        statements = [f'DELETE FROM "{t["tablename"]}"' for t in tables]
        statements += [f'ALTER SEQUENCE "{s["sequencename"]}" RESTART' for s in sequences]
        if statements:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("; ".join(statements))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file the migrations have brought to the newest revision, made once per
    worker: each test starts from a copy of it, as a restarted server finds its database,
    instead of running every migration again (a few hundred milliseconds a test)."""
    from receiver.config import DatabaseConfig
    from receiver.store import create_engine_for, migrate

    path = tmp_path_factory.mktemp("schema") / "firebreak.db"

    async def build() -> None:
        engine = create_engine_for(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    return path


def _migrated_sqlite(schema: Path, where: Path) -> str:
    """A fresh SQLite database at ``where`` holding the newest schema and no rows."""
    shutil.copyfile(schema, where)
    return f"sqlite+aiosqlite:///{where}"


# The two stores a test on both runs on; the PostgreSQL leg carries the ``postgres`` mark.
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_schema: Path
) -> AsyncIterator[str]:
    """Each test that uses it runs once on a fresh SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        yield _migrated_sqlite(sqlite_schema, tmp_path / "firebreak.db")
        return
    url = request.getfixturevalue("pg_database")
    await _empty_pg(url)
    yield url


@contextlib.contextmanager
def shared_database(store: str, where: Path, sqlite_schema: Path) -> Iterator[str]:
    """A database (its SQLAlchemy URL) for a fixture wider than one test: a fresh SQLite file
    in the directory ``where``, or a PostgreSQL database of its own (``db_url``'s session
    database is emptied before every test that takes it)."""
    if store == "sqlite":
        yield _migrated_sqlite(sqlite_schema, where / "firebreak.db")
        return
    with new_pg_database() as url:
        yield url


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestClient[Any, Any]]:
    """``app`` on a loopback test server and a client for it, as pytest-aiohttp's
    ``aiohttp_client`` starts them, for a fixture wider than one test (``aiohttp_client`` is
    the test's own, on the test's own event loop)."""
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def aiohttp_clients() -> AsyncIterator[Callable[[web.Application], Awaitable[Any]]]:
    """``aiohttp_client`` for a fixture on another event loop than the test's own, or wider
    than one test: each application given to it is served until the block ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(app: web.Application) -> TestClient[Any, Any]:
            return await stack.enter_async_context(serve(app))

        yield start


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_schema: Path) -> str:
    return _migrated_sqlite(sqlite_schema, tmp_path / "firebreak.db")


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    """Slack's Web API, faked on loopback: what each test's Firebreak posted there."""
    async with SlackFake() as fake:
        yield fake


@pytest.fixture
def make_config() -> Callable[..., Config]:
    def make(db_url: str, extra: str = "") -> Config:
        return parse_config(config_text(db_url, extra), source="test.yml", env={})

    return make


@pytest.fixture
def config(db_url: str, make_config: Callable[..., Config]) -> Config:
    return make_config(db_url)


@pytest.fixture
def manual_clock() -> ManualClock:
    """Time that moves only when the test says so (see tests/clock.py): pass it to
    ``create_app(config, clock=manual_clock)``, then ``watch`` the started application."""
    return ManualClock()


async def start_on_clock(
    aiohttp_client: Callable[..., Any], config: Config, clock: ManualClock, **options: Any
) -> TestClient[Any, Any]:
    """The application for ``config`` on ``clock`` (watched, with a registry of its own), as a
    test client; ``options`` go to create_app (owner, config_path)."""
    app = create_app(
        config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry(), **options
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    clock.watch(app)
    return client


@pytest.fixture
def on_clock(
    aiohttp_client: Callable[..., Any], manual_clock: ManualClock
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """``await on_clock(config, owner=..., config_path=...)``: ``start_on_clock`` on the
    test's ``manual_clock``."""

    async def start(config: Config, **options: Any) -> TestClient[Any, Any]:
        return await start_on_clock(aiohttp_client, config, manual_clock, **options)

    return start


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], config: Config, registry: CollectorRegistry
) -> TestClient[Any, Any]:
    """The application on a real server, on the parametrised database."""
    return await aiohttp_client(create_app(config, registry=registry))  # type: ignore[no-any-return]
