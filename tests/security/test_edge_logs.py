"""Log injection: a label or a group key with newlines in it cannot forge a log line. The console
format writes one line per record (control characters escaped, logfmt values quoted); the JSON
format one object per line with the value intact."""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import LogConfig
from receiver.obs import configure_logging
from tests.conftest import WEBHOOK_TOKEN, auth, eventually
from tests.e2e.conftest import wait_until
from tests.logs import unconfigure_logging
from tests.payloads import alert, webhook
from tests.security.edge import request, serving

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
    unconfigure_logging()


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


@pytest.mark.parametrize("form", ["console", "json"])
def test_other_libraries_records_are_written_in_the_same_format(
    form: str, logs_to_stderr: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    """What asyncio, the Slack SDK or a ``warnings.warn`` report goes through Firebreak's
    handlers too: one record per line in the configured format, never a raw line."""
    logs_to_stderr(form)
    capsys.readouterr()
    logging.getLogger("asyncio").error("Task exception: %s", FORGED_NAME)
    logging.getLogger("slack_sdk.web").warning(FORGED_GROUP)
    warnings.warn(f"deprecated {FORGED_NAME}", UserWarning, stacklevel=1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    if form == "json":
        records = [json.loads(line) for line in lines]
        assert [r["logger"] for r in records] == ["asyncio", "slack_sdk.web", "py.warnings"]
        assert records[0]["msg"] == f"Task exception: {FORGED_NAME}"
    else:
        assert all(RECORD.match(line) for line in lines), lines


def test_every_line_a_serving_process_writes_is_one_record(tmp_path: Path) -> None:
    """``firebreak serve`` with the console format on stderr, the access log and ``log.file``:
    a hostile webhook, a request for a path full of encoded control characters and a forged
    request id leave one record per line on stderr and one JSON object per line in the file."""
    log_file = tmp_path / "json.log"
    with serving(tmp_path, log=f'  access: true\n  file: "{log_file}"\n') as server:
        body = json.dumps(webhook(alert(FORGED_NAME), group_key=FORGED_GROUP)).encode()
        hostile = {**auth(WEBHOOK_TOKEN), "Content-Type": "application/json"}
        assert request(server, "POST", "/webhook", headers=hostile, body=body)[0] == 200
        forged = {"X-Request-ID": "x\u2028forged", "X-Forwarded-For": "\x1b[2J"}
        request(server, "GET", "/console/%0a%0d12:00:00.000%20ERROR%20x:%20forged", headers=forged)
        wait_until(
            lambda: "firing notice" in log_file.read_text(), timeout=10, what="the notice logged"
        )
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(r.get("alertnames") == FORGED_NAME for r in records)
    lines = server.log_path.read_text().splitlines()
    assert any('"POST /webhook" 200' in line for line in lines)  # the access log is on
    for line in lines:
        assert RECORD.match(line) or line.startswith("    | "), f"a forged line: {line!r}"
