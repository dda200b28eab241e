"""Fixtures of the paging tests: the Slack fake with the people's users, a real SMTP server on
loopback with its CA in a file, and ``outside``, which starts Firebreak against them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.clock import ManualClock
from tests.fakes.slack import SlackFake
from tests.fakes.smtp import FakeSmtpServer
from tests.oncall.paging_setup import ALICE, BOB, Outside, starter


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(users={ALICE, BOB}) as fake:
        yield fake


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(ca, users={"alerts": "correct horse"}) as server:
        yield server


@pytest.fixture
def outside(
    aiohttp_client: Any,
    make_config: Any,
    db_url: str,
    manual_clock: ManualClock,
    slack: SlackFake,
    smtp: FakeSmtpServer,
    ca: trustme.CA,
    tmp_path: Path,
) -> Outside:
    """Firebreak's outside world, and a way to start Firebreak on the test's database and
    ``manual_clock`` (which a module may fix to a moment of its own)."""
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    start = starter(aiohttp_client, make_config, db_url, manual_clock)
    return Outside(slack, smtp, str(ca_file), start)
