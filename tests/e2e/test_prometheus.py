"""A real Prometheus, configured from prometheus/prometheus.yml and loading rules/, scrapes a
real ``firebreak serve`` and the demo service every second; every PromQL expression of every
rule file and dashboard is then evaluated through its HTTP API.

Firebreak is given work that makes its metrics exist: firing alerts on the default policy
(the ``log`` channel), an acknowledgement, a resolve, a channel whose far side refuses (a
dead letter) and one that fails with its breaker set to open at the first failure, the
Watchdog, an unsigned PagerDuty webhook, a retention period of seconds, and an Alertmanager
URL that never answers as one. The demo
service gets its three faults. The alerts these cause must show in Prometheus, pending or
firing: the rules read the names and labels the two services really export.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, config_text
from tests.e2e.conftest import (
    START_TIMEOUT,
    FirebreakServer,
    _start,
    _stop,
    free_port,
    http,
    register_log,
    serve_command,
    wait_until,
)
from tests.payloads import alert, webhook
from tests.stack.conftest import (
    PROMETHEUS_CONFIG,
    RULES_DIR,
    _binary,
    dashboard_queries,
    dashboards,
    rules,
    substitute,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EVENTS_TIMEOUT = 20.0  # webhook to dead letter, open breaker and recorded resolve, with room

# Dashboard queries that may return nothing against this stack, each with the reason. Every
# other dashboard query must return at least one sample that is a number.
MAY_BE_EMPTY = {
    # Reconciliation puts alerts right only after a lost webhook, an alert Alertmanager
    # dropped or a truncated group; tests/e2e/test_reconcile.py makes those happen with a
    # real Alertmanager.
    "sum by (action) (increase(firebreak_reconciled_alerts_total"
    '{job="firebreak"}[1m]))': "counted only when reconciliation corrects something",
    # Only a failing database produces a store error; breaking it under a running server
    # is a test of its own (tests/e2e/test_crash.py), not of a dashboard.
    'sum by (operation) (rate(firebreak_store_errors_total{job="firebreak"}[1m]))': (
        "counted only when a database operation fails"
    ),
    # This stack has no Slack app; tests/api/test_slack_commands.py counts Slack actions.
    "sum by (action, outcome) (increase(firebreak_slack_actions_total"
    '{job="firebreak"}[1h]))': "counted only when Slack is configured and used",
    # This stack has no schedules; tests/oncall/test_paging_schedules.py meets a gap.
    "sum by (schedule) (increase(firebreak_oncall_gaps_total"
    '{job="firebreak"}[1m]))': "counted only when a tier finds nobody on call",
}


# --- a far side for Firebreak's webhook channels --------------------------------------------


class _FarSide(BaseHTTPRequestHandler):
    """/refuse answers 400 (a dead letter at once); /fail answers 500 (the breaker opens)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(400 if self.path == "/refuse" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture
def far_side() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FarSide)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- processes ---------------------------------------------------------------------------------


# Runbooks for the events the runbook panels show: one that succeeds for every alert (several
# alerts at once exceed its concurrency, so storm control trips too), and one whose approval
# nobody gives (it times out, so the execution fails and a wait is measured).
LIVE_RUNBOOKS = {
    "live-ok": """
id: live-ok
title: Wait a moment
match: ['alertname=~".+"']
steps:
  - id: pause
    wait: {duration: 50ms}
""",
    "live-approval": """
id: live-approval
title: Ask and hear nothing
match: ['alertname=~"Refused|Later"']
steps:
  - id: ask
    approval: {message: "Go ahead?", approvers: ["role:admin"], timeout: 1s}
""",
}


HEARTBEAT_TOKEN = "nightly-backup-token-0123456789"


