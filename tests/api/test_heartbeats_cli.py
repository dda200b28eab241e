"""``firebreak heartbeat NAME`` against a running Firebreak (token from the environment or a
file, never the command line; exit status for cron), and ``firebreak heartbeats`` listing
them from the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import main
from receiver.config import load_config
from tests.api.test_heartbeats import BACKUP_TOKEN, HEARTBEATS_CONFIG, heartbeats, started
from tests.clock import ManualClock
from tests.conftest import config_text
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def config_file(tmp_path: Path, db_url: str, receiver: WebhookReceiver) -> Path:
    text = HEARTBEATS_CONFIG.format(
        url=receiver.url, backup=BACKUP_TOKEN, nightly="nightly-token-0123456789abcdef"
    )
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(db_url, text))
    return path


@pytest.fixture
async def client(aiohttp_client: Any, config_file: Path, manual_clock: ManualClock) -> Any:
    return await started(aiohttp_client, load_config(config_file), manual_clock)


def url(client: Any) -> str:
    return str(client.make_url("")).rstrip("/")


async def firebreak(*argv: str) -> int:
    """The command in a thread of its own: the server answers on this loop meanwhile."""
    return await asyncio.to_thread(main, list(argv))


async def test_a_beat_from_the_environment_is_recorded_with_its_message(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIREBREAK_HEARTBEAT_TOKEN", BACKUP_TOKEN)
    status = await firebreak(
        "heartbeat", "backup", "--url", url(client), "--message", "42 GiB <b>ok</b>"
    )
    assert status == 0
    assert capsys.readouterr().out.startswith("backup: ok, next due by ")
    listed = await heartbeats(client)
    assert listed["backup"]["beats"] == 1
    assert listed["backup"]["last_message"] == "42 GiB <b>ok</b>"


async def test_a_beat_with_a_token_file_needs_no_configuration(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIREBREAK_HEARTBEAT_TOKEN", raising=False)
    monkeypatch.setenv("FIREBREAK_CONFIG", str(tmp_path / "nowhere.yml"))
    token = tmp_path / "backup.token"
    token.write_text(BACKUP_TOKEN + "\n")
    status = await firebreak(
        "heartbeat", "backup", "--url", url(client), "--token-file", str(token), "--quiet"
    )
    assert status == 0
    assert (await heartbeats(client))["backup"]["beats"] == 1


@pytest.mark.parametrize(
    ("token", "name", "status", "said"),
    [
        ("wrong-token-0123456789abcdef", "backup", 1, "HTTP 401: the heartbeat's token"),
        (BACKUP_TOKEN, "unknown", 1, "HTTP 404: no heartbeat of that name"),
        (BACKUP_TOKEN, "../api/v1/alerts", 1, "HTTP 404"),
        (None, "backup", 2, "no token: set $FIREBREAK_HEARTBEAT_TOKEN or give --token-file"),
        ("two words", "backup", 2, "a token is one line without spaces"),
    ],
)
async def test_a_refused_beat_exits_non_zero_saying_why_and_changes_nothing(
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
    name: str,
    status: int,
    said: str,
) -> None:
    if token is None:
        monkeypatch.delenv("FIREBREAK_HEARTBEAT_TOKEN", raising=False)
    else:
        monkeypatch.setenv("FIREBREAK_HEARTBEAT_TOKEN", token)
    assert await firebreak("heartbeat", name, "--url", url(client)) == status
    assert said in capsys.readouterr().err
    assert (await heartbeats(client))["backup"]["beats"] == 0


async def test_an_unreachable_firebreak_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIREBREAK_HEARTBEAT_TOKEN", BACKUP_TOKEN)
    status = await firebreak(
        "heartbeat", "backup", "--url", "http://127.0.0.1:9", "--timeout", "2", "--attempts", "1"
    )
    assert status == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize("attempts", ["0", "11", "many"])
def test_attempts_are_bounded(attempts: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["heartbeat", "backup", "--attempts", attempts])
    assert exited.value.code == 2
    assert "--attempts" in capsys.readouterr().err


def test_the_token_is_not_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["heartbeat", "backup", "--token", BACKUP_TOKEN])
    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


async def test_heartbeats_lists_them_from_the_store(
    client: Any, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.post(
        "/api/v1/heartbeats/backup", headers={"Authorization": f"Bearer {BACKUP_TOKEN}"}
    )
    assert await firebreak("heartbeats", "--config", str(config_file)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["HEARTBEAT", "STATE", "LAST", "BEAT", "MISSING", "FROM"]
    assert [line.split()[:2] for line in lines[1:]] == [["backup", "ok"], ["nightly", "new"]]
    assert await firebreak("heartbeats", "--json", "--config", str(config_file)) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [h["name"] for h in listed] == ["backup", "nightly"]
    assert all("token" not in h for h in listed)
