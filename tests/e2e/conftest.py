"""Real processes for end-to-end tests: Firebreak (``firebreak serve``) and Alertmanager.

Each process writes its output to a log file in the test's tmp_path; when a test fails, the
tail of every log is attached to the report. Every wait is bounded and every process is
stopped (SIGTERM, then SIGKILL after 10 s) when the test ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, config_text
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "alertmanager.yml"

# Seconds for a process to answer its readiness endpoint: a bound on one that never does (one
# that exits fails at once). Started alongside other tests' processes on a loaded two-core
# machine, `firebreak serve` (about 1.3 s of CPU to start) took more than 15 s.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL_LINES = 80

# Timings written into the test copy of alertmanager.yml so notifications come in seconds.
GROUP_WAIT = 1.0
GROUP_INTERVAL = 2.0
REPEAT_INTERVAL = 4.0

_LOGS = pytest.StashKey[dict[str, Path]]()


# --- reporting ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of each process log to a failed test's report."""
    report = yield
    if report.failed:
        for name, path in item.stash.get(_LOGS, {}).items():
            report.sections.append((f"{name} log ({path})", _tail(path)))
    return report


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


def register_log(request: pytest.FixtureRequest, name: str, path: Path) -> None:
    """Attach the tail of the log at ``path`` to the test's report should it fail."""
    request.node.stash.setdefault(_LOGS, {})[name] = path


# --- helpers -----------------------------------------------------------------------------------


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) for any status, raises only on no answer."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    procs: tuple[subprocess.Popen[bytes], ...] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    Fails at once if one of ``procs`` exits meanwhile. Exceptions from ``check`` count as
    "not yet" (a server that is still starting refuses connections).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        for proc in procs:
            if proc.poll() is not None:
                args = proc.args
                name = Path(str(args[0] if isinstance(args, list) else args)).name
                pytest.fail(f"{what}: {name} exited with code {proc.returncode}")
        try:
            last = check()
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not done after {timeout:g} s (last result: {last!r})")
        time.sleep(interval)


