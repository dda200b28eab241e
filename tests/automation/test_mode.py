"""Which mode automation is in, said where a person starting Firebreak looks: the start-up log
of the serving process (and again when a reload changes it) and ``check-config``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config
from tests.conftest import ADMIN_TOKEN, auth, config_text

RESTART = """
id: restart
title: Restart
match: 'alertname="HighErrorRate"'
steps:
  - {id: restart, http: {method: POST, url: "http://127.0.0.1:1/restart"}}
"""
BY_HAND = """
id: by-hand
title: Only by hand
automatic: false
match: 'alertname="HighErrorRate"'
steps:
  - {id: hold, wait: {duration: 1s}}
"""
NO_MATCH = """
id: no-match
title: No match, so never by itself
steps:
  - {id: hold, wait: {duration: 1s}}
"""
DRY_RUN_LINE = (
    "automation: dry run — runbooks started by alerts render and record what they would do, "
    "and change nothing (1 runbook starts by itself: restart); set automation.mode: live to act"
)
LIVE_LINE = "automation: live — 1 runbook acts by itself: restart"


def write_config(tmp_path: Path, automation: str) -> Path:
    books = tmp_path / "runbooks"
    books.mkdir(exist_ok=True)
    for name, text in (("restart", RESTART), ("by-hand", BY_HAND), ("no-match", NO_MATCH)):
        (books / f"{name}.yml").write_text(text)
    path = tmp_path / "firebreak.yml"
    extra = f'automation: {{runbooks: "runbooks/*.yml"{automation}}}\n'
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", extra))
    return path


@pytest.mark.parametrize(
    ("automation", "line"),
    [
        ("", DRY_RUN_LINE),
        (", mode: dry_run", DRY_RUN_LINE),
        (", mode: live", LIVE_LINE),
        (
            ", mode: live, automatic: false",
            "automation: manual runs only — automation.automatic is false, so no runbook "
            "starts by itself",
        ),
    ],
    ids=["default", "dry_run", "live", "manual"],
)
def test_check_config_says_which_mode_automation_is_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], automation: str, line: str
) -> None:
    path = write_config(tmp_path, automation)
    assert main(["check-config", "--config", str(path)]) == 0
    assert f"  runbooks: 3\n  {line}\n" in capsys.readouterr().out


def test_check_config_of_the_example_says_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "firebreak.example.yml"]) == 0
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if x.startswith("  automation: ")]
    assert line.startswith("  automation: dry run — runbooks started by alerts render and record")
    assert line.endswith("; set automation.mode: live to act")
    # The shipped runbooks that start by themselves, named (the demo's among them).
    armed = re.search(r"\(\d+ runbooks? (?:starts by itself|start by themselves): ([^)]+)\)", line)
    assert armed is not None and "demo-restart" in armed.group(1).split(", ")


def test_live_with_nothing_armed_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, ", mode: live")
    (tmp_path / "runbooks" / "restart.yml").unlink()
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "  automation: live — no runbook starts by itself (none has a match and automatic)\n"
        in (out)
    )


async def test_serve_logs_the_mode_at_start_and_when_a_reload_changes_it(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="firebreak.automation")
    path = write_config(tmp_path, "")
    app = create_app(load_config(path), registry=CollectorRegistry(), config_path=str(path))
    client = await aiohttp_client(app)

    def said() -> list[tuple[str, str, int]]:
        return [
            (r.getMessage(), r.__dict__["mode"], r.__dict__["armed"])
            for r in caplog.records
            if r.name == "firebreak.automation" and r.getMessage().startswith("automation: ")
        ]

    assert said() == [(DRY_RUN_LINE, "dry_run", 1)]
    headers = auth(ADMIN_TOKEN)
    assert (await client.post("/-/reload", headers=headers)).status == 200
    assert said() == [(DRY_RUN_LINE, "dry_run", 1)]  # nothing changed: nothing more said
    write_config(tmp_path, ", mode: live")
    assert (await client.post("/-/reload", headers=headers)).status == 200
    assert said() == [(DRY_RUN_LINE, "dry_run", 1), (LIVE_LINE, "live", 1)]
