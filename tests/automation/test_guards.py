"""Guard rails of runbook steps: the http allow-list (no request leaves for a host not on it,
however the name resolves), the shell allow-list, environment and limits, and four eyes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.automation.definitions import parse_runbook
from receiver.automation.guards import HttpGuard
from receiver.automation.steps import Invocation, StepEnvironment, run_http
from receiver.cli import main
from receiver.hostallow import HostAllowList, parse_entry
from tests.automation.conftest import Target, finished, in_state
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, auth

# --- the allow-list itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "host", "port", "addresses", "allowed"),
    [
        (["127.0.0.1:8080"], "127.0.0.1", 8080, ["127.0.0.1"], True),
        (["127.0.0.1:8080"], "127.0.0.1", 8081, ["127.0.0.1"], False),
        (["10.0.0.0/8"], "db.internal", 5432, ["10.1.2.3"], True),
        (["10.0.0.0/8"], "db.internal", 5432, ["10.1.2.3", "192.168.0.1"], False),
        (["api.example.com"], "API.example.com.", 443, ["93.184.216.34"], True),
        (["*.example.com:443"], "a.b.example.com", 443, ["93.184.216.34"], True),
        (["*.example.com:443"], "example.com", 443, ["93.184.216.34"], False),
        (["api.example.com"], "api.example.com", 443, ["10.0.0.5"], True),  # private: fine
        # A listed name never leads to loopback or metadata addresses (DNS rebinding).
        (["api.example.com"], "api.example.com", 80, ["127.0.0.1"], False),
        (["api.example.com"], "api.example.com", 80, ["169.254.169.254"], False),
        (["api.example.com"], "api.example.com", 80, ["::ffff:169.254.169.254"], False),
        (["api.example.com", "127.0.0.1"], "api.example.com", 80, ["127.0.0.1"], True),
        (["[::1]:8080"], "::1", 8080, ["::1"], True),
        ([], "127.0.0.1", 80, ["127.0.0.1"], False),
    ],
)
def test_allow_list(
    entries: list[str], host: str, port: int, addresses: list[str], allowed: bool
) -> None:
    refusal = HostAllowList(entries).refusal(host, port, addresses)
    assert (refusal is None) is allowed, refusal


@pytest.mark.parametrize("text", ["bad host", "10.0.0.0/8:80", "a:b", "host:99999", "x/y"])
def test_bad_entries_say_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|port"):
        parse_entry(text)


# --- http steps -------------------------------------------------------------------------------


def http_runbook(url: str) -> str:
    return f"""
id: call
title: Call
steps:
  - id: call
    http: {{method: POST, url: "{url}"}}
    timeout: 5s
