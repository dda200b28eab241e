"""What the chaos scenarios share: Firebreak replicas that can be killed and started again, a
notification receiver that records every delivery and can be made to fail, a private
PostgreSQL server the test may stop, and the tally each scenario prints.

Processes are started through the helpers of ``tests/e2e/conftest.py`` (their logs are attached
to a failed test's report) and every one is stopped when its test ends, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_pg_database
from tests.e2e.conftest import (
    FirebreakServer,
    _stop,
    alertmanager_bin,
    amtool_bin,
    free_port,
    http,
    pytest_runtest_makereport,
    register_log,
    start_firebreak,
    write_firebreak_config,
)
from tests.fakes.recording_receiver import RecordingReceiver

# Fixtures and the report hook of the end-to-end suite, used here as they are.
__all__ = ["alertmanager_bin", "amtool_bin", "pytest_runtest_makereport"]

PG_START_TIMEOUT = 30.0


# --- the tally ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What a scenario injected and what it counted; printed with the test's output."""

    scenario: str
    injected: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def inject(self, what: str) -> None:
        self.injected.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"[{self.scenario}] injected: {what}", flush=True)

    def count(self, **counts: int) -> None:
        """Record the counts and print the whole tally (before the test asserts on them)."""
        self.counts.update(counts)
        print("\n" + self.report(), flush=True)

    def report(self) -> str:
        lines = [f"chaos scenario: {self.scenario}"]
        lines += [f"  injected: {line}" for line in self.injected]
        lines.append("  counted: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        return "\n".join(lines)


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    """The scenario's tally (printed as it counts: visible with -s and in a failure's report)."""
    return Tally(request.node.name)


def am_alert(alertname: str, instance: str, starts_at: datetime, **labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it to Alertmanager's v2 API, ending in an hour."""
    return {
        "labels": {"alertname": alertname, "instance": instance, "severity": "critical", **labels},
        "annotations": {"summary": f"{alertname} on {instance}"},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": (starts_at + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    }


def scrape(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of metric ``name`` at ``url/metrics`` that carry ``labels``."""
    status, body = http("GET", url + "/metrics")
    assert status == 200, f"GET {url}/metrics: {status}"
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in body.decode().splitlines():
        sample, _, value = line.rpartition(" ")
        metric, _, rest = sample.partition("{")
        if metric == name and all(w in rest for w in wanted):
            total += float(value)
    return total


def settle(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass; unlike ``wait_until`` it
    does not fail, so the scenario still counts and prints what it found."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except (OSError, AssertionError):
            pass  # a replica still starting, or not answering for the moment
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def duplicates(values: list[str]) -> int:
    """How many of ``values`` repeat one seen before."""
    return sum(n - 1 for n in Counter(values).values() if n > 1)


# --- Firebreak replicas ------------------------------------------------------------------------


@dataclass
class Replica(FirebreakServer):
    """A ``firebreak serve`` that the scenario may kill and start again on the same port."""

    name: str = "firebreak"

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def restart(self) -> None:
        self.proc = start_firebreak(self.config_path, self.url, self.log_path)


@pytest.fixture
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Replica]]:
    """Start replicas: ``start(db_url, extra_config, name=...)``; all stopped at the end."""
    started: list[Replica] = []

    def start(db_url: str, extra: str = "", name: str = "firebreak") -> Replica:
        log_path = tmp_path / f"{name}.log"
        register_log(request, name, log_path)
        for attempt in range(3):
            port = free_port()
            config_path = write_firebreak_config(tmp_path / f"{name}.yml", db_url, port, extra)
            url = f"http://127.0.0.1:{port}"
            try:
                proc = start_firebreak(config_path, url, log_path)
                break
            except pytest.fail.Exception:
                # Another test took the port between free_port() and the bind: try another.
                if attempt == 2 or b"address already in use" not in log_path.read_bytes():
                    raise
        db_path = Path(db_url.split(":///", 1)[1]) if db_url.startswith("sqlite") else None
        replica = Replica(url, db_path, config_path, log_path, proc, name=name)
        started.append(replica)
        return replica

    try:
        yield start
    finally:
        for replica in started:
            _stop(replica.proc)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the shared PostgreSQL server for this test alone."""
    with new_pg_database() as url:
        yield url


# --- a notification receiver -------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """The webhook channel's target; answers 200 unless the scenario sets ``status``."""
    found = RecordingReceiver()
    try:
        yield found
    finally:
        found.close()


def webhook_channel(url: str, breaker: str = "{}", **jobs: str) -> str:
    """firebreak.yml: the default policy notifies ``url`` at once, with no rate limit to
    speak of, the channel's ``breaker`` settings and the job settings given."""
    settings = ", ".join(f"{k}: {v}" for k, v in {"poll_interval": "200ms", **jobs}.items())
    return f"""
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: 2s}}
    rate_limit: {{per_minute: 100000, burst: 10000}}
    breaker: {breaker}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook]}}]
notifications: {{group_window: 0s}}
jobs: {{{settings}}}
"""


# --- a private PostgreSQL ------------------------------------------------------------------------


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian's postgresql package keeps the server binaries off PATH.
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of the test's own, in a temporary directory, that it may stop."""

    datadir: Path
    port: int
    log_path: Path
    pg_ctl: str

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = PG_START_TIMEOUT) -> None:
        as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*as_postgres, self.pg_ctl, "-D", str(self.datadir), *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl(
            "start", "-w", "-t", str(int(PG_START_TIMEOUT)), "-l", str(self.log_path), "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-m", mode)

    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()


@pytest.fixture
def private_postgres(request: pytest.FixtureRequest) -> Iterator[PrivatePostgres]:
    """``initdb`` in a temporary directory (owned by ``postgres`` when run as root: PostgreSQL
    refuses to run as root, and pytest's own tmp_path is private to root) and a server on its
    own loopback port; stopped (immediately) and removed at the end whatever happened."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.fail("initdb/pg_ctl not found: install them with `scripts/system-deps.sh test`")
    base = Path(tempfile.mkdtemp(prefix="firebreak-chaos-pg-"))
    try:
        datadir = base / "data"
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            as_postgres = ["runuser", "-u", "postgres", "--"]
        made = subprocess.run(
            [
                *as_postgres,
                initdb,
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, f"initdb failed:\n{made.stdout}{made.stderr}"
        server = PrivatePostgres(datadir, free_port(), base / "postgres.log", pg_ctl)
        register_log(request, "postgres", server.log_path)
        server.start()
        try:
            yield server
        finally:
            if server.running():
                server.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)
