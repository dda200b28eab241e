"""docs/getting-started.md, done exactly as it says, in a real browser: serve the example
configuration, run the page's ``curl`` (only the port changed), open the console URL the server
printed, log in with the token the page names, find the alert and acknowledge it.

When the page changes, this test follows it: the command, the token and the alert's name are
read from the page, not written here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import needs_chromium
from tests.e2e.conftest import ROOT, _stop, free_port, http, wait_until

pytestmark = needs_chromium

PAGE = ROOT / "docs" / "getting-started.md"
DEFAULT_ADDRESS = "127.0.0.1:9095"  # what the page's commands use, as the example listens


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def _webhook_command(text: str) -> str:
    (command,) = [b for b in _shell_blocks(text) if "curl" in b and "/webhook" in b]
    return command


def _login_token(text: str) -> str:
    found = re.search(r"Log in with the token\s+`([^`]+)`", text)
    assert found is not None, "the page no longer says which token logs in"
    return found.group(1)


def _posted_alertnames(command: str) -> list[str]:
    found = re.search(r"-d '(.*)'", command, flags=re.S)
    assert found is not None, "the page's curl no longer sends its body with -d '...'"
    body = json.loads(found.group(1))
    return [a["labels"]["alertname"] for a in body["alerts"]]


def _run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``firebreak serve`` on a copy of the example configuration, on a free port: the console
    URL it printed, and its log."""
    shutil.copy(ROOT / "firebreak.example.yml", tmp_path / "firebreak.example.yml")
    (tmp_path / "runbooks").symlink_to(ROOT / "runbooks")
    port = free_port()
    log = tmp_path / "serve.log"
    # The example's own token values: none of the FIREBREAK_* variables it reads is set.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "receiver.cli",
                "serve",
                "--config",
                "firebreak.example.yml",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            cwd=tmp_path,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        printed = wait_until(
            lambda: re.search(r"console: (\S+) ", log.read_text()),
            timeout=30,
            what="firebreak serve to print the console URL",
            procs=(proc,),
        )
        yield printed.group(1), log
    finally:
        _stop(proc)


async def test_the_getting_started_page_leads_to_an_acknowledged_alert(
    served: tuple[str, Path], browser: Any
) -> None:
    text = PAGE.read_text()
    console_url, log = served
    base = console_url.rstrip("/")
    address = base.split("://", 1)[1]

    # Step 2: the page's curl, with only the port changed.
    command = _webhook_command(text)
    assert DEFAULT_ADDRESS in command
    posted = await asyncio.to_thread(_run, command.replace(DEFAULT_ADDRESS, address))
    assert posted.returncode == 0, posted.stderr
    assert posted.stdout.strip() in text  # it answers what the page says it answers
    (alertname,) = _posted_alertnames(command)
    await asyncio.to_thread(
        wait_until,
        lambda: f"alertnames={alertname}" in log.read_text(),
        timeout=15,
        what="the notice the page says the log shows",
    )

    # Step 3: the console URL the server printed, the token the page names.
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(console_url)
    await page.fill("input[name=token]", _login_token(text))
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    row = page.locator("tr[data-alert]", has_text=alertname)
    assert "firing" in await row.inner_text()
    await row.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_load_state()
    row = page.locator("tr[data-alert]", has_text=alertname)
    await row.get_by_text("acknowledged").wait_for()
    shown = await row.inner_text()
    assert "admin" in shown  # the owner the page says the row shows
    assert await row.get_by_role("button", name="Acknowledge").count() == 0
    assert errors == []

    # And the store agrees: acknowledged by the token's holder.
    query = f"{base}/api/v1/alerts?match[]=alertname%3D%22{alertname}%22"
    status, body = await asyncio.to_thread(http, "GET", query, token=_login_token(text))
    assert status == 200
    (stored,) = json.loads(body)["alerts"]
    assert stored["acknowledged_by"] == "admin"
