"""docs/getting-started.md, done exactly as it says, in a real browser: ``make run`` on the
example configuration (on a free port, through the ``FIREBREAK_LISTEN`` the page offers when
9095 is taken), what the page says it prints, the page's ``curl`` (only the port changed) and the
log line it says follows, the console URL the server printed, the token the page names, the
alert acknowledged, its history, and the page's ``alerts list``.

When the page changes, this test follows it: the commands, the output, the token and the
alert's name are read from the page, not written here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import ON_THE_BROWSERS_LOOP
from tests.e2e.conftest import ROOT, STOP_TIMEOUT, free_port, http, wait_until

pytestmark = ON_THE_BROWSERS_LOOP

PAGE = ROOT / "docs" / "getting-started.md"
DEFAULT_ADDRESS = "127.0.0.1:9095"  # what the page's commands use, as the example listens
VENV = Path(sys.executable).parent.parent  # the environment `make setup` built (.venv)


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def _shell_block(text: str, *words: str) -> str:
    """The page's one ``sh`` block holding all of ``words``."""
    (block,) = [b for b in _shell_blocks(text) if all(word in b for word in words)]
    return block


def _webhook_command(text: str) -> str:
    return _shell_block(text, "curl", "/webhook")


def _output_after(text: str, said: str) -> list[str]:
    """The lines of the plain code block that follows ``said`` on the page, without the
    ``...`` that stands for lines left out."""
    found = re.search(re.escape(said) + r".*?```\n(.*?)```", text, flags=re.S)
    assert found is not None, f"the page no longer shows what follows {said!r}"
    return [line for line in found.group(1).splitlines() if line.strip() != "..."]


def _shown_in(log: str, shown: str) -> bool:
    """Whether a line the page shows is in the log: a log line holds its parts in order (the
    page leaves out the time at the start and fields where it writes ``...``)."""
    parts = [part for part in re.split(r"\s*(?:^|\s)\.\.\.(?:\s|$)\s*", shown) if part]
    for line in log.splitlines():
        at = 0
        for part in parts:
            at = line.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False


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


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to make and the server it started, then SIGKILL if they are still there."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The page's ``make run`` on a copy of the example configuration, on a free port through
    ``FIREBREAK_LISTEN``: the console URL the server printed, and what ``make run`` printed.
    Only ``make setup`` is left out (``-o setup``): the suite runs in the environment it built."""
    page = PAGE.read_text()
    assert _shell_blocks(page)[0].strip() == "make run", "the page no longer starts with make run"
    assert f"FIREBREAK_LISTEN={DEFAULT_ADDRESS.rsplit(':', 1)[0]}:" in page
    shutil.copy(ROOT / "firebreak.example.yml", tmp_path / "firebreak.example.yml")
    (tmp_path / "runbooks").symlink_to(ROOT / "runbooks")
    port = free_port()
    log = tmp_path / "make-run.log"
    # The example's own token values: none of the FIREBREAK_* variables it reads is set.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBREAK_", "MAKE"))}
    env |= {"PYTHONUNBUFFERED": "1", "FIREBREAK_LISTEN": f"127.0.0.1:{port}"}
    make = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", "setup", "run"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*make, f"VENV={VENV}"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and the server it starts are stopped together
        )
    try:
        printed = wait_until(
            lambda: re.search(r"console: (\S+) ", log.read_text()),
            timeout=30,
            what="make run to print the console URL",
            procs=(proc,),
        )
        yield printed.group(1), log
    finally:
        _stop_group(proc)


async def test_the_getting_started_page_leads_to_an_acknowledged_alert(
    served: tuple[str, Path], browser: Any, tmp_path: Path
) -> None:
    text = PAGE.read_text()
    console_url, log = served
    base = console_url.rstrip("/")
    address = base.split("://", 1)[1]

    # Step 1: what make run prints, as the page shows it (only the port changed), and the token
    # the server says logs in is the one the page says to log in with.
    printed = log.read_text()
    for shown in _output_after(text, "Once it listens it says where"):
        assert _shown_in(printed, shown.replace(DEFAULT_ADDRESS, address)), shown
    (console_line,) = [line for line in printed.splitlines() if "console: " in line]
    assert console_line.endswith(_login_token(text) + _after_token(console_line))

    # Step 2: the page's curl, with only the port changed, and the log line the page shows.
    command = _webhook_command(text)
    assert DEFAULT_ADDRESS in command
    posted = await asyncio.to_thread(_run, command.replace(DEFAULT_ADDRESS, address))
    assert posted.returncode == 0, posted.stderr
    assert posted.stdout.strip() in text  # it answers what the page says it answers
    (alertname,) = _posted_alertnames(command)
    (notice,) = _output_after(text, "the server's log\nshows the notice")
    await asyncio.to_thread(
        wait_until,
        lambda: _shown_in(log.read_text(), notice),
        timeout=15,
        what=f"the notice the page says the log shows: {notice}",
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
    assert "admin" not in await row.inner_text()
    await row.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_load_state()
    row = page.locator("tr[data-alert]", has_text=alertname)
    await row.get_by_text("acknowledged").wait_for()
    shown = await row.inner_text()
    assert "firing" in shown and "admin" in shown  # the owner the page says the row shows
    assert await row.get_by_role("button", name="Acknowledge").count() == 0

    # Its page, through the alert's name: the history the page lists, and the notice.
    said = re.search(r"shows the history — ([^—]*?) —", " ".join(text.split()))
    assert said is not None, "the page no longer says what the alert's history shows"
    await row.get_by_role("link", name=alertname).click()
    await page.wait_for_url(re.compile(re.escape(base) + r"/console/alerts/\d+$"))
    history = page.locator("table.events tbody tr")
    kinds = [await history.nth(i).locator("td").nth(1).inner_text() for i in range(3)]
    notes = [await history.nth(i).inner_text() for i in range(3)]
    assert await history.count() == 3
    assert kinds == ["fired", "escalated", "acknowledged"]
    assert [entry.strip() for entry in said.group(1).split(",")] == [
        "fired",
        "escalated to the default policy's tier 1",
        "acknowledged by admin",
    ]
    assert "default tier 1" in notes[1] and "admin" in notes[2]
    sent = page.locator("h2:has-text('Notifications sent') + table tbody tr td")
    assert (await sent.nth(1).inner_text(), await sent.nth(4).inner_text()) == ("log", "1")
    assert errors == []

    # And the store agrees: acknowledged by the token's holder, as the page's shell command shows.
    query = f"{base}/api/v1/alerts?match[]=alertname%3D%22{alertname}%22"
    status, body = await asyncio.to_thread(http, "GET", query, token=_login_token(text))
    assert status == 200
    (stored,) = json.loads(body)["alerts"]
    assert stored["acknowledged_by"] == "admin"
    listing = _shell_block(text, "alerts list").strip()
    listed = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", f"cd {tmp_path} && {listing.replace('.venv/', f'{VENV}/')}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    shown = re.search(re.escape(listing) + r"\n```\n\n```\n(.*?)```", text, re.S)
    assert shown is not None, "the page no longer shows what alerts list prints"
    assert listed.stdout == shown.group(1)  # the one alert, acknowledged, as the page shows it


def _after_token(line: str) -> str:
    """What the console line says after the token's value (the warning about the example)."""
    return line[line.index(" — the example's token") :]
