"""Fixtures shared by the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A real HTTP server that records what the webhook channel sends it."""
    async with WebhookReceiver() as fake:
        yield fake
