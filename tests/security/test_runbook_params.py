"""Runbook parameters under attack, through the real HTTP edge: an application running the
shipped runbooks for real (every one turned automatic, as a team whose rules fire their alerts
would), its steps reaching a local recording service that stands for everything they call.

A second recording service, the attacker's, is on the allow-list as well (both are on
loopback): only the runbooks' own rules keep requests away from it. Labels are data: they
never pick a destination, a file, a token or an option; a value that does not fit its param
fails the run before the first step; one that fits lands escaped for its sink. A person at a
manual run (API with every role, the console) sets only what a runbook marks settable."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.automation.definitions import Runbooks, load_runbooks, parse_runbook
from receiver.config import parse_config
from tests.automation.conftest import JOBS, executions, finished, shipped_automation
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    config_text,
    eventually,
)
from tests.console.conftest import login, press
from tests.fakes.recording_receiver import RecordingServer
from tests.payloads import alert, webhook

IDP_TOKEN = "idp-admin-token-5e4d3c"
EMPTY_RESULT = {"status": "success", "data": {"resultType": "vector", "result": []}}
OLD_DEAD_JOB = {"id": 7, "kind": "notify", "created_at": "2020-01-01T00:00:00Z"}

Client = TestClient[Any, Any]


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    """The demo service, the identity provider, PagerDuty, Firebreak's own API, Alertmanager
    and Prometheus, as the runbooks' configuration points at them."""
    server = RecordingServer(
        {
            "/api/v2/silences": {"silenceID": "silence-1"},
            "/api/v1/query": EMPTY_RESULT,
            "/api/v1/jobs": {"jobs": [OLD_DEAD_JOB]},
        }
    )
    yield server
    server.close()


@pytest.fixture
def attacker() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def docker_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker`` first on PATH that only writes down the argv it was given."""
    log = tmp_path / "docker-argv.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker"
    program.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return log


def docker_calls(log: Path) -> list[list[str]]:
    """The argv of every run of the fake docker, oldest first."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def runbook_env(recorder: RecordingServer, tmp_path: Path) -> dict[str, str]:
    """What the shipped runbooks' ``${VAR}`` defaults read: where they call, with what."""
    return {
        "DEMO_SERVICE_URL": recorder.url,
        "IDP_ADMIN_URL": recorder.url,
        "IDP_ADMIN_TOKEN": IDP_TOKEN,
        "PAGERDUTY_EVENTS_URL": f"{recorder.url}/v2/enqueue",
        "PAGERDUTY_ROUTING_KEY": "routing-key-0f1e2d",
        "DEMO_COMPOSE_PROJECT": "demo",
    }


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Any],
    db_url: str,
    recorder: RecordingServer,
    docker_log: Path,
    tmp_path: Path,
) -> Callable[..., Any]:
    """The application with the shipped runbooks, each one automatic, and ``extra`` runbooks."""

    async def run(*extra: str) -> Client:
        automation = shipped_automation(
            http_allow=["127.0.0.1"],
            prometheus_url=recorder.url,
            alertmanager_url=recorder.url,
            shell_allow="docker",
        )
        config = parse_config(config_text(db_url, JOBS + automation), env={})
        shipped = load_runbooks(config, env=runbook_env(recorder, tmp_path))
        books = {rb.id: replace(rb, automatic=True) for rb in shipped}
        for i, text in enumerate(extra):
            rb = parse_runbook(text, source=f"extra{i}.yml", env={})
            books[rb.id] = rb
        app = create_app(config, registry=CollectorRegistry(), runbooks=Runbooks(books))
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return run