def _extra_config(far_side: str) -> str:
    # The far side is no Alertmanager: every comparison with it fails (a reconcile run counted
    # as unavailable or rejected), which is what the alert on it is about.
    return f"""
notifications:
  group_window: 100ms
watchdog:
  alertname: Watchdog
  timeout: 1h
  check_interval: 1s
heartbeats:
  nightly-backup: {{token: "{HEARTBEAT_TOKEN}", interval: 1d}}
alertmanager:
  url: "{far_side}"
  reconcile_interval: 1s
  resolve_grace: 1h
retention:
  period: 2s
  interval: 1s
automation:
  mode: live
  runbooks: ["runbooks/*.yml"]
channels:
  refusing:
    type: webhook
    webhook: {{url: "{far_side}/refuse", timeout: 2s}}
  failing:
    type: webhook
    webhook: {{url: "{far_side}/fail", timeout: 2s}}
    breaker: {{failure_threshold: 1, open_cooldown: 10m, half_open_probe_count: 1}}
escalation_policies:
  refusing: {{tiers: [{{notify: [refusing]}}]}}
  failing: {{tiers: [{{notify: [failing]}}]}}
routes:
  - {{name: refusing, match: 'channel="refusing"', escalation_policy: refusing}}
  - {{name: failing, match: 'channel="failing"', escalation_policy: failing}}
"""


