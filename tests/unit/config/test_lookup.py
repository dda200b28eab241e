"""Which configuration file a command uses (``--config``, ``FIREBREAK_CONFIG``,
``./firebreak.yml``, ``/etc/firebreak/firebreak.yml``), what it says about it, and a relative
SQLite path that means the same database from whatever directory a command runs in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config, parse_config
from receiver.config.lookup import find_config, override_listen
from receiver.errors import ConfigError
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

CONFIG = f"""
database: {{url: "sqlite+aiosqlite:///data/firebreak.db"}}
webhook: {{auth: {{bearer_tokens: ["{WEBHOOK_TOKEN}"]}}}}
api: {{tokens: [{{token: "{ADMIN_TOKEN}", role: admin, name: alice}}]}}
"""


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no firebreak.yml, and no FIREBREAK_* variables set."""
    for name in ("FIREBREAK_CONFIG", "FIREBREAK_LISTEN"):
        monkeypatch.delenv(name, raising=False)
    where = tmp_path / "elsewhere"
    where.mkdir()
    monkeypatch.chdir(where)
    return where


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A configuration file in a directory of its own, with its database beside it."""
    (tmp_path / "site" / "data").mkdir(parents=True)
    path = tmp_path / "site" / "firebreak.yml"
    path.write_text(CONFIG)
    return path


# --- finding the file -------------------------------------------------------------------------


def test_the_search_order() -> None:
    every = {"firebreak.yml", "/etc/firebreak/firebreak.yml"}

    def exists(path: str) -> bool:
        return path in every

    env = {"FIREBREAK_CONFIG": "/srv/fb.yml"}
    assert find_config("mine.yml", env, exists).chosen_by == "--config"
    assert find_config(None, env, exists).path == "/srv/fb.yml"
    assert find_config(None, {}, exists).path == "firebreak.yml"
    every.discard("firebreak.yml")
    found = find_config(None, {"FIREBREAK_CONFIG": ""}, exists)
    assert (found.path, found.chosen_by) == ("/etc/firebreak/firebreak.yml", "system-wide")
    every.clear()
    with pytest.raises(ConfigError) as info:
        find_config(None, {}, exists)
    assert info.value.problems == [
        "no configuration file: none given (--config FILE or FIREBREAK_CONFIG), and neither "
        "./firebreak.yml nor /etc/firebreak/firebreak.yml exists; start from the example: "
        "cp firebreak.example.yml firebreak.yml"
    ]


def test_a_named_file_that_is_missing_is_not_searched_past(
    elsewhere: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "firebreak.yml").write_text(CONFIG)
    monkeypatch.setenv("FIREBREAK_CONFIG", str(elsewhere / "typo.yml"))
    assert main(["alerts", "list"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"using {elsewhere / 'typo.yml'} (FIREBREAK_CONFIG)",
        f"{elsewhere / 'typo.yml'}: cannot read: No such file or directory",
    ]


def test_without_any_configuration_the_command_says_what_it_looked_for(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if Path("/etc/firebreak/firebreak.yml").exists():
        pytest.skip("this machine has a system-wide configuration")
    assert main(["alerts", "list"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        "firebreak: no configuration file: none given (--config FILE or FIREBREAK_CONFIG), and "
        "neither ./firebreak.yml nor /etc/firebreak/firebreak.yml exists; start from the "
        "example: cp firebreak.example.yml firebreak.yml\n"
    )


def test_firebreak_yml_in_the_working_directory_is_used_and_said_so(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIREBREAK_CONFIG", raising=False)
    monkeypatch.chdir(site.parent)
    assert main(["alerts", "list"]) == 0
    out = capsys.readouterr()
    assert out.err == f"using {site} (working directory)\n"
    assert out.out.startswith("     ID  STATUS")


def test_firebreak_config_is_used_and_said_so(
    elsewhere: Path, site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREBREAK_CONFIG", str(site))
    assert main(["check-config"]) == 0
    out = capsys.readouterr()
    assert out.err == f"using {site} (FIREBREAK_CONFIG)\n"
    assert out.out.startswith(f"Checking '{site}'  SUCCESS\n")


def test_a_file_given_with_config_is_not_announced(
    elsewhere: Path, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "list", "--config", str(site)]) == 0
    assert capsys.readouterr().err == ""


# --- a relative SQLite path -------------------------------------------------------------------


def test_a_relative_sqlite_path_is_beside_the_configuration_file(
    elsewhere: Path, site: Path
) -> None:
    url = load_config(site, env={}).database.url
    assert url == f"sqlite+aiosqlite:///{site.parent / 'data' / 'firebreak.db'}"
    # Text that was not read from a file has no directory: its path stays as written.
    assert parse_config(CONFIG, env={}).database.url == "sqlite+aiosqlite:///data/firebreak.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////var/lib/firebreak/firebreak.db",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///file:fb.db?mode=memory&uri=true",
        "postgresql+asyncpg://firebreak@db/firebreak",
    ],
)
def test_other_database_urls_are_left_as_written(tmp_path: Path, url: str) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text(f'database: {{url: "{url}"}}\n')
    assert load_config(path, env={}).database.url == url


def test_the_query_of_a_relative_sqlite_url_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text('database: {url: "sqlite+aiosqlite:///fb.db?timeout=5"}\n')
    url = load_config(path, env={}).database.url
    assert url == f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}?timeout=5"


async def test_commands_run_from_another_directory_use_the_same_database(
    elsewhere: Path,
    site: Path,
    capsys: pytest.CaptureFixture[str],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    config = load_config(site, env={})
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    resp = await client.post(
        "/webhook", json=webhook(alert("DiskFull")), headers=auth(WEBHOOK_TOKEN)
    )
    assert resp.status == 200
    await client.close()
    assert (site.parent / "data" / "firebreak.db").exists()

    assert await asyncio.to_thread(main, ["alerts", "list", "--config", str(site)]) == 0
    assert "DiskFull" in capsys.readouterr().out
    backup = elsewhere / "backup.db"
    command = ["db", "backup", "--config", str(site), str(backup)]
    assert await asyncio.to_thread(main, command) == 0
    assert capsys.readouterr().out == f"backup written to {backup}: 1 alert occurrences\n"
    assert await asyncio.to_thread(main, ["db", "current", "--config", str(site)]) == 0
    assert capsys.readouterr().out.startswith("schema revision: 0")
    made_here = await asyncio.to_thread(lambda: list(elsewhere.iterdir()))
    assert made_here == [backup]  # and no empty database beside it


# --- the listen address -----------------------------------------------------------------------


def test_listen_precedence_flag_then_environment_then_file() -> None:
    config = parse_config('listen: "127.0.0.1:9095"', env={})
    env = {"FIREBREAK_LISTEN": "127.0.0.1:9200"}
    flagged = override_listen(config, "[::1]:9300", env)
    assert (flagged.listen, flagged.listen_from) == ("[::1]:9300", "--listen")
    from_env = override_listen(config, None, env)
    assert (from_env.listen, from_env.listen_from) == ("127.0.0.1:9200", "FIREBREAK_LISTEN")
    assert override_listen(config, None, {"FIREBREAK_LISTEN": ""}) is config


@pytest.mark.parametrize(
    ("flag", "env", "problem"),
    [
        (
            "9095",
            {},
            "--listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095, got '9095'",
        ),
        (
            None,
            {"FIREBREAK_LISTEN": "host:99999"},
            "FIREBREAK_LISTEN: port must be between 1 and 65535, got 'host:99999'",
        ),
        (
            "a b:1\nx",
            {},
            "--listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095, got 'a b:1\\nx'",
        ),
    ],
)
def test_a_bad_listen_override_names_where_it_came_from(
    flag: str | None, env: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        override_listen(parse_config("", env={}), flag, env)
    assert info.value.problems == [problem]


def test_check_config_shows_an_overridden_listen(
    elsewhere: Path, site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREBREAK_LISTEN", "0.0.0.0:9200")
    assert main(["check-config", "--config", str(site)]) == 0
    assert "  listen: 0.0.0.0:9200 (FIREBREAK_LISTEN)\n" in capsys.readouterr().out
