"""The ``firebreak`` command: check-config exit codes and messages, db upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from receiver.cli import main
from tests.conftest import config_text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "firebreak.yml"
    path.write_text(text)
    return path


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "firebreak.example.yml"]) == 0
    assert "SUCCESS" in capsys.readouterr().out


def test_check_config_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "listen: nowhere\nwebhook:\n  max_body_bytes: -1\n  autth: {}\n")
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err
    assert f"{path}: listen:" in err
    assert f"{path}: webhook.max_body_bytes:" in err
    assert f"{path}: webhook.autth: unknown key" in err


def test_check_config_never_prints_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-token-value"
    path = write(tmp_path, f'api:\n  tokens:\n    - {{token: "{secret}", role: root}}\n')
    assert main(["check-config", "--config", str(path)]) == 1
    out = capsys.readouterr()
    assert "api.tokens[0].role" in out.err
    assert secret not in out.err + out.out


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nope.yml")]) == 1
    assert "nope.yml" in capsys.readouterr().err


def test_check_config_warns_about_open_doors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "webhook.auth: no credentials configured" in out
    assert "api.tokens: no tokens configured" in out


def test_db_upgrade_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "fb.db"
    path = write(tmp_path, config_text(f"sqlite+aiosqlite:///{db}"))
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    assert "schema revision: 0001" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"alerts", "alert_events", "webhooks", "alembic_version"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert main(["db", "current", "--config", str(path)]) == 0
    assert "0001" in capsys.readouterr().out
