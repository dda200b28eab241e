"""Log injection: a label or a group key with newlines in it cannot forge a log line. The console
format writes one line per record (control characters escaped, logfmt values quoted); the JSON
format one object per line with the value intact."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import LogConfig
from receiver.obs import configure_logging
from tests.conftest import WEBHOOK_TOKEN, auth, eventually
from tests.payloads import alert, webhook

FORGED_NAME = "DiskFull\n level=error msg=forged"
FORGED_GROUP = '{}:{alertname="DiskFull"}\r\n10:00:00.000 ERROR   firebreak.api: forged\u2028x'
# The start of every record in the console format; a traceback's lines start with "    |".
RECORD = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")

Configure = Callable[[str], None]


@pytest.fixture
def logs_to_stderr() -> Iterator[Configure]:
    """Firebreak's own logging set up as ``serve`` does it, writing to the captured stderr."""

    def configure(form: str) -> None:
        configure_logging(LogConfig(level="debug", format=form))  # type: ignore[arg-type]

    yield configure
    for name in ("firebreak", "aiohttp"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


async def _fire_hostile(client: Any) -> None:
    body = webhook(alert(FORGED_NAME), group_key=FORGED_GROUP, truncated=2)
    resp = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200, await resp.text()


async def test_a_label_with_newlines_is_one_console_line(
    aiohttp_client: Any,
    sqlite_url: str,
    make_config: Any,
    logs_to_stderr: Configure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs_to_stderr("console")
    client = await aiohttp_client(create_app(make_config(sqlite_url), registry=CollectorRegistry()))
    await _fire_hostile(client)
    seen: list[str] = []

    def notice_logged() -> bool:
        seen.append(capsys.readouterr().err)
        return "firing notice" in "".join(seen)

    await eventually(notice_logged, what="the log channel's line")
    lines = "".join(seen).splitlines()
    assert lines
    for line in lines:
        assert RECORD.match(line) or line.startswith("    | "), f"a forged line: {line!r}"
    assert not any("msg=forged" in line and not RECORD.match(line) for line in lines)
    [notice] = [line for line in lines if "firing notice" in line]
    assert 'alertnames="DiskFull\\n level=error msg=forged"' in notice
    [truncated] = [line for line in lines if "left 2 alerts out" in line]
    assert (
        'group_key="{}:{alertname=\\"DiskFull\\"}\\r\\n10:00:00.000 ERROR   firebreak.api: '
        'forged\\u2028x"'
    ) in truncated


async def test_a_label_with_newlines_is_one_json_object_with_the_value_intact(
    aiohttp_client: Any,
    sqlite_url: str,
    make_config: Any,
    logs_to_stderr: Configure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs_to_stderr("json")
    client = await aiohttp_client(create_app(make_config(sqlite_url), registry=CollectorRegistry()))
    await _fire_hostile(client)
    seen: list[str] = []

    def notice_logged() -> bool:
        seen.append(capsys.readouterr().err)
        return "firing notice" in "".join(seen)

    await eventually(notice_logged, what="the log channel's line")
    records = [json.loads(line) for line in "".join(seen).splitlines()]  # every line is JSON
    [notice] = [r for r in records if r["msg"].startswith("firing notice")]
    assert notice["alertnames"] == FORGED_NAME
    [truncated] = [r for r in records if "left 2 alerts out" in r["msg"]]
    assert truncated["group_key"] == FORGED_GROUP
