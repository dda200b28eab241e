"""Weak secrets at the edge: ``firebreak serve`` will not open a port beyond loopback guarded by
a short or shipped-example secret, a reload cannot bring one in, and on loopback it starts and
says what would be refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import load_config
from receiver.config.lookup import override_listen
from tests.conftest import ADMIN_TOKEN, auth, config_text
from tests.e2e.conftest import ROOT, http
from tests.security.edge import request, serving

WEAK_ADMIN = "Zq"


def test_serve_refuses_to_listen_beyond_loopback_with_a_weak_token(tmp_path: Path) -> None:
    config = tmp_path / "firebreak.yml"
    config.write_text(
        'listen: "0.0.0.0:9"\n'
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'f.db'}'}}\n"
        "webhook: {auth: {bearer_tokens: ['${HOOK:-change-me-webhook}']}}\n"
        f"api: {{tokens: [{{token: '{WEAK_ADMIN}', role: admin}}]}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "receiver.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{config}: api.tokens[0].token: is 2 characters long; at least 16 are needed, and "
        "listen (0.0.0.0:9) is beyond loopback; use a random secret of 16 characters or more "
        "(openssl rand -hex 24)",
        f"{config}: webhook.auth.bearer_tokens[0]: is an example value shipped with Firebreak, "
        "and listen (0.0.0.0:9) is beyond loopback; use a random secret of 16 characters or "
        "more (openssl rand -hex 24)",
    ]
    assert WEAK_ADMIN not in result.stderr  # a secret is never quoted
    assert not (tmp_path / "f.db").exists()  # refused before anything was opened


def test_on_loopback_it_serves_and_warns_and_a_reload_cannot_open_it_up(tmp_path: Path) -> None:
    weak = f'  tokens:\n    - {{token: "{WEAK_ADMIN}", role: admin, name: weak}}\n'
    with serving(tmp_path, edit=lambda text: text.replace("  tokens:\n", weak, 1)) as server:
        log = server.log_path.read_text()
        assert "api.tokens[0].token: is 2 characters long; at least 16 are needed; it would " in log
        status, _ = request(
            server, "GET", "/api/v1/alerts", headers={"Authorization": f"Bearer {WEAK_ADMIN}"}
        )
        assert status == 200  # loopback: allowed, and said so
        original = server.config_path.read_text()
        server.config_path.write_text(original.replace("127.0.0.1:", "0.0.0.0:", 1))
        status, body = http("POST", server.url + "/-/reload", token=server.admin_token)
        assert status == 400
        problems = json.loads(body)["problems"]
        assert any(
            "api.tokens[0].token: is 2 characters long" in p and "beyond loopback" in p
            for p in problems
        ), problems


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--listen", "0.0.0.0:9"], {}, "0.0.0.0:9 from --listen"),
        ([], {"FIREBREAK_LISTEN": "[::]:9"}, "[::]:9 from FIREBREAK_LISTEN"),
    ],
    ids=["flag", "environment"],
)
def test_a_listen_given_on_the_command_line_meets_the_same_refusal(
    tmp_path: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    """The file says loopback, where a weak token is only a warning; ``--listen`` or
    ``FIREBREAK_LISTEN`` moving it beyond loopback must not carry the weak token along."""
    config = tmp_path / "firebreak.yml"
    config.write_text(
        'listen: "127.0.0.1:9"\n'
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'f.db'}'}}\n"
        f"api: {{tokens: [{{token: '{WEAK_ADMIN}', role: admin}}]}}\n"
    )
    # check-config has no --listen of its own; it reads FIREBREAK_LISTEN as serve does.
    for command in [["serve"]] + ([] if args else [["check-config"]]):
        result = subprocess.run(
            [sys.executable, "-m", "receiver.cli", *command, "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env={**os.environ, "FIREBREAK_LISTEN": "", **env},
            check=False,
        )
        assert result.returncode == 1, (command, result.stderr)
        assert (
            f"{config}: api.tokens[0].token: is 2 characters long; at least 16 are needed, and "
            f"listen ({named}) is beyond loopback; use a random secret of 16 characters or more "
            "(openssl rand -hex 24)"
        ) in result.stderr.splitlines(), result.stderr
        # No webhook credentials at all: the weakest secret, anyone could post alerts.
        assert (
            f"{config}: webhook.auth: no credentials configured, and listen ({named}) is beyond "
            "loopback, where anyone who can reach the port could post alerts; give Alertmanager "
            "a bearer token (bearer_tokens, openssl rand -hex 24)"
        ) in result.stderr.splitlines(), result.stderr
        assert WEAK_ADMIN not in result.stderr
    assert not (tmp_path / "f.db").exists()  # refused before anything was opened


async def test_a_reload_cannot_bring_a_weak_token_to_a_listen_from_the_command_line(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """Serving beyond loopback by ``--listen`` with strong tokens; the file, still on loopback,
    is edited to a weak one and reloaded: refused, and the weak token is not let in."""
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"))
    config = override_listen(load_config(str(path)), "0.0.0.0:9095", {})
    app = create_app(config, registry=CollectorRegistry(), config_path=str(path))
    client = await aiohttp_client(app)
    path.write_text(
        path.read_text().replace("role: viewer", "role: viewer}\n    - {token: Zq, role: admin")
    )
    resp = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert resp.status == 400, await resp.text()
    problems = (await resp.json())["problems"]
    assert any(
        "api.tokens[3].token: is 2 characters long" in p and "0.0.0.0:9095 from --listen" in p
        for p in problems
    ), problems
    assert (await client.get("/api/v1/alerts", headers=auth(WEAK_ADMIN))).status == 401