async def fire(client: Client, alertname: str, labels: dict[str, str]) -> None:
    payload = webhook(alert(alertname, labels=labels), group_key=f"{{}}:{{alertname={alertname}}}")
    resp = await client.post("/webhook", json=payload, headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200, await resp.text()


async def ended(client: Client, runbook: str) -> dict[str, Any]:
    """The one execution of ``runbook``, once it has ended."""
    found = await eventually(
        lambda: executions(client, f"runbook={runbook}"), what=f"{runbook} started"
    )
    assert len(found) == 1, found
    return await finished(client, found[0]["id"])


# --- labels on webhooks -------------------------------------------------------------------------


async def test_labels_named_like_params_pick_no_destination_token_or_file(
    start: Callable[..., Any],
    recorder: RecordingServer,
    attacker: RecordingServer,
    tmp_path: Path,
) -> None:
    """The attack of the issue: labels api_url, token and archive on the dead-letter alert.
    The runbook works on the job queue itself (no URL, no token), and its one param comes
    from its default: the labels are only labels."""
    client = await start()
    marker = tmp_path / "attacker-chose-this-file"
    await fire(
        client,
        "FirebreakJobsDeadLettered",
        {
            "api_url": attacker.url,
            "token": "attacker-token",
            "archive": str(marker),
            "max_age": "100000d",
        },
    )
    record = await ended(client, "dead-letter-recovery")
    assert record["state"] == "succeeded", record
    assert attacker.received() == [] and recorder.received() == []
    assert not marker.exists()
    assert record["params"] == {"max_age": "6h"}
    assert record["steps"][0]["inputs"]["args"] == {"max_age": "6h"}
    assert "attacker-token" not in json.dumps(record)


HOSTILE = [
    ("clear-cache", "CacheHitRatioLow", "cache", "../../admin/restart"),
    ("clear-cache", "CacheHitRatioLow", "cache", '"} or vector(1) or {a="'),
    ("security-incident", "SuspiciousLogin", "user", "../../internal/keys?x=1#"),
    ("security-incident", "CredentialLeak", "user", "a" * 5000),
    ("scale-out", "HighLatency", "service", "--file=evil.yml"),
    ("restart-service", "HighErrorRate", "service", '"} or vector(1) or {a="'),
    ("scale-out", "HighLatency", "service", "web\n--file=evil.yml"),
    ("disk-filling", "DiskFilling", "instance", 'x", alertname=~".+'),
    ("disk-filling", "DiskFull", "instance", "host:9100\x1b[2J"),
]


@pytest.mark.parametrize(
    ("runbook", "alertname", "label", "value"),
    HOSTILE,
    ids=[f"{h[0]}-{i}" for i, h in enumerate(HOSTILE)],
)
async def test_a_hostile_label_fails_the_run_before_its_first_step(
    start: Callable[..., Any],
    recorder: RecordingServer,
    attacker: RecordingServer,
    docker_log: Path,
    runbook: str,
    alertname: str,
    label: str,
    value: str,
) -> None:
    client = await start()
    await fire(
        client, alertname, {label: value, "instance": "db-1:9100", "user": "alice"} | {label: value}
    )
    record = await ended(client, runbook)
    assert record["state"] == "failed", record
    assert record["error"].startswith(f"params.{label}: expected "), record["error"]
    assert record["steps"] == [] and record["params"] == {}
    assert recorder.received() == [] and attacker.received() == []
    assert docker_calls(docker_log) == []


async def test_label_values_that_fit_land_escaped_in_every_sink(
    start: Callable[..., Any], recorder: RecordingServer, docker_log: Path
) -> None:
    """A runbook whose param has no pattern: the filters alone keep a value one value in a
    URL path segment, a PromQL string, a silence matcher and an argv item."""
    client = await start(
        f"""
id: filters-only
title: Every sink, no pattern
match: ['alertname="Probe"']
params:
  item: {{from: labels.item, max_length: 4096}}
steps:
  - id: fetch
    http: {{url: "{recorder.url}/items/{{{{ params.item | path_segment }}}}/status"}}
  - id: check
    promql:
      query: 'up{{item="{{{{ params.item | promql_string }}}}", job="x"}}'
      expect: empty
  - id: hush
    silence: {{match: ['item="{{{{ params.item | matcher_value }}}}"'], max_duration: 1h}}
  - id: argv
    shell: {{argv: [docker, compose, up, --detach, --, "{{{{ params.item | not_option }}}}"]}}
"""
    )
    value = 'a/../..?x=1#"} or vector(1) or {b="\\'
    await fire(client, "Probe", {"item": value})
    record = await ended(client, "filters-only")
    assert record["state"] == "succeeded", record
    (fetched,) = [r for r in recorder.received() if r.path.startswith("/items/")]
    _, items, segment, status = fetched.target.split("/")
    assert (items, status, urllib.parse.unquote(segment)) == ("items", "status", value)
    (queried,) = [r for r in recorder.received() if r.path == "/api/v1/query"]
    assert queried.query["query"] == [
        'up{item="a/../..?x=1#\\"} or vector(1) or {b=\\"\\\\", job="x"}'
    ]
    (silenced,) = [r for r in recorder.received() if r.path == "/api/v2/silences"]
    assert silenced.json()["matchers"] == [
        {"name": "item", "value": value, "isRegex": False, "isEqual": True}
    ]
    assert docker_calls(docker_log) == [["compose", "up", "--detach", "--", value]]


@pytest.mark.parametrize(
    ("value", "step", "refusal"),
    [
        ("..", "fetch", "steps.fetch.http.url: value refused: path_segment"),
        ("--file=evil.yml", "argv", "steps.argv.shell.argv[4]: value refused: not_option"),
    ],
)
async def test_a_value_a_filter_refuses_fails_its_step_naming_the_field(
    start: Callable[..., Any],
    recorder: RecordingServer,
    docker_log: Path,
    value: str,
    step: str,
    refusal: str,
) -> None:
    client = await start(
        f"""
id: filters-only
title: Every sink, no pattern
match: ['alertname="Probe"']
params:
  item: {{from: labels.item}}
steps:
  - id: fetch
    http: {{url: "{recorder.url}/items/{{{{ params.item | path_segment }}}}"}}
  - id: argv
    shell: {{argv: [docker, compose, up, --, "{{{{ params.item | not_option }}}}"]}}
"""
    )
    await fire(client, "Probe", {"item": value})
    record = await ended(client, "filters-only")
    assert record["state"] == "failed", record
    failed = {s["step_id"]: s for s in record["steps"]}[step]
    assert failed["state"] == "failed" and failed["error"].startswith(refusal), failed
    assert docker_calls(docker_log) == []
    if step == "fetch":
        assert recorder.received() == []


async def test_a_label_that_fits_reaches_the_shipped_runbooks_escaped(
    start: Callable[..., Any], recorder: RecordingServer
) -> None:
    client = await start()
    await fire(client, "SuspiciousLogin", {"user": "alice+ops@example.com"})
    await fire(client, "DiskFull", {"instance": "[fd00::7]:9100"})

    def evidence() -> list[Any]:
        return [r for r in recorder.received() if r.path.startswith("/admin/users/")]

    (asked,) = await eventually(evidence, what="the evidence request")
    _, admin, users, user, sessions = asked.target.split("/")
    assert (admin, users, urllib.parse.unquote(user), sessions) == (
        "admin",
        "users",
        "alice+ops@example.com",
        "sessions",
    )
    assert asked.headers["Authorization"] == f"Bearer {IDP_TOKEN}"

    def silenced() -> list[Any]:
        return [r for r in recorder.received() if r.path == "/api/v2/silences"]

    (silence,) = await eventually(silenced, what="the silence")
    assert {"name": "instance", "value": "[fd00::7]:9100", "isRegex": False, "isEqual": True} in (
        silence.json()["matchers"]
    )


# --- people at manual runs ----------------------------------------------------------------------

NOT_SETTABLE = [
    ("demo-restart", "base_url", "http://127.0.0.1:1/"),
    ("security-incident", "idp_url", "http://127.0.0.1:1/"),
    ("security-incident", "idp_token", "attacker-token"),
    ("disk-filling", "pagerduty_url", "http://127.0.0.1:1/"),
    ("disk-filling", "instance", "db-1:9100"),
]
BAD_VALUES = [
    ("security-incident", "user", "../../internal/keys?x=1#"),
    ("restart-service", "service", "web\nx"),
    ("scale-out", "service", "--file=evil.yml"),
    ("clear-cache", "cache", "../../admin/restart"),
    ("dead-letter-recovery", "max_age", "forever"),
]


@pytest.mark.parametrize("token", [RESPONDER_TOKEN, ADMIN_TOKEN], ids=["responder", "admin"])
async def test_a_manual_run_sets_only_settable_params_whatever_the_role(
    start: Callable[..., Any],
    recorder: RecordingServer,
    attacker: RecordingServer,
    token: str,
) -> None:
    client = await start()
    for runbook, name, value in NOT_SETTABLE + BAD_VALUES:
        resp = await client.post(
            f"/api/v1/runbooks/{runbook}/execute",
            json={"trigger_context": {name: value}},
            headers=auth(token),
        )
        assert resp.status == 400, (runbook, name, await resp.text())
        answer = await resp.json()
        assert answer["field"] == f"params.{name}"
        expected = "expected" if (runbook, name, value) in BAD_VALUES else "not settable"
        assert expected in answer["error"], answer
        assert "attacker-token" not in await resp.text()
    viewer = await client.post(
        "/api/v1/runbooks/restart-service/execute",
        json={"trigger_context": {"service": "web"}},
        headers=auth(VIEWER_TOKEN),
    )
    assert viewer.status == 403
    assert await executions(client) == []
    assert recorder.received() == [] and attacker.received() == []


async def test_a_manual_run_for_a_hostile_alert_is_refused_naming_the_param(
    start: Callable[..., Any], recorder: RecordingServer
) -> None:
    client = await start()
    await fire(client, "CacheHitRatioLow", {"cache": "../../admin/restart"})
    await ended(client, "clear-cache")  # the automatic run failed on it already
    alerts = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    alert_id = alerts["alerts"][0]["id"]
    resp = await client.post(
        "/api/v1/runbooks/clear-cache/execute",
        json={"alert_id": alert_id},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 400 and (await resp.json())["field"] == "params.cache"
    # A person may give the value instead, and it is the one used.
    resp = await client.post(
        "/api/v1/runbooks/clear-cache/execute",
        json={"alert_id": alert_id, "trigger_context": {"cache": "sessions", "ticket": "INC-4"}},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    created = await resp.json()
    assert created["params"]["cache"] == "sessions"
    assert created["trigger_context"] == {"cache": "sessions", "ticket": "INC-4"}

    def deleted() -> list[Any]:
        return [r.target for r in recorder.received() if r.method == "DELETE"]

    assert await eventually(deleted, what="the DELETE") == ["/admin/cache/sessions"]


async def test_the_console_dry_run_form_follows_the_same_rules(
    start: Callable[..., Any], recorder: RecordingServer
) -> None:
    client = await start()
    csrf = await login(client, RESPONDER_TOKEN)
    for runbook, given, refusal in (
        ("dead-letter-recovery", "max_age=forever", "params.max_age: expected a duration"),
        ("security-incident", "idp_token=x", "params.idp_token: not settable"),
        ("security-incident", "user=../../internal/keys", "params.user: expected a value"),
    ):
        resp = await press(client, f"/console/runbooks/{runbook}/dry-run", csrf, params=given)
        assert resp.status == 400, await resp.text()
        assert refusal in await resp.text()
    assert await executions(client) == []
    assert recorder.received() == []
