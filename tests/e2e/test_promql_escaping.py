"""The ``promql_string`` filter against a real Prometheus: what it escapes, Prometheus reads
back as the very value, and a hostile label value cannot turn a query that finds nothing into
one that finds something (the "recovered" check a ``promql`` step makes)."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from receiver.automation.templating import render
from tests.e2e.conftest import (
    START_TIMEOUT,
    _start,
    _stop,
    free_port,
    http,
    wait_until,
)

VALUES = [
    '"} or vector(1) or {a="',
    "back\\slash \\d+ \\",
    'quote " and \\"',
    "line\nbreak\rand\ttab",
    "control \x01\x1b\x7f",
    "ünïcödé ✓ 日本",
    "`backtick` 'single'",
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian's prometheus package)")
    base = tmp_path_factory.mktemp("prometheus")
    config = base / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 1m}\nscrape_configs: []\n")
    port = free_port()
    proc = _start(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        base / "prometheus.log",
        cwd=base,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http("GET", url + "/-/ready", timeout=1)[0] == 200,
            timeout=START_TIMEOUT,
            what="prometheus GET /-/ready",
            procs=(proc,),
        )
        yield url
    finally:
        _stop(proc)


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    status, body = http("GET", f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    answer: dict[str, Any] = json.loads(body)
    assert status == 200 and answer["status"] == "success", (expr, answer)
    return answer["data"]  # type: ignore[no-any-return]


def _rendered(template: str, value: str) -> str:
    return render(template, {"params": {"value": value}}, where="steps.check.promql.query")


@pytest.mark.parametrize("value", VALUES)
def test_prometheus_reads_the_escaped_string_back_as_the_value(prometheus: str, value: str) -> None:
    expr = _rendered(
        'label_replace(vector(1), "got", "{{ params.value | promql_string }}", "", "")', value
    )
    (sample,) = _query(prometheus, expr)["result"]
    assert sample["metric"] == {"got": value}


def test_a_hostile_label_value_does_not_make_an_empty_query_find_something(
    prometheus: str,
) -> None:
    value = '"} or vector(1) or {a="'
    template = 'cache_hit_ratio{cache="{{ params.value | promql_string }}", job="cache"}'
    assert _query(prometheus, _rendered(template, value))["result"] == []
    # The same value unescaped is the attack: the query now answers 1, so "recovered" passes.
    unescaped = 'cache_hit_ratio{cache="{{ params.value }}", job="cache"}'
    (sample,) = _query(prometheus, _rendered(unescaped, value))["result"]
    assert sample["value"][1] == "1"
