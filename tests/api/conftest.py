"""Fixtures shared by the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.clock import ManualClock
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A real HTTP server that records what the webhook channel sends it."""
    async with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
async def escalating(
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    receiver: WebhookReceiver,
    manual_clock: ManualClock,
) -> Any:
    """The application on ``manual_clock``, paging ``receiver`` through two tiers 30s apart."""
    from tests.api.test_escalation import escalation_config

    config = make_config(db_url, escalation_config(receiver.url, group_window="0s"))
    app = create_app(
        config, clock=manual_clock, monotonic=manual_clock.monotonic, registry=CollectorRegistry()
    )
    client = await aiohttp_client(app)
    manual_clock.watch(app)
    return client
