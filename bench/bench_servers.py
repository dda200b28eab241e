"""The servers a webhook benchmark loads: Firebreak (``firebreak serve`` on a generated
configuration) or the bare aiohttp handler (``bare_server.py``), each a subprocess on a free
loopback port, ready once it answers and always stopped; with their CPU seconds and Firebreak's
ingest counters."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from loadgen import HOST, WEBHOOK_TOKEN, _die_with_parent

BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0  # server start (Firebreak migrates the schema first)
STOP_TIMEOUT = 20.0  # graceful server shutdown before SIGKILL


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _firebreak_command(config: Path, wrapper: str | None = None) -> list[str]:
    if wrapper:
        return [sys.executable, str(Path(wrapper).resolve()), "serve", "--config", str(config)]
    exe = Path(sys.executable).with_name("firebreak")
    if exe.exists():
        return [str(exe), "serve", "--config", str(config)]
    return [sys.executable, "-m", "receiver.cli", "serve", "--config", str(config)]


def firebreak_config(port: int, db_url: str, synchronous: str) -> str:
    # JSON is YAML: every value quoted safely.
    config = {
        "listen": f"{HOST}:{port}",
        "database": {"url": db_url, "sqlite_synchronous": synchronous},
        "webhook": {"auth": {"bearer_tokens": [WEBHOOK_TOKEN]}},
        "api": {"tokens": [{"token": secrets.token_hex(16), "role": "viewer", "name": "bench"}]},
        "log": {"level": "warning", "format": "json", "access": False},
    }
    return json.dumps(config, indent=2) + "\n"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid``, all threads (NaN when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A server subprocess; always stopped by ``stop()`` (SIGINT, then SIGKILL)."""

    webhook_path = "/webhook"  # where it takes Alertmanager's webhooks
    bearer = True  # with Firebreak's webhook token

    def __init__(
        self, kind: str, workdir: Path, db_url: str, synchronous: str, wrapper: str | None = None
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = workdir / f"{kind}.log"
        if kind == "firebreak":
            config = workdir / "firebreak.yml"
            config.write_text(firebreak_config(self.port, db_url, synchronous))
            cmd = _firebreak_command(config, wrapper)
        else:
            cmd = [sys.executable, str(BENCH_DIR / "bare_server.py"), "--port", str(self.port)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # the parent has no threads
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        path = "/health" if self.kind == "firebreak" else None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if path is None:
                    with socket.create_connection((HOST, self.port), timeout=1):
                        return
                else:
                    with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=2) as r:
                        if r.status == 200:
                            return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} not ready after {READY_TIMEOUT:.0f}s:\n{self.log()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all threads."""
        return process_cpu_seconds(self.pid)

    def metrics(self) -> dict[str, float]:
        """Firebreak's ingest counters from /metrics ({} for the baseline or on failure)."""
        if self.kind != "firebreak":
            return {}
        wanted = (
            "firebreak_ingest_batch_webhooks_sum",
            "firebreak_ingest_batch_webhooks_count",
            "firebreak_ingest_commit_duration_seconds_sum",
            "firebreak_ingest_commit_duration_seconds_count",
        )
        try:
            url = f"http://{HOST}:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                found[name] = float(value)
        return found

    def log(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def log_line_count(self) -> int:
        try:
            return len(self.log_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode
