"""The store on the parametrised database (SQLite file and PostgreSQL), migrated; and job
runners on it, on the test's hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.config import Config
from receiver.job_handlers import Handler
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.store import Store, create_engine_for, migrate
from tests.clock import ManualClock


@pytest.fixture
async def store(config: Config) -> AsyncIterator[Store]:
    engine = create_engine_for(config.database)
    await migrate(engine)
    store = Store(engine)
    yield store
    await store.close()


@pytest.fixture
async def start(store: Store, manual_clock: ManualClock) -> AsyncIterator[Callable[..., JobRunner]]:
    """``start(handlers, horizons=None, **settings)``: a started runner of ``store``'s jobs
    that ``manual_clock`` watches (it polls only when told to); stopped after the test."""
    runners: list[JobRunner] = []

    def start(
        handlers: Mapping[str, Handler],
        horizons: Mapping[str, timedelta] | None = None,
        **settings: Any,
    ) -> JobRunner:
        runner = JobRunner(
            store,
            handlers,
            Metrics(CollectorRegistry()),
            manual_clock,
            RunnerSettings(owner="test", poll_interval=timedelta(hours=1), **settings),
            horizons=horizons,
        )
        runner.start()
        manual_clock.watch_runner(store, runner)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        await runner.stop()
