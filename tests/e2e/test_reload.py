"""POST /-/reload and SIGHUP: a valid new configuration is in force at once; an invalid one is
refused with its problems and the old one stays, as Prometheus does."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.e2e.conftest import FirebreakServer, http, wait_until

pytestmark = pytest.mark.e2e

NEW_TOKEN = "reloaded-token-0123456789"


def _get(server: FirebreakServer, token: str) -> int:
    return http("GET", server.url + "/api/v1/alerts", token=token)[0]


def _reload(server: FirebreakServer, token: str | None = None) -> tuple[int, Any]:
    import json

    status, body = http("POST", server.url + "/-/reload", token=token or server.admin_token)
    return status, json.loads(body) if body else None


def test_reload_puts_a_valid_config_in_force_and_refuses_an_invalid_one(
    firebreak_server: FirebreakServer,
) -> None:
    original = firebreak_server.config_path.read_text()
    assert _get(firebreak_server, NEW_TOKEN) == 401
    assert _reload(firebreak_server, firebreak_server.viewer_token)[0] == 403

    # A new API token and a listen address that changed (that one waits for a restart).
    added = original.replace(
        "  tokens:\n",
        f'  tokens:\n    - {{token: "{NEW_TOKEN}", role: viewer, name: dora}}\n',
        1,
    )
    firebreak_server.config_path.write_text(added.replace("127.0.0.1:", "127.0.0.2:", 1))
    status, body = _reload(firebreak_server)
    assert status == 200, body
    assert body == {"status": "success", "restart_needed": ["listen"]}
    assert _get(firebreak_server, NEW_TOKEN) == 200

    # An invalid file is refused whole, with every problem; the old configuration stays.
    firebreak_server.config_path.write_text(added + "\nretention: {period: -1d}\nbogus: 1\n")
    status, body = _reload(firebreak_server)
    assert status == 400
    assert "old one stays in force" in body["error"]
    assert any("bogus: unknown key" in p for p in body["problems"]), body
    assert any("retention.period" in p for p in body["problems"]), body
    assert _get(firebreak_server, NEW_TOKEN) == 200
    assert firebreak_server.metric("firebreak_config_last_reload_successful") == 0
    assert firebreak_server.metric("firebreak_config_reloads_total", 'outcome="failure"') == 1

    # SIGHUP does the same: back to the original file, the added token is gone.
    firebreak_server.config_path.write_text(original)
    firebreak_server.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: _get(firebreak_server, NEW_TOKEN) == 401,
        timeout=10,
        what="the original configuration back in force after SIGHUP",
    )
    assert firebreak_server.metric("firebreak_config_last_reload_successful") == 1
    assert firebreak_server.metric("firebreak_config_reloads_total", 'outcome="success"') == 2
    assert firebreak_server.proc.poll() is None
