"""``firebreak maintenance ...`` from a shell: a window made, listed and ended on the store the
server uses, audited; a bad argument named as the command line spells it, changing nothing."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from receiver.cli import main
from tests.conftest import config_text

FILE_WINDOW = """
maintenance:
  - name: sunday-patching
    match: 'env="staging"'
    reason: weekly patching
    owner: platform
    cron: "0 2 * * 0"
    duration: 2h
    time_zone: Europe/Berlin
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "firebreak.yml"
    path.write_text(
        config_text(f"sqlite+aiosqlite:///{tmp_path}/f.db", textwrap.dedent(FILE_WINDOW))
    )
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    return path


def test_a_window_is_made_listed_and_ended_from_a_shell(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    made = main(
        [
            "maintenance", "create", "deploy-7", "--match", 'service="db"',
            "--match", "env=prod", "--reason", "deploy 7", "--for", "90m",
            "--config", str(config_file), "--json",
        ]
    )  # fmt: skip
    assert made == 0
    window = json.loads(capsys.readouterr().out)
    assert window["name"] == "deploy-7" and window["open"] is True
    assert window["matchers"] == ['service="db"', "env=prod"]
    assert window["created_by"].startswith("cli:")
    assert main(["maintenance", "list", "--config", str(config_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sunday-patching: opens ")
    assert "(0 2 * * 0, Europe/Berlin)" in lines[0] and lines[0].endswith(
        "(owner platform, config)"
    )
    assert lines[1].startswith("deploy-7: open until ")
    assert main(["maintenance", "end", "deploy-7", "--config", str(config_file)]) == 0
    assert "ended maintenance window deploy-7" in capsys.readouterr().out
    assert main(["maintenance", "end", "sunday-patching", "--config", str(config_file)]) == 1
    assert "defined in the configuration file" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "f.db") as db:
        rows = db.execute("SELECT action, outcome FROM audit_log ORDER BY id").fetchall()
    assert rows == [
        ("maintenance_create", "ok"),
        ("maintenance_end", "ok"),
        ("maintenance_end", "rejected"),
    ]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["bad name", "--match", "a=b", "--reason", "r", "--for", "1h"], "NAME"),
        (["w", "--match", 'a=~"("', "--reason", "r", "--for", "1h"], "--match"),
        (["w", "--match", "a=b", "--reason", "r", "--for", "1x"], "--for"),
        (["w", "--match", "a=b", "--reason", "r", "--until", "noon"], "--until"),
        (["w", "--match", "a=b", "--reason", "r", "--cron", "* *", "--for", "1h"], "--cron"),
        (["w", "--match", "a=b", "--reason", "r", "--rrule", "FREQ=DAILY", "--for", "1h",
          "--time-zone", "Nowhere/Land"], "--time-zone"),
        # No alertmanager section: no Alertmanager to silence in.
        (["w", "--match", "a=b", "--reason", "r", "--for", "1h", "--silence"], "--silence"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_named_and_nothing_is_made(
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    named: str,
) -> None:
    capsys.readouterr()
    assert main(["maintenance", "create", *args, "--config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"firebreak maintenance create: {named}: "), err
    with sqlite3.connect(tmp_path / "f.db") as db:
        assert db.execute("SELECT count(*) FROM maintenance_windows").fetchone() == (0,)
