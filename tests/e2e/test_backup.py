"""`firebreak db backup` under load and `firebreak db restore`: every webhook answered 200
before the backup began is in the restored database, exactly once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, FirebreakServer, http, wait_until
from tests.payloads import alert, webhook

pytestmark = pytest.mark.e2e


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backup_taken_under_load_restores_every_acknowledged_alert(
    firebreak_server: FirebreakServer, tmp_path: Path
) -> None:
    acknowledged: list[tuple[float, str]] = []  # (time the 200 came, alertname)
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set() and n < 5000:
            name = f"Load{n}"
            status, _ = http(
                "POST",
                firebreak_server.url + "/webhook",
                token=firebreak_server.webhook_token,
                body=webhook(alert(name), group_key=f"g{n}"),
            )
            if status == 200:
                acknowledged.append((time.monotonic(), name))
            n += 1

    sender = threading.Thread(target=load)
    sender.start()
    try:
        wait_until(lambda: len(acknowledged) > 20, timeout=30, what="the load getting going")
        began = time.monotonic()
        backup_path = tmp_path / "backup.db"
        taken = _cli(
            "db", "backup", "--config", str(firebreak_server.config_path), str(backup_path)
        )
        time.sleep(0.5)  # the load goes on after the backup too
    finally:
        stop.set()
        sender.join()
    assert taken.returncode == 0, taken.stderr
    assert "backup written to" in taken.stdout
    before = {name for at, name in acknowledged if at < began}
    assert len(before) > 20, "the load did not get going"

    # Restore into a fresh database through the same command a user would run.
    restored_db = tmp_path / "restored.db"
    config = firebreak_server.config_path.read_text().replace(
        str(firebreak_server.db_path), str(restored_db)
    )
    restored_config = tmp_path / "restored.yml"
    restored_config.write_text(config)
    done = _cli("db", "restore", "--config", str(restored_config), str(backup_path))
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(restored_db)
    try:
        rows = conn.execute("SELECT alertname, count(*) FROM alerts GROUP BY alertname").fetchall()
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    counts = dict(rows)
    assert check == "ok"
    missing = before - set(counts)
    assert not missing, f"{len(missing)} acknowledged alerts missing from the backup"
    assert all(c == 1 for c in counts.values())

    # A database that holds alerts is not overwritten by accident.
    again = _cli("db", "restore", "--config", str(restored_config), str(backup_path))
    assert again.returncode == 1
    assert "--force" in again.stderr
    forced = _cli("db", "restore", "--force", "--config", str(restored_config), str(backup_path))
    assert forced.returncode == 0, forced.stderr
