"""``firebreak serve`` starting: it binds before it announces or touches the store, a busy port
is one line that says what to do, ``--listen`` and ``FIREBREAK_LISTEN`` override the file's
``listen``, and once it serves it says where the console is and which token logs in."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import (
    ROOT,
    _stop,
    free_port,
    http,
    serve_command,
    wait_until,
    write_firebreak_config,
)

pytestmark = pytest.mark.e2e


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    return {**env, "PYTHONUNBUFFERED": "1", **overrides}


def test_a_busy_port_is_one_line_naming_the_address_and_nothing_is_started(
    tmp_path: Path, held_port: int
) -> None:
    db = tmp_path / "firebreak.db"
    config = write_firebreak_config(tmp_path / "firebreak.yml", f"sqlite+aiosqlite:///{db}", 9095)
    done = subprocess.run(
        [*serve_command(config), "--listen", f"127.0.0.1:{held_port}"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"firebreak serve: cannot listen on 127.0.0.1:{held_port}: address already in use — "
        "is another Firebreak running? choose another with --listen or FIREBREAK_LISTEN\n"
    )
    assert not db.exists()  # bound before the store was opened


def test_an_address_that_is_not_this_machines_is_named(tmp_path: Path) -> None:
    config = write_firebreak_config(
        tmp_path / "firebreak.yml", f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", 9095
    )
    done = subprocess.run(
        serve_command(config),
        cwd=ROOT,
        # TEST-NET-1 (RFC 5737): never an address of this machine.
        env=_env(FIREBREAK_LISTEN="192.0.2.1:9095"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "firebreak serve: cannot listen on 192.0.2.1:9095: address not available — it is not an "
        "address of this machine; choose another with --listen or FIREBREAK_LISTEN\n"
    )


def _serve(config: Path, log: Path, port: int, *args: str, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*serve_command(config), *args],
            cwd=ROOT,
            env=_env(**env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "console: " in log.read_text(),
            timeout=30,
            what=f"firebreak serve on {port}",
            procs=(proc,),
        )
    except BaseException:
        _stop(proc)
        raise
    return proc


def test_listen_overrides_announce_the_console_and_survive_a_reload(
    tmp_path: Path, held_port: int
) -> None:
    # The file says a port that is taken: only an override lets it start.
    config = write_firebreak_config(
        tmp_path / "firebreak.yml", f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", held_port
    )
    env_port, flag_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    proc = _serve(config, log, env_port, FIREBREAK_LISTEN=f"127.0.0.1:{env_port}")
    try:
        text = log.read_text()
        assert f"listening on http://127.0.0.1:{env_port} (from FIREBREAK_LISTEN)" in text
        assert (
            f'console: http://127.0.0.1:{env_port}/ — log in with the API token "alice" '
            "(role admin)\n"
        ) in text
        assert ADMIN_TOKEN not in text  # a real token is named, never shown
        status, body = http("GET", f"http://127.0.0.1:{env_port}/", timeout=5)
        assert status == 200  # the console's login page, at the address announced
        # A reload reads the file again; the override stays, and nothing asks for a restart.
        status, body = http(
            "POST", f"http://127.0.0.1:{env_port}/-/reload", token=ADMIN_TOKEN, timeout=10
        )
        assert status == 200, body
        assert json.loads(body)["restart_needed"] == []
        assert http("GET", f"http://127.0.0.1:{env_port}/health")[0] == 200
    finally:
        _stop(proc)

    log.write_text("")
    proc = _serve(
        config,
        log,
        flag_port,
        "--listen",
        f"127.0.0.1:{flag_port}",
        FIREBREAK_LISTEN=f"127.0.0.1:{env_port}",
    )
    try:
        assert f"listening on http://127.0.0.1:{flag_port} (from --listen)" in log.read_text()
        assert http("GET", f"http://127.0.0.1:{flag_port}/health")[0] == 200
    finally:
        _stop(proc)


def test_the_example_configuration_shows_its_example_token(tmp_path: Path) -> None:
    """The example's tokens are on the getting-started page; serve prints the admin one and
    says it is the example's."""
    text = (ROOT / "firebreak.example.yml").read_text()
    (tmp_path / "firebreak.yml").write_text(text)
    (tmp_path / "runbooks").symlink_to(ROOT / "runbooks")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(tmp_path / "firebreak.yml", log, port, "--listen", f"127.0.0.1:{port}")
    try:
        out = log.read_text()
    finally:
        _stop(proc)
    assert (
        f'console: http://127.0.0.1:{port}/ — log in with the API token "admin" (role admin): '
        "change-me-admin — the example's token"
    ) in out
    assert (tmp_path / "firebreak.db").exists()  # beside its configuration file
    assert "Traceback" not in out
