"""A crash or a shutdown between a Slack post and its record: the process is SIGKILLed, or
stopped cleanly (SIGTERM) with the post still in flight after Slack recorded it, while Slack
holds the answer to chat.postMessage; the process that runs the job next finds the message by
the idempotency key in its metadata and updates it instead of posting a second one."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WEBHOOK_TOKEN
from tests.e2e.conftest import (
    ROOT,
    _start,
    _stop,
    free_port,
    http,
    serve_command,
    write_firebreak_config,
)
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import BOT_TOKEN, SIGNING_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(token=BOT_TOKEN) as fake:
        yield fake


async def until(check: Callable[[], Any], what: str, within: float = 20.0) -> None:
    """Poll without blocking the loop the Slack fake answers on."""
    deadline = time.monotonic() + within
    while True:
        try:
            if await asyncio.to_thread(check):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not done after {within:g} s")
        await asyncio.sleep(0.1)


def _config(
    tmp_path: Path, slack: SlackFake, port: int, jobs: str, chat: str = "{type: slack}"
) -> Path:
    return write_firebreak_config(
        tmp_path / "firebreak.yml",
        f"sqlite+aiosqlite:///{tmp_path / 'firebreak.db'}",
        port,
        f"""
slack:
  bot_token: "{BOT_TOKEN}"
  signing_secret: "{SIGNING_SECRET}"
  api_url: "{slack.api_url}"
  default_channel: {CHANNEL}
channels:
  chat: {chat}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [chat]}}]
{jobs}
""",
    )


def _recorded(db_path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return conn.execute("SELECT idempotency_key, reference FROM notifications").fetchall()
    finally:
        conn.close()


def _found_again_not_posted_twice(slack: SlackFake, recorded: list[tuple[Any, ...]]) -> None:
    """One message in the channel, carrying the notice's key and recorded as its message: the
    run after the restart looked for it in the history and updated it rather than posting."""
    [message] = slack.top_messages(CHANNEL)
    [(key, reference)] = recorded
    assert reference == f"{CHANNEL}:{message.ts}"
    assert message.metadata is not None
    assert message.metadata["event_payload"]["idempotency_key"] == key
    methods = [c.method for c in slack.called() if c.method != "auth.test"]
    assert methods == ["chat.postMessage", "conversations.history", "chat.update"]


async def test_crash_after_post_before_record_updates_instead_of_posting_again(
    slack: SlackFake, tmp_path: Path
) -> None:
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    jobs = "jobs: {lease: 2s, poll_interval: 200ms, backoff_initial: 100ms, backoff_max: 500ms}"
    config_path = _config(tmp_path, slack, port, jobs)
    url, cmd = f"http://127.0.0.1:{port}", serve_command(config_path)

    async def start(log: str) -> subprocess.Popen[bytes]:
        proc = _start(cmd, tmp_path / log, cwd=ROOT)
        await until(lambda: http("GET", url + "/health", timeout=1)[0] == 200, "firebreak up")
        return proc

    def recorded() -> list[tuple[Any, ...]]:
        return _recorded(db_path)

    slack.hold("chat.postMessage")
    first = await start("first.log")
    try:
        payload = webhook(alert("Crash"))
        status, _ = await asyncio.to_thread(
            http, "POST", url + "/webhook", body=payload, token=WEBHOOK_TOKEN
        )
        assert status == 200
        await until(lambda: len(slack.top_messages(CHANNEL)) == 1, "the alert posted")
        first.send_signal(signal.SIGKILL)  # posted, not yet recorded
        await asyncio.to_thread(first.wait, 10)
    finally:
        _stop(first)
    slack.released.set()
    assert recorded() == []

    second = await start("second.log")
    try:
        await until(lambda: len(recorded()) == 1, "the job taken over and recorded")
        _found_again_not_posted_twice(slack, recorded())
    finally:
        _stop(second)


async def test_a_shutdown_with_the_post_in_flight_does_not_post_it_twice(
    slack: SlackFake, tmp_path: Path
) -> None:
    """SIGTERM while Slack has taken chat.postMessage and not answered: the runner waits out
    ``shutdown_grace``, cuts the job off and hands it back. The lease is long, so the restart
    cannot tell a take-over from the time: only what the runner recorded says to look."""
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    jobs = "jobs: {lease: 60s, poll_interval: 200ms}\nshutdown_grace: 1s"
    config_path = _config(tmp_path, slack, port, jobs)
    url, cmd = f"http://127.0.0.1:{port}", serve_command(config_path)

    async def start(log: str) -> subprocess.Popen[bytes]:
        proc = _start(cmd, tmp_path / log, cwd=ROOT)
        await until(lambda: http("GET", url + "/health", timeout=1)[0] == 200, "firebreak up")
        return proc

    slack.hold("chat.postMessage")
    first = await start("first.log")
    try:
        payload = webhook(alert("Shutdown"))
        status, _ = await asyncio.to_thread(
            http, "POST", url + "/webhook", body=payload, token=WEBHOOK_TOKEN
        )
        assert status == 200
        await until(lambda: len(slack.top_messages(CHANNEL)) == 1, "the alert posted")
        first.send_signal(signal.SIGTERM)  # posted, the answer held: cut off at shutdown
        assert await asyncio.to_thread(first.wait, 20) == 0
    finally:
        _stop(first)
    assert b"handed back" in (tmp_path / "first.log").read_bytes()
    assert _recorded(db_path) == []
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        handed_back = conn.execute("SELECT state, outcome FROM jobs WHERE kind = 'notify'")
        assert handed_back.fetchall() == [("pending", "in_doubt")]
    finally:
        conn.close()
    slack.released.set()

    second = await start("second.log")
    try:
        await until(lambda: len(_recorded(db_path)) == 1, "the job run again and recorded")
        _found_again_not_posted_twice(slack, _recorded(db_path))
    finally:
        _stop(second)


async def test_a_lost_answer_that_opens_the_breaker_does_not_post_twice(
    slack: SlackFake, tmp_path: Path
) -> None:
    """Slack posts the message and the connection drops before the answer: the failure opens
    the breaker, and the job waits behind it without spending an attempt. The probe after the
    cool-down finds the message and updates it."""
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    chat = "{type: slack, breaker: {failure_threshold: 1, open_cooldown: 1s}}"
    config_path = _config(tmp_path, slack, port, "jobs: {lease: 60s, poll_interval: 200ms}", chat)
    url = f"http://127.0.0.1:{port}"
    slack.drop_answer("chat.postMessage")
    proc = _start(serve_command(config_path), tmp_path / "firebreak.log", cwd=ROOT)
    try:
        await until(lambda: http("GET", url + "/health", timeout=1)[0] == 200, "firebreak up")
        payload = webhook(alert("Dropped"))
        status, _ = await asyncio.to_thread(
            http, "POST", url + "/webhook", body=payload, token=WEBHOOK_TOKEN
        )
        assert status == 200
        await until(lambda: len(_recorded(db_path)) == 1, "the notice recorded")
        [message] = slack.top_messages(CHANNEL)
        [(_key, reference)] = _recorded(db_path)
        assert reference == f"{CHANNEL}:{message.ts}"
        assert [c.answered for c in slack.calls if c.method == "chat.postMessage"] == [0]
        methods = [c.method for c in slack.called() if c.method != "auth.test"]
        assert methods == ["conversations.history", "chat.update"]
    finally:
        _stop(proc)
