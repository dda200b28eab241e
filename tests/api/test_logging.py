"""Every log line of a request carries its request id; ``log.file`` writes rotated JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import LogConfig
from receiver.obs import configure_logging
from tests.conftest import WEBHOOK_TOKEN, auth
from tests.logs import unconfigure_logging
from tests.payloads import alert, webhook


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "firebreak.log"
    configure_logging(LogConfig(level="debug", format="json", file=str(path), file_max_bytes=4096))
    yield path
    unconfigure_logging()


def lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for file in sorted(path.parent.glob(path.name + "*")):
        found.extend(json.loads(line) for line in file.read_text().splitlines())
    return found


async def test_request_lines_carry_the_request_id(
    aiohttp_client: Any, make_config: Any, sqlite_url: str, log_file: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(sqlite_url), registry=CollectorRegistry()))
    resp = await client.post(
        "/webhook",
        json=webhook(alert("A"), truncated=3),
        headers={**auth(WEBHOOK_TOKEN), "X-Request-ID": "req-42"},
    )
    assert resp.status == 200
    (warning,) = [line for line in lines(log_file) if "left 3 alerts out" in line["msg"]]
    assert warning["request_id"] == "req-42"
    assert warning["level"] == "warning"
    assert warning["group_key"]


def test_log_file_rotates(log_file: Path) -> None:
    logger = logging.getLogger("firebreak.test")
    for i in range(200):
        logger.info("line %d with some padding to fill the file quickly", i)
    rotated = sorted(log_file.parent.glob("firebreak.log*"))
    assert len(rotated) > 1
    assert all(line["logger"] == "firebreak.test" for line in lines(log_file))


async def test_refused_webhooks_are_logged_with_the_reason(
    aiohttp_client: Any, make_config: Any, sqlite_url: str, log_file: Path
) -> None:
    client = await aiohttp_client(create_app(make_config(sqlite_url), registry=CollectorRegistry()))
    resp = await client.post("/webhook", json=webhook(alert()), headers=auth("wrong"))
    assert resp.status == 401
    bad = {**webhook(alert()), "version": "3"}
    resp = await client.post("/webhook", json=bad, headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 400
    refused = [line for line in lines(log_file) if line["msg"].startswith("webhook refused")]
    assert [line["level"] for line in refused] == ["warning", "warning"]
    assert "401" in refused[0]["msg"] and "credentials" in refused[0]["msg"]
    assert "400" in refused[1]["msg"] and "version" in refused[1]["msg"]