"""


def allow(*entries: str, shell: str = "[]", limits: str = "{}") -> str:
    return (
        f"automation: {{http_allow: {json.dumps(list(entries))}, shell_allow: {shell}, "
        f"shell_limits: {limits}}}\n"
    )


async def start_run(client: Any, runbook: str, token: str = ADMIN_TOKEN) -> int:
    resp = await client.post(f"/api/v1/runbooks/{runbook}/execute", json={}, headers=auth(token))
    assert resp.status == 202, await resp.text()
    return int((await resp.json())["id"])


async def test_an_allowed_host_is_called(start: Any, target: Target) -> None:
    port = target.url.rsplit(":", 1)[1]
    client = await start(http_runbook(f"{target.url}/ok"), extra=allow(f"127.0.0.1:{port}"))
    record = await finished(client, await start_run(client, "call"))
    assert record["state"] == "succeeded", record
    assert target.paths() == ["/ok"]


@pytest.mark.parametrize(
    ("url", "entries", "reason"),
    [
        ("{target}/x", ["10.0.0.0/8", "127.0.0.1:1"], "is not on automation.http_allow"),
        ("http://169.254.169.254/latest/meta-data/", ["127.0.0.1"], "cloud metadata address"),
        # localhost resolves to loopback: neither an unlisted nor a listed name gets there.
        ("http://localhost:{port}/x", ["127.0.0.2"], "not on automation.http_allow"),
        ("http://localhost:{port}/x", ["localhost"], "(loopback)"),
    ],
)
async def test_a_host_off_the_list_is_refused_and_nothing_is_sent(
    start: Any, target: Target, url: str, entries: list[str], reason: str
) -> None:
    port = target.url.rsplit(":", 1)[1]
    url = url.format(target=target.url, port=port)
    client = await start(http_runbook(url), extra=allow(*entries))
    record = await finished(client, await start_run(client, "call"))
    assert record["state"] == "failed"
    error = record["steps"][0]["error"]
    assert error.startswith("http request refused:") and reason in error, error
    assert target.requests == []


async def test_a_name_that_resolves_elsewhere_at_connect_time_is_refused(target: Target) -> None:
    """DNS rebinding: the name passes the check, then resolves to loopback for the
    connection. The session's own resolver checks again, so no byte is sent."""
    answers = [["203.0.113.7"], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    guard = HttpGuard(HostAllowList(["rebind.test"]), resolve=rebinding)
    port = int(target.url.rsplit(":", 1)[1])
    step = parse_runbook(http_runbook(f"http://rebind.test:{port}/x"), env={}).steps[0]
    async with guard.session() as session:
        now = datetime.now(UTC)
        result = await run_http(
            Invocation(
                step=step,
                inputs={"url": f"http://rebind.test:{port}/x", "method": "GET"},
                key="k",
                execution_id=1,
                labels={},
                alert=None,
                drill=False,
                started_at=now,
                now=now,
                env=StepEnvironment(http=session, http_guard=guard, guarded_http=session),
            )
        )
    assert result.state == "failed"
    assert "loopback" in (result.error or ""), result.error
    assert target.requests == []


async def test_redirects_are_not_followed(start: Any, target: Target) -> None:
    target.status["/hop"] = 307
    client = await start(http_runbook(f"{target.url}/hop"), extra=allow("127.0.0.1"))
    record = await finished(client, await start_run(client, "call"))
    assert record["steps"][0]["output"]["status"] == 307
    assert target.paths() == ["/hop"]


# --- shell steps ------------------------------------------------------------------------------


def shell_runbook(argv: list[str], extra: str = "") -> str:
    return f"""
id: cmd
title: Command
steps:
  - id: cmd
    shell: {{argv: {json.dumps(argv)}{extra}}}
    timeout: 20s
"""


async def test_a_program_off_the_list_does_not_run(start: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    client = await start(
        shell_runbook(["/usr/bin/touch", str(marker)]),
        extra=allow(shell=json.dumps([sys.executable])),
    )
    record = await finished(client, await start_run(client, "cmd"))
    assert record["state"] == "failed"
    assert "is not on automation.shell_allow" in record["steps"][0]["error"]
    assert not marker.exists()


async def test_the_child_sees_path_and_the_allowed_variables_only(
    start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREBREAK_TEST_SECRET", "hunter2")
    monkeypatch.setenv("PASSED_THROUGH", "yes")
    # /proc/self/environ is what exec handed over, before Python adds anything of its own.
    code = (
        "import sys; sys.stdout.write(open('/proc/self/environ').read().replace(chr(0), chr(10)))"
    )
    client = await start(
        shell_runbook(
            [sys.executable, "-c", code],
            ", env_allow: [PASSED_THROUGH, NOT_SET], env: {SET_BY_STEP: x}",
        ),
        extra=allow(shell=json.dumps([sys.executable])),
    )
    record = await finished(client, await start_run(client, "cmd"))
    assert record["state"] == "succeeded", record
    pairs = [item for item in record["steps"][0]["output"]["stdout"].splitlines() if item]
    environment = dict(item.split("=", 1) for item in pairs)
    assert set(environment) == {"PATH", "PASSED_THROUGH", "SET_BY_STEP"}
    assert environment["PASSED_THROUGH"] == "yes" and environment["SET_BY_STEP"] == "x"


async def test_a_name_on_the_list_runs_what_firebreaks_path_finds(
    start: Any, tmp_path: Path
) -> None:
    """The step's env cannot point an allowed name at another file."""
    fake = tmp_path / "true"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    client = await start(
        shell_runbook(["true"], f', env: {{PATH: "{tmp_path}"}}'),
        shell_runbook([str(fake)]).replace("id: cmd\n", "id: fake\n", 1),
        extra=allow(shell='["true"]'),
    )
    record = await finished(client, await start_run(client, "cmd"))
    assert record["state"] == "succeeded", record
    assert record["steps"][0]["inputs"]["argv"] == ["true"]
    # And the file itself, named by path, is not the program the list allows.
    record = await finished(client, await start_run(client, "fake"))
    assert "not on automation.shell_allow" in record["steps"][0]["error"]


async def test_a_child_over_its_cpu_limit_is_stopped(start: Any) -> None:
    client = await start(
        shell_runbook([sys.executable, "-c", "while True: pass"]),
        extra=allow(shell=json.dumps([sys.executable]), limits="{cpu_time: 1s}"),
    )
    record = await finished(client, await start_run(client, "cmd"), within=20)
    assert record["state"] == "failed"
    assert "killed by SIGXCPU" in record["steps"][0]["error"], record["steps"][0]


async def test_a_child_over_its_memory_limit_cannot_allocate(start: Any) -> None:
    code = "b = bytearray(512 * 1024 * 1024)"
    client = await start(
        shell_runbook([sys.executable, "-c", code]),
        extra=allow(shell=json.dumps([sys.executable]), limits="{address_space_bytes: 268435456}"),
    )
    record = await finished(client, await start_run(client, "cmd"), within=20)
    assert record["state"] == "failed"
    assert "MemoryError" in record["steps"][0]["output"]["stderr"]


# --- four eyes --------------------------------------------------------------------------------

FOUR_EYES_STEP = """
id: guarded
title: Guarded
steps:
  - id: ask
    approval: {four_eyes: true}
  - id: done
    wait: {duration: 1ms}
"""

FOUR_EYES_GATE = """
id: gated
title: Gated
approval: {required: true, four_eyes: true}
steps:
  - id: change
    http: {method: POST, url: "TARGET/change"}
"""


async def test_four_eyes_refuses_whoever_started_the_run(start: Any) -> None:
    client = await start(FOUR_EYES_STEP)
    eid = await start_run(client, "guarded", ADMIN_TOKEN)  # alice
    await in_state(client, eid, "waiting_approval")
    resp = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert resp.status == 403
    body = await resp.json()
    assert body["error"].startswith("four eyes: api:alice started execution")
    resp = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(RESPONDER_TOKEN))
    assert resp.status == 200, await resp.text()
    record = await finished(client, eid)
    assert record["state"] == "succeeded"
    assert record["steps"][0]["decided_by"] == "api:bob"


async def test_four_eyes_gates_manual_runs_of_a_runbook_too(start: Any, target: Target) -> None:
    client = await start(FOUR_EYES_GATE.replace("TARGET", target.url), extra=allow("127.0.0.1"))
    eid = await start_run(client, "gated", RESPONDER_TOKEN)  # bob
    await in_state(client, eid, "waiting_approval")
    assert target.requests == []
    resp = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(RESPONDER_TOKEN))
    assert resp.status == 403
    resp = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200
    record = await finished(client, eid)
    assert record["state"] == "succeeded" and record["approved_by"] == "api:alice"
    assert target.paths() == ["/change"]


# --- check-config -----------------------------------------------------------------------------


def test_check_config_warns_of_literal_urls_off_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "out.yml").write_text(http_runbook("http://169.254.169.254/latest"))
    (books / "in.yml").write_text(
        http_runbook("http://127.0.0.1:8080/x").replace("id: call", "id: fine")
    )
    (books / "tpl.yml").write_text(
        http_runbook("{{ params.url }}").replace("id: call", "id: templated")
    )
    path = tmp_path / "firebreak.yml"
    path.write_text('automation: {runbooks: "runbooks/*.yml", http_allow: ["127.0.0.1:8080"]}\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "http.url" in line]
    assert warnings == [
        f"  warning: {books / 'out.yml'}: steps[0].http.url: 169.254.169.254 is a cloud "
        "metadata address (link-local: AWS, GCP, Azure, OCI, OpenStack metadata); Firebreak "
        "never connects there, whatever automation.http_allow says"
    ]


def test_check_config_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text(
        "automation:\n  http_allow: ['10.0.0.0/8:80']\n  shell_allow: [bin/sh]\n"
        "  shell_limits: {cpu_time: 0s}\n"
    )
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:16: automation.http_allow[0]: '10.0.0.0/8:80': a port goes with one" in err
    assert f"{path}:3:17: automation.shell_allow[0]: expected an absolute path" in err
    assert f"{path}:4:18: automation.shell_limits.cpu_time: must be at least 1s" in err


async def test_output_holding_nul_bytes_is_recorded(start: Any) -> None:
    """PostgreSQL's JSON has no NUL character; a child printing one must not fail the job."""
    client = await start(
        shell_runbook([sys.executable, "-c", "print('a' + chr(0) + 'b')"]),
        extra=allow(shell=json.dumps([sys.executable])),
    )
    record = await finished(client, await start_run(client, "cmd"))
    assert record["state"] == "succeeded", record
    assert record["steps"][0]["output"]["stdout"] == "a\ufffdb\n"
