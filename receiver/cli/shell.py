"""The services the commands that work on the store use, built by ``build_services`` as the
serving process builds its own: the same channels, runbooks, allow-lists, redaction and
people. A shell runs no jobs: what its commands enqueue, the serving process picks up within
``jobs.poll_interval``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from receiver.actions import AlertActions
from receiver.audit import Audit
from receiver.automation.definitions import Runbooks, load_runbooks
from receiver.automation.service import AutomationService
from receiver.automation.steps import registered_actions
from receiver.breaker import BreakerRegistry
from receiver.channels import breaker_factory
from receiver.clock_skew import ClockSkew
from receiver.config import Config
from receiver.errors import FirebreakError, InvalidInput
from receiver.heartbeats import Heartbeats
from receiver.maintenance import Maintenance
from receiver.metrics import Metrics
from receiver.model import Notification, system_clock
from receiver.schedules import Schedules
from receiver.services import Lasting, alert_actions, build_services
from receiver.store import Store, open_store


@dataclass(frozen=True)
class Shell:
    """What a command run from a shell acts through."""

    store: Store
    actions: AlertActions
    automation: AutomationService
    audit: Audit
    schedules: Schedules
    heartbeats: Heartbeats
    maintenance: Maintenance


@asynccontextmanager
async def shell_services(config: Config, runbooks: Runbooks | None = None) -> AsyncIterator[Shell]:
    """The store and the services over it, closed when the command is done. ``runbooks``
    default to the files the configuration names (the alert commands need none, and so keep
    working while a runbook file is broken)."""
    async with open_store(config.database) as store, aiohttp.ClientSession() as session:
        metrics = Metrics(CollectorRegistry())
        lasting = Lasting(
            BreakerRegistry(breaker_factory(config)),
            ClockSkew(metrics),
            system_clock(),
            registered_actions(),
        )
        built = build_services(
            config,
            store,
            system_clock,
            metrics,
            session,
            load_runbooks(config) if runbooks is None else runbooks,
            lasting,
            submit=_no_ingest,
            wake=_serving_process_polls,
        )
        try:
            yield Shell(
                store,
                alert_actions(config, store, metrics, system_clock, _serving_process_polls),
                built.automation,
                Audit(store, system_clock),
                built.schedules,
                built.heartbeats,
                built.maintenance,
            )
        finally:
            await built.close()


def _serving_process_polls() -> None:
    """Nothing to wake here: the serving process finds the jobs at its next poll."""


async def _no_ingest(_notification: Notification) -> None:
    raise FirebreakError("only the serving process ingests alerts")


async def spelled(command: Coroutine[Any, Any, int], arguments: Mapping[str, str]) -> int:
    """``command``, a wrong value named as the command line spells it (``arguments``: the
    API's field names → the command line's)."""
    try:
        return await command
    except InvalidInput as exc:
        raise InvalidInput(arguments.get(exc.field, exc.field), exc.message) from None


def shell_command(where: str, command: Coroutine[Any, Any, int]) -> int:
    """Run ``command``; an error of ours is one line naming the command, and exit status 1."""
    try:
        return asyncio.run(command)
    except FirebreakError as exc:
        print(f"firebreak {where}: {exc}", file=sys.stderr)
        return 1
