"""The OpenAPI document: it names every route, and the live server keeps to it under fuzzing."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from receiver.api.openapi import openapi_document
from receiver.app import create_app
from receiver.config import parse_config
from receiver.web.middleware import CONSOLE_ROUTE_PREFIX
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.ports import free_port


def _routes() -> set[tuple[str, str]]:
    app = create_app(parse_config(config_text("sqlite+aiosqlite:///unused.db"), env={}))
    found = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):  # aiohttp adds HEAD beside every GET
            continue
        if (route.name or "").startswith(CONSOLE_ROUTE_PREFIX):
            continue  # the console's HTML pages and forms are not the JSON API
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        found.add((route.method.lower(), str(path)))
    return found


def _documented() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    routes, documented = _routes(), _documented()
    assert routes - documented == set(), "routes without an OpenAPI entry"
    assert documented - routes == set(), "OpenAPI entries without a route"


def test_only_the_console_is_left_out_of_the_document() -> None:
    app = create_app(parse_config(config_text("sqlite+aiosqlite:///unused.db"), env={}))
    console = {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource and (route.name or "").startswith(CONSOLE_ROUTE_PREFIX)
    }
    assert "/" in console and "/console/login" in console
    assert not any(path.startswith(("/api/", "/health", "/metrics")) for path in console)


def test_every_operation_documents_its_errors_in_the_one_shape() -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            statuses = operation["responses"]
            assert any(s.startswith("2") for s in statuses), (method, path)
            if operation["security"]:  # authenticated: 401 documented, 403 with roles
                assert "401" in statuses, (method, path)
            if operation["security"] == [{"bearer": []}]:
                assert "403" in statuses, (method, path)
            for status, response in statuses.items():
                if status == "417":  # the HTTP server's own answer, before any route
                    assert list(response["content"]) == ["text/plain"], (method, path)
                elif status.startswith(("4",)):
                    assert response["content"]["application/json"]["schema"] == error


async def test_served_without_authentication(client: Any) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    body = await resp.json()
    assert body["openapi"].startswith("3.1")
    assert "/webhook" in body["paths"]
    assert body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# --- schemathesis against a live server -------------------------------------------------------

RUNBOOK = """
id: fuzz-wait
title: A runbook the fuzzer may start
steps:
  - id: pause
    wait: {duration: 1s}
"""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``firebreak serve`` on a loopback port and a throwaway SQLite file."""
    base = tmp_path_factory.mktemp("fuzz")
    (base / "runbooks").mkdir()
    (base / "runbooks" / "fuzz-wait.yml").write_text(RUNBOOK)
    port = free_port()
    # Every unauthenticated call counts as a failed authentication: with the default limit the
    # token-bearing calls from the same address would soon be answered 429 only.
    text = config_text(f"sqlite+aiosqlite:///{base / 'firebreak.db'}").replace(
        "127.0.0.1:9095", f"127.0.0.1:{port}"
    )
    text = text.replace("api:\n", "api:\n  auth_failure_limit: 1000000\n", 1)
    text += "automation:\n  runbooks: ['runbooks/*.yml']\nlog:\n  level: error\n"
    text = text.replace("log:\n  level: debug\n  format: console\n", "")
    path: Path = base / "firebreak.yml"
    path.write_text(text)
    process = subprocess.Popen(
        [sys.executable, "-m", "receiver.cli", "serve", "--config", str(path)],
        cwd=base,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=open(base / "serve.log", "wb"),  # noqa: SIM115 (the child holds it)
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError((base / "serve.log").read_text()) from None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)
    log = (base / "serve.log").read_text()
    assert "unhandled error" not in log, log


def test_an_expectation_other_than_100_continue_is_417_as_documented(live_server: str) -> None:
    """The HTTP server answers it before any route: every operation documents it, so the
    fuzzer's random Expect headers meet a documented status."""
    for path in ("/api/v1/runbooks/fuzz-wait", "/health"):
        request = urllib.request.Request(
            live_server + path, headers={"Expect": "debug", **auth(ADMIN_TOKEN)}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=5)
        assert answer.value.code == 417, path
    operations = [op for item in openapi_document()["paths"].values() for op in item.values()]
    assert operations and all("417" in op["responses"] for op in operations)


# Bounded so the suite stays quick; FIREBREAK_FUZZ_EXAMPLES=500 digs deeper by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("FIREBREAK_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


# Headers that frame the HTTP message itself: a malformed one is refused by the HTTP parser
# before any route (400, text/plain), which tests/security/test_edge_*.py cover; here the fuzzer
# exercises the API, so it does not send them.
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def _api_only(case: Any) -> Any:
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() not in FRAMING}
    return case


# One test per documented operation, named as schemathesis names it ("GET /api/v1/alerts").
# The operations come from the document itself, which costs nothing to read. schemathesis's
# own collection (``schema.parametrize()``, its pytest plugin) imported schemathesis and
# worked out every operation's coverage cases while collecting, in every pytest-xdist worker,
# whether or not the worker then ran a fuzz test (2 to 5 s of CPU each); its lazy loader
# (``schemathesis.pytest.from_fixture``) fails on pytest 9.2. Here schemathesis is imported
# and the schema loaded once per worker, by the first fuzz test that worker runs, and each
# test builds its own operation's cases with the plugin's test builder: the same phases
# (examples, coverage, fuzzing), seeds and checks. The plugin itself is switched off
# (``-p no:schemathesis`` in pyproject.toml) so that no worker imports schemathesis for
# nothing.
OPERATIONS = [
    pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
    for path, methods in openapi_document()["paths"].items()
    for method in methods
]


@functools.cache
def _fuzz_schema() -> Any:
    import schemathesis

    return schemathesis.openapi.from_dict(openapi_document())


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def _fuzz(method: str, path: str, call: Callable[[Any], None]) -> None:
    """Run ``call`` on every case schemathesis draws for one operation, as its pytest plugin
    would: its test builder, the schema's configuration, the operation's derived seed."""
    from schemathesis.checks import load_all_checks
    from schemathesis.core.failures import FailureGroup, as_reported_failure
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.generation.hypothesis.reporting import ignore_hypothesis_output
    from schemathesis.pytest._test_builder import build_operation_test
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    schema = _fuzz_schema()
    load_all_checks()
    test = build_operation_test(
        config=schema.config,
        operation=schema[path][method],
        test_func=FUZZ(call),
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
    )
    try:
        with ignore_hypothesis_output():
            test()
    except FailureGroup as failures:
        raise as_reported_failure(failures) from None


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_with_an_admin_token(method: str, path: str, live_server: str) -> None:
    headers = auth(WEBHOOK_TOKEN if path == "/webhook" else ADMIN_TOKEN)
    checks = _checks()

    def call(case: Any) -> None:
        _api_only(case).call_and_validate(
            base_url=live_server, headers=headers, checks=checks, timeout=10
        )

    _fuzz(method, path, call)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_without_a_token(method: str, path: str, live_server: str) -> None:
    checks = _checks()

    def call(case: Any) -> None:
        _api_only(case).call_and_validate(base_url=live_server, checks=checks, timeout=10)

    _fuzz(method, path, call)