def _start(cmd: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:  # a restarted process carries on the same log
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process is still there after STOP_TIMEOUT seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


# --- binaries ----------------------------------------------------------------------------------


def serve(command: list[str], port: int, log: Path) -> Iterator[str]:
    """Run ``command`` until the test ends; yields its URL once ``/-/ready`` answers."""
    proc = _start(command, log, cwd=log.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http("GET", url + "/-/ready", timeout=1)[0] == 200,
            timeout=START_TIMEOUT,
            what=f"{Path(command[0]).name} GET /-/ready",
            procs=(proc,),
        )
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    """Alertmanager's executable: Debian's ``prometheus-alertmanager`` or upstream's name."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "Alertmanager is not installed (neither prometheus-alertmanager nor alertmanager is on "
        "PATH); install it with `scripts/system-deps.sh test`"
    )


@pytest.fixture(scope="session")
def amtool_bin(alertmanager_bin: str) -> str:
    """``amtool``, preferably the one installed beside Alertmanager."""
    beside = Path(alertmanager_bin).with_name("amtool")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("amtool")
    if found:
        return found
    pytest.skip("amtool is not installed; install it with `scripts/system-deps.sh test`")


def amtool_check_config(amtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool, "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# --- Firebreak ---------------------------------------------------------------------------------


@dataclass
class FirebreakServer:
    """A running ``firebreak serve`` (on its own SQLite file unless ``db_path`` is None)."""

    url: str
    db_path: Path | None
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    webhook_token: str = WEBHOOK_TOKEN
    viewer_token: str = VIEWER_TOKEN
    admin_token: str = ADMIN_TOKEN

    def get_json(self, path: str, token: str | None = None) -> Any:
        status, body = http("GET", self.url + path, token=token or self.viewer_token)
        assert status == 200, f"GET {path}: {status} {body[:500]!r}"
        return json.loads(body)

    def alerts(self) -> list[dict[str, Any]]:
        """Every stored alert occurrence, through the API (following next_cursor)."""
        found: list[dict[str, Any]] = []
        path = "/api/v1/alerts?limit=1000"
        while True:
            page = self.get_json(path)
            found.extend(page["alerts"])
            if not page["next_cursor"]:
                return found
            path = f"/api/v1/alerts?limit=1000&cursor={page['next_cursor']}"

    def executions(self) -> list[dict[str, Any]]:
        """The newest runbook executions (up to a page), through the API."""
        found: list[dict[str, Any]] = self.get_json("/api/v1/executions")["executions"]
        return found

    def jobs(self, query: str = "") -> list[dict[str, Any]]:
        """Jobs through ``/api/v1/jobs?query`` (up to 1000, newest first)."""
        found: list[dict[str, Any]] = self.get_json(f"/api/v1/jobs?limit=1000&{query}")["jobs"]
        return found

    def metric(self, name: str, labels: str = "") -> float:
        """One sample of /metrics, e.g. ``metric("x_total", 'code="200"')``; 0 if absent."""
        status, body = http("GET", self.url + "/metrics")
        assert status == 200, f"GET /metrics: {status}"
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in body.decode().splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == wanted:
                return float(value)
        return 0.0

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the SQLite file directly, beside the running server."""
        assert self.db_path is not None, "query() reads SQLite; this server is on PostgreSQL"
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture
def firebreak_extra_config() -> str:
    """More firebreak.yml for the server (a test module overrides this fixture)."""
    return ""


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process listens on for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def alertmanager_port() -> int:
    """Alertmanager's port, known before Firebreak starts so Firebreak can be told it."""
    return free_port()


def write_firebreak_config(path: Path, db_url: str, port: int, extra: str = "") -> Path:
    """The tests' firebreak.yml (``tests.conftest.config_text``) listening on ``port``."""
    text = config_text(db_url, extra)
    default_listen = 'listen: "127.0.0.1:9095"'
    assert default_listen in text, "tests.conftest.config_text no longer sets listen as expected"
    path.write_text(text.replace(default_listen, f'listen: "127.0.0.1:{port}"'))
    return path


def serve_command(config_path: Path) -> list[str]:
    """``firebreak serve`` with this configuration, from this checkout."""
    return [sys.executable, "-m", "receiver.cli", "serve", "--config", str(config_path)]


def start_firebreak(
    config_path: Path, url: str, log_path: Path, *, timeout: float = START_TIMEOUT
) -> subprocess.Popen[bytes]:
    """``firebreak serve --config config_path``, once it answers ``url/health``; its output is
    appended to ``log_path``. Stopped again if it does not come up.

    Ready only once this process has said it listens: another test's server that took the port
    a moment after it was found free would answer ``/health`` too, while this one exits."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    proc = _start(serve_command(config_path), log_path, cwd=ROOT)

    def ours() -> bool:
        return proc.poll() is None and b"listening on" in log_path.read_bytes()[offset:]

    def ready() -> bool:
        if url.startswith("https:"):  # the test checks the certificate itself; here, only
            port = int(url.rsplit(":", 1)[1])  # that it listens
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return ours()
        return http("GET", url + "/health", timeout=1)[0] == 200 and ours()

    try:
        wait_until(
            ready,
            timeout=timeout,
            what=f"firebreak GET {url}/health",
            procs=(proc,),
        )
    except BaseException:
        _stop(proc)
        raise
    return proc


@pytest.fixture
def firebreak_server(
    request: pytest.FixtureRequest, tmp_path: Path, firebreak_extra_config: str
) -> Iterator[FirebreakServer]:
    """``firebreak serve`` on a free loopback port and a fresh SQLite file."""
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    config_path = write_firebreak_config(
        tmp_path / "firebreak.yml", f"sqlite+aiosqlite:///{db_path}", port, firebreak_extra_config
    )
    log_path = tmp_path / "firebreak.log"
    register_log(request, "firebreak", log_path)
    tls = "\ntls:" in firebreak_extra_config
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    server = FirebreakServer(
        url=url,
        db_path=db_path,
        config_path=config_path,
        log_path=log_path,
        proc=start_firebreak(config_path, url, log_path),
    )
    try:
        yield server
    finally:
        _stop(server.proc)  # the process now serving: a test may have restarted it


# --- Alertmanager ------------------------------------------------------------------------------


@dataclass
class Alertmanager:
    """A running Alertmanager whose only receiver is the test's Firebreak."""

    url: str
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    config: dict[str, Any] = field(default_factory=dict)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        status, body = http("POST", self.url + "/api/v2/alerts", body=alerts)
        assert status == 200, f"POST /api/v2/alerts: {status} {body[:500]!r}"

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http("GET", self.url + "/api/v2/alerts")
        assert status == 200, f"GET /api/v2/alerts: {status} {body[:500]!r}"
        result: list[dict[str, Any]] = json.loads(body)
        return result


def _seconds(value: float) -> str:
    return f"{value:g}s"


def rewrite_for_test(config: dict[str, Any], webhook_url: str, token_file: Path) -> dict[str, Any]:
    """The shipped configuration pointed at a test server, with timings in seconds."""
    receivers = [r for r in config.get("receivers", []) if r.get("name") == "firebreak"]
    assert len(receivers) == 1, "the shipped alertmanager.yml must have one 'firebreak' receiver"
    hooks = receivers[0].get("webhook_configs") or []
    assert hooks, "the 'firebreak' receiver has no webhook_configs"
    for hook in hooks:
        hook["url"] = webhook_url
        hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    route = config["route"]
    route["group_wait"] = _seconds(GROUP_WAIT)
    route["group_interval"] = _seconds(GROUP_INTERVAL)
    route["repeat_interval"] = _seconds(REPEAT_INTERVAL)
    return config


@pytest.fixture
def alertmanager_edit() -> Callable[[dict[str, Any]], None]:
    """Changes to the test copy of alertmanager.yml (a test module overrides this fixture)."""
    return lambda _config: None


@contextlib.contextmanager
def running_alertmanager(
    request: pytest.FixtureRequest,
    workdir: Path,
    binaries: tuple[str, str],
    webhook_url: str,
    port: int,
    *,
    name: str = "alertmanager",
    edit: Callable[[dict[str, Any]], None] = lambda _config: None,
    cluster: tuple[str, ...] = ("--cluster.listen-address=",),  # no gossip: a single instance
) -> Iterator[Alertmanager]:
    """Alertmanager (``binaries``: it and amtool) on ``127.0.0.1:port``, notifying
    ``webhook_url`` with the shipped configuration; its files go in ``workdir/name*``.
    Stopped on leaving the block, whatever happened."""
    token_file = workdir / f"{name}-token"
    token_file.write_text(WEBHOOK_TOKEN + "\n")
    token_file.chmod(0o600)
    config = yaml.safe_load(SHIPPED_ALERTMANAGER_CONFIG.read_text())
    config = rewrite_for_test(config, webhook_url, token_file)
    edit(config)
    config_path = workdir / f"{name}.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    checked = amtool_check_config(binaries[1], config_path)
    assert checked.returncode == 0, (
        f"amtool check-config rejected the test config:\n{checked.stdout}{checked.stderr}"
    )
    storage = workdir / f"{name}-data"
    storage.mkdir()
    log_path = workdir / f"{name}.log"
    register_log(request, name, log_path)
    cmd = [
        binaries[0],
        f"--config.file={config_path}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        *cluster,
        "--log.level=debug",
    ]
    proc = _start(cmd, log_path, cwd=workdir)
    manager = Alertmanager(
        url=f"http://127.0.0.1:{port}",
        config_path=config_path,
        log_path=log_path,
        proc=proc,
        config=config,
    )
    try:
        wait_until(
            lambda: http("GET", manager.url + "/-/ready", timeout=1)[0] == 200,
            timeout=START_TIMEOUT,
            what=f"{name} GET /-/ready",
            procs=(proc,),
        )
        yield manager
    finally:
        _stop(proc)


@pytest.fixture
def alertmanager(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    alertmanager_bin: str,
    amtool_bin: str,
    firebreak_server: FirebreakServer,
    alertmanager_port: int,
    alertmanager_edit: Callable[[dict[str, Any]], None],
) -> Iterator[Alertmanager]:
    """Alertmanager on a free loopback port, without clustering, notifying Firebreak."""
    assert firebreak_server.webhook_token == WEBHOOK_TOKEN
    with running_alertmanager(
        request,
        tmp_path,
        (alertmanager_bin, amtool_bin),
        firebreak_server.url + "/webhook",
        alertmanager_port,
        edit=alertmanager_edit,
    ) as manager:
        yield manager


@pytest.fixture
def alertmanager_url(tmp_path: Path, alertmanager_bin: str) -> Iterator[str]:
    """A bare Alertmanager (no receivers to speak of) to hold silences."""
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    config_path = tmp_path / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config))
    storage = tmp_path / "alertmanager-data"
    storage.mkdir()
    port = free_port()
    proc = _start(
        [
            alertmanager_bin,
            f"--config.file={config_path}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http("GET", url + "/-/ready", timeout=1)[0] == 200,
            timeout=START_TIMEOUT,
            what="alertmanager GET /-/ready",
            procs=(proc,),
        )
        yield url
    finally:
        _stop(proc)