@pytest.fixture
def firebreak(
    request: pytest.FixtureRequest, tmp_path: Path, far_side: str
) -> Iterator[FirebreakServer]:
    """``firebreak serve`` on SQLite; its default policy notifies the ``log`` channel."""
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    text = config_text(f"sqlite+aiosqlite:///{db_path}", _extra_config(far_side))
    config_path = tmp_path / "firebreak.yml"
    config_path.write_text(text.replace("127.0.0.1:9095", f"127.0.0.1:{port}"))
    (tmp_path / "runbooks").mkdir()
    for name, runbook in LIVE_RUNBOOKS.items():
        (tmp_path / "runbooks" / f"{name}.yml").write_text(runbook)
    log_path = tmp_path / "firebreak.log"
    register_log(request, "firebreak", log_path)
    cmd = serve_command(config_path)
    proc = _start(cmd, log_path, cwd=ROOT)
    server = FirebreakServer(f"http://127.0.0.1:{port}", db_path, config_path, log_path, proc)
    try:
        _wait_healthy(server.url, proc, "firebreak")
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def demo_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``python -m examples.demo_app`` sending itself 20 requests a second."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    register_log(request, "demo", log_path)
    cmd = [sys.executable, "-m", "examples.demo_app", "--port", str(port), "--load-rate", "20"]
    proc = _start(cmd, log_path, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, "demo")
        yield url
    finally:
        _stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    wait_until(
        lambda: http("GET", url + "/health", timeout=1)[0] == 200,
        timeout=START_TIMEOUT,
        what=f"{what} GET /health",
        procs=(proc,),
    )


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]

    def query(self, expr: str) -> dict[str, Any]:
        """``/api/v1/query``; the whole answer, whatever its status."""
        path = "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        _status, body = http("GET", self.url + path, timeout=10)
        answer: dict[str, Any] = json.loads(body)
        return answer

    def samples(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


def config_for(firebreak_url: str, demo_url: str, prometheus_url: str) -> dict[str, Any]:
    """prometheus/prometheus.yml with its firebreak and demo targets pointed at the test's
    processes, scraping and evaluating every second, and rules/ by absolute path."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    config.pop("alerting")  # no Alertmanager here; the alerts are read from Prometheus
    targets = {
        "firebreak": urllib.parse.urlsplit(firebreak_url).netloc,
        "demo": urllib.parse.urlsplit(demo_url).netloc,
        "prometheus": urllib.parse.urlsplit(prometheus_url).netloc,
    }
    config["scrape_configs"] = [
        {**job, "static_configs": [{"targets": [targets[job["job_name"]]]}]}
        for job in config["scrape_configs"]
        if job["job_name"] in targets
    ]
    assert len(config["scrape_configs"]) == len(targets), "a job of prometheus.yml went missing"
    return config


@pytest.fixture
def prometheus(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    firebreak: FirebreakServer,
    demo_app: str,
) -> Iterator[Prometheus]:
    binary = _binary("prometheus")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config_for(firebreak.url, demo_app, url)))
    log_path = tmp_path / "prometheus.log"
    register_log(request, "prometheus", log_path)
    cmd = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = _start(cmd, log_path, cwd=tmp_path)
    server = Prometheus(url, proc)
    try:
        wait_until(
            lambda: http("GET", url + "/-/ready", timeout=1)[0] == 200,
            timeout=START_TIMEOUT,
            what="prometheus GET /-/ready",
            procs=(proc,),
        )
        yield server
    finally:
        _stop(proc)


# --- the test ----------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _post_webhook(server: FirebreakServer, *alerts: dict[str, Any]) -> None:
    alertname = alerts[0]["labels"]["alertname"]
    group_key = f'{{}}:{{alertname="{alertname}"}}'
    status, body = http(
        "POST",
        server.url + "/webhook",
        token=server.webhook_token,
        body=webhook(*alerts, group_key=group_key),
    )
    assert status == 200, body


def _give_firebreak_work(server: FirebreakServer) -> None:
    now = datetime.now(UTC)
    started = _rfc3339(now - timedelta(minutes=3))
    logged = [
        alert(f"Logged{i}", starts_at=started, labels={"severity": severity})
        for i, severity in enumerate(["critical", "warning", "critical"])
    ]
    _post_webhook(server, *logged)
    _post_webhook(server, alert("Refused", starts_at=started, labels={"channel": "refusing"}))
    _post_webhook(server, alert("Failing", starts_at=started, labels={"channel": "failing"}))
    stored = {a["labels"]["alertname"]: a["id"] for a in server.alerts()}
    status, body = http(
        "POST",
        f"{server.url}/api/v1/alerts/{stored['Logged0']}/acknowledge",
        token=RESPONDER_TOKEN,
        body={},
    )
    assert status == 200, body
    # A configuration reload, so the reload panel has something to count.
    status, body = http("POST", f"{server.url}/-/reload", token=ADMIN_TOKEN, body={})
    assert status == 200, body
    resolved = alert(
        "Logged1",
        status="resolved",
        starts_at=started,
        ends_at=_rfc3339(now),
        labels={"severity": "warning"},
    )
    _post_webhook(server, resolved)
    _post_webhook(server, alert("Watchdog", starts_at=started, labels={"severity": "none"}))
    # A backup reports in, so its heartbeat has a last beat to show.
    status, body = http(
        "POST", f"{server.url}/api/v1/heartbeats/nightly-backup", token=HEARTBEAT_TOKEN, body={}
    )
    assert status == 200, body
    # PagerDuty's webhook without a signature is refused (and counted).
    status, body = http("POST", server.url + "/integrations/pagerduty/webhook", body={})
    assert status in (400, 401, 403), body


def _alert_states(prometheus: Prometheus) -> set[tuple[str, str]]:
    return {
        (s["metric"]["alertname"], s["metric"]["alertstate"]) for s in prometheus.samples("ALERTS")
    }


def _value(prometheus: Prometheus, expr: str) -> float:
    (sample,) = prometheus.samples(expr)
    return float(sample["value"][1])


def _has_value(prometheus: Prometheus, expr: str) -> bool:
    return bool(prometheus.samples(expr))


def test_every_rule_and_dashboard_query_evaluates(
    prometheus: Prometheus, firebreak: FirebreakServer, demo_app: str
) -> None:
    wait_until(
        lambda: (
            _has_value(prometheus, 'up{job="firebreak"} == 1')
            and _has_value(prometheus, 'up{job="demo"} == 1')
        ),
        timeout=START_TIMEOUT,
        what="Prometheus scraped Firebreak and the demo service",
    )
    # Counters must move after the first scrape for rates and increases to see them.
    _give_firebreak_work(firebreak)
    for fault in ("errors", "latency", "queue"):
        status, body = http("POST", f"{demo_app}/admin/fault/{fault}", body={})
        assert status == 200, body
    for expr in [
        'firebreak_jobs_dead_lettered_total{job="firebreak"} > 0',
        'firebreak_circuit_breaker_state{job="firebreak", channel="failing"} == 2',
        'firebreak_time_to_acknowledge_seconds_count{job="firebreak"} > 0',
        'firebreak_time_to_resolve_seconds_count{job="firebreak"} > 0',
        'firebreak_escalations_total{job="firebreak"} > 0',
        'firebreak_notifications_total{job="firebreak", channel="log"} > 0',
        'firebreak_watchdog_last_seen_timestamp_seconds{job="firebreak"} > 0',
        'firebreak_heartbeat_last_beat_timestamp_seconds{job="firebreak"} > 0',
        'firebreak_purged_rows_total{job="firebreak"} > 0',
        'firebreak_pagerduty_webhooks_total{job="firebreak", outcome="refused"} > 0',
        'firebreak_runbook_executions_total{job="firebreak", outcome="succeeded"} > 0',
        'firebreak_runbook_approval_wait_seconds_count{job="firebreak"} > 0',
    ]:
        wait_until(lambda e=expr: _has_value(prometheus, e), timeout=EVENTS_TIMEOUT, what=expr)
    # Series with labels (job kinds, channels) are born at their first event; a histogram
    # quantile over them needs a later event too, seen by a later scrape.
    jobs_run = 'sum(firebreak_job_duration_seconds_count{job="firebreak"})'
    before = _value(prometheus, jobs_run)
    _post_webhook(firebreak, alert("Later", labels={"severity": "warning"}))
    wait_until(
        lambda: _value(prometheus, jobs_run) > before, timeout=EVENTS_TIMEOUT, what="more jobs"
    )
    time.sleep(3)  # a few more scrapes and rule evaluations (every second) after the last event

    # The rules match what Firebreak and the demo really export: these fire (or wait out
    # their "for") on the events and faults above.
    expected = {
        ("Watchdog", "firing"),
        ("FirebreakJobsDeadLettered", "firing"),
        ("FirebreakCircuitBreakerOpen", "pending"),
        ("DemoHighErrorRatio", "pending"),
        ("DemoLatencySLOBurn", "firing"),
        ("DemoQueueDepthClimbing", "pending"),
        ("FirebreakReconcileFailing", "pending"),
    }
    wait_until(
        lambda: expected <= _alert_states(prometheus),
        timeout=EVENTS_TIMEOUT,
        what=f"alerts {sorted(expected)}",
    )

    failures: list[str] = []
    for rule in rules():
        answer = prometheus.query(str(rule["expr"]))
        if answer["status"] != "success":
            name = rule.get("alert", rule.get("record"))
            failures.append(f"{rule['file']} {name}: {answer.get('error')}")
    for name, panel, expr in dashboard_queries():
        job = "demo" if name.startswith("demo") else "firebreak"
        query = substitute(expr, job)
        answer = prometheus.query(query)
        if answer["status"] != "success":
            failures.append(f"{name} / {panel}: {query}: {answer.get('error')}")
            continue
        numbers = [
            float(sample["value"][1])
            for sample in answer["data"]["result"]
            if not math.isnan(float(sample["value"][1]))
        ]
        if not numbers and query not in MAY_BE_EMPTY:
            failures.append(f"{name} / {panel}: no data: {query} -> {answer['data']['result']}")
        if numbers and query in MAY_BE_EMPTY:
            failures.append(f"{name} / {panel} has data now: remove it from MAY_BE_EMPTY")
    # The $job variable's choices (label_values(metric, job)) include its default.
    for name, dashboard in dashboards().items():
        (job,) = [v for v in dashboard["templating"]["list"] if v["name"] == "job"]
        found = re.fullmatch(r"label_values\((.+), job\)", job["query"]["query"])
        assert found, f"{name}: unexpected $job query {job['query']['query']}"
        path = "/api/v1/label/job/values?" + urllib.parse.urlencode({"match[]": found[1]})
        _status, body = http("GET", prometheus.url + path)
        if job["current"]["value"] not in json.loads(body)["data"]:
            failures.append(f"{name}: $job offers no {job['current']['value']}")
    assert not failures, "\n".join(failures)


def test_the_queries_allowed_to_be_empty_are_dashboard_queries() -> None:
    queries = {substitute(expr, "firebreak") for _name, _panel, expr in dashboard_queries()}
    assert set(MAY_BE_EMPTY) <= queries
