#!/usr/bin/env python3
"""`make demo`: the self-healing story, end to end, on loopback.

Starts the demo service, Prometheus (prometheus/prometheus.yml with rules/), Alertmanager
(alertmanager/alertmanager.yml) and Firebreak, injects an error fault into the demo service and
narrates what follows: Prometheus notices, Alertmanager groups and posts, Firebreak records the
alert, notifies, runs the `demo-restart` runbook, the runbook restarts the service and checks
with PromQL that it recovered, and the alert resolves by itself. Then it leaves the stack
running with the URLs printed, until Ctrl-C stops it cleanly.

To fit the story in two minutes the demo's copies of the configuration are quicker than the
shipped ones: Prometheus scrapes and evaluates every 2 s, Alertmanager waits 2 s before a
group's first notification, and the demo service's alerts wait 15 s (not 1 m) in `for:`.

  python scripts/demo.py [--headless] [--free-ports] [--timeout SECONDS]

It uses the standard ports (8080, 9090, 9093, 9095) where they are free and says which it
replaced with free ones; `--free-ports` uses free ones for all. Each process must answer as the
one the demo started (not another Prometheus or Firebreak already on the port); when one does
not start, the demo says why, from its log (e.g. "address already in use").

`--headless` (what the end-to-end test runs) prints the same narration, stops everything once
the alert has resolved, and exits 0 only when the whole sequence happened in order.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STANDARD_PORTS = {"demo": 8080, "prometheus": 9090, "alertmanager": 9093, "firebreak": 9095}
ALERT = "DemoHighErrorRatio"
RUNBOOK = "demo-restart"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a process could listen on 127.0.0.1:port now (as the stack's processes bind:
    a port whose old connections linger in TIME_WAIT counts as free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(wanted: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """``wanted`` where those ports are free, free ones where they are taken; and one line
    for each port replaced."""
    ports: dict[str, int] = {}
    notes: list[str] = []
    for name, port in wanted.items():
        if port_is_free(port) and port not in ports.values():
            ports[name] = port
            continue
        other = free_port()
        while other in ports.values() or other in wanted.values():
            other = free_port()
        ports[name] = other
        notes.append(f"port {port} ({name}) is taken; {name} uses {other} instead")
    return ports, notes


# What a process that could not bind its port writes: Go's net package (Prometheus,
# Alertmanager), Firebreak's own line, Python's asyncio/aiohttp.
_LISTEN_FAILURE = re.compile(
    r"address already in use|cannot listen on|error while attempting to bind|bind: ",
    re.IGNORECASE,
)


def listen_failure(log_text: str) -> str | None:
    """The line of a process's output that says it could not listen, if there is one."""
    for line in log_text.splitlines():
        if _LISTEN_FAILURE.search(line):
            return line.strip()
    return None


def request(
    method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 5
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def binaries() -> dict[str, str]:
    """Prometheus and Alertmanager from Debian's packages, installed when missing and allowed."""
    names = {
        "prometheus": ["prometheus"],
        "alertmanager": ["prometheus-alertmanager", "alertmanager"],
    }

    def find() -> dict[str, str]:
        found = {}
        for role, candidates in names.items():
            path = next((shutil.which(c) for c in candidates if shutil.which(c)), None)
            if path:
                found[role] = path
        return found

    found = find()
    if len(found) < len(names):
        can_install = os.geteuid() == 0 or shutil.which("sudo") is not None
        if can_install and shutil.which("apt-get"):
            print("installing Prometheus and Alertmanager from Debian's packages ...")
            subprocess.run(["bash", str(ROOT / "scripts/system-deps.sh"), "test"], check=True)
            found = find()
    if len(found) < len(names):
        sys.exit(
            "make demo needs Prometheus and Alertmanager: "
            "apt-get install prometheus prometheus-alertmanager"
        )
    return found


class Stack:
    """The four processes, their configuration in a temporary directory, and their stopping."""

    def __init__(self, workdir: Path, ports: dict[str, int]) -> None:
        self.workdir = workdir
        self.ports = ports
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.webhook_token = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(16)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def write_configs(self) -> None:
        w, p = self.workdir, self.ports
        (w / "firebreak-token").write_text(self.webhook_token)
        (w / "firebreak-token").chmod(0o600)
        # Alertmanager: the shipped file, pointed at this Firebreak, with quick timings.
        am = yaml.safe_load((ROOT / "alertmanager/alertmanager.yml").read_text())
        am["route"].update(group_wait="2s", group_interval="5s", repeat_interval="1m")
        for receiver in am["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = f"{self.url('firebreak')}/webhook"
                hook["http_config"]["authorization"]["credentials_file"] = str(
                    w / "firebreak-token"
                )
        (w / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))
        # Prometheus: the shipped file and rules; the demo service's alerts wait 15 s, not 1 m.
        rules = w / "rules"
        rules.mkdir()
        for source in (ROOT / "rules").glob("*.yml"):
            text = source.read_text()
            if source.name == "demo.yml":
                text = re.sub(r"(\n\s+for: )1m\b", r"\g<1>15s", text)
            (rules / source.name).write_text(text)
        prom = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())
        prom["global"].update(scrape_interval="2s", evaluation_interval="2s")
        prom["rule_files"] = [str(rules / "*.yml")]
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
            f"127.0.0.1:{p['alertmanager']}"
        ]
        for job in prom["scrape_configs"]:
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{p[job['job_name']]}"]
        (w / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False))
        # Firebreak: log channel, the demo's runbook, Alertmanager and Prometheus for its steps.
        firebreak = {
            "listen": f"127.0.0.1:{p['firebreak']}",
            "database": {"url": f"sqlite+aiosqlite:///{w / 'firebreak.db'}"},
            "webhook": {"auth": {"bearer_tokens": [self.webhook_token]}},
            "api": {"tokens": [{"token": self.admin_token, "role": "admin", "name": "demo"}]},
            "log": {"level": "info", "format": "console"},
            "notifications": {"group_window": "1s"},
            "alertmanager": {"url": self.url("alertmanager"), "reconcile_interval": "30s"},
            "watchdog": {"timeout": "5m"},  # rules/watchdog.yml's Watchdog: expected, not paged
            "automation": {
                # The demo is there to heal its service: its runbook acts (the default,
                # dry_run, would only record what it would do).
                "mode": "live",
                "runbooks": [str(ROOT / "runbooks" / f"{RUNBOOK}.yml")],
                "prometheus_url": self.url("prometheus"),
                "alertmanager_url": self.url("alertmanager"),
                # demo-restart's http step goes to the demo service, and nowhere else.
                "http_allow": [f"127.0.0.1:{self.ports['demo']}"],
            },
        }
        (w / "firebreak.yml").write_text(yaml.safe_dump(firebreak, sort_keys=False))

    def start(self, bins: dict[str, str]) -> None:
        for name, cmd in self.commands(bins).items():
            self.start_one(name, cmd)

    def commands(self, bins: dict[str, str]) -> dict[str, list[str]]:
        """The four processes' command lines, in the order they start."""
        w, p = self.workdir, self.ports
        return {
            "demo": [sys.executable, "-m", "examples.demo_app", "--port", str(p["demo"])],
            "firebreak": [
                sys.executable,
                "-m",
                "receiver.cli",
                "serve",
                "--config",
                str(w / "firebreak.yml"),
            ],
            "alertmanager": [
                bins["alertmanager"],
                f"--config.file={w / 'alertmanager.yml'}",
                f"--storage.path={w / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{p['alertmanager']}",
                "--cluster.listen-address=",
            ],
            "prometheus": [
                bins["prometheus"],
                f"--config.file={w / 'prometheus.yml'}",
                f"--storage.tsdb.path={w / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{p['prometheus']}",
            ],
        }

    def start_one(self, name: str, cmd: list[str]) -> None:
        """Start one process and wait until it answers as the one started here; a
        RuntimeError that says why when it does not."""
        env = {**os.environ, "DEMO_SERVICE_URL": self.url("demo"), "PYTHONUNBUFFERED": "1"}
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            self.procs[name] = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            wait_for(
                lambda: self.answers_as_ours(name),
                30,
                f"{name} to start on {self.url(name)}",
                self.procs[name],
            )
        except RuntimeError as exc:
            cause = listen_failure(log_path.read_text(errors="replace"))
            because = f": {cause}" if cause else ""
            raise RuntimeError(f"{exc}{because} (log: {log_path})") from None

    def answers_as_ours(self, name: str) -> bool:
        """Whether the process on ``name``'s port is the one this stack started, not another
        one that was there already."""
        if self.procs[name].poll() is not None:
            return False
        url, w = self.url(name), str(self.workdir)
        try:
            if name == "firebreak":  # only ours knows this run's admin token
                path = "/api/v1/alerts?limit=1"
                return request("GET", url + path, self.admin_token, timeout=1)[0] == 200
            if name == "prometheus":  # ours reads its configuration from the work directory
                status, body = request("GET", url + "/api/v1/status/flags", timeout=1)
                return status == 200 and str(body["data"]["config.file"]).startswith(w)
            if name == "alertmanager":  # ours has the work directory's token file
                status, body = request("GET", url + "/api/v2/status", timeout=1)
                return status == 200 and w in str(body["config"]["original"])
            return request("GET", url + "/health", timeout=1)[0] == 200
        except (KeyError, TypeError):  # not the shape ours answers with
            return False

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gave up waiting for {what}: the process exited")
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise RuntimeError(f"gave up waiting for {what} after {timeout:g}s")


class Narrator:
    """Follows the story through Firebreak's API and says each chapter once, in order."""

    def __init__(self, stack: Stack, started: float) -> None:
        self.stack = stack
        self.started = started
        self.said: list[str] = []
        self.outcome: str | None = None  # how the runbook's execution ended

    def say(self, key: str, text: str) -> None:
        if key not in self.said:
            self.said.append(key)
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def api(self, path: str) -> Any:
        status, body = request("GET", self.stack.url("firebreak") + path, self.stack.admin_token)
        return body if status == 200 else None

    def follow(self) -> bool:
        """One look; True once the runbook has finished and the alert has resolved (the
        runbook's recovery check and Prometheus watch the same error ratio, so either may see
        the recovery first)."""
        listing = self.api("/api/v1/alerts?limit=20") or {"alerts": []}
        ours = [a for a in listing["alerts"] if a["labels"].get("alertname") == ALERT]
        if not ours:
            return False
        alert = ours[-1]  # the first occurrence
        self.say(
            "fired",
            f"Firebreak recorded {ALERT} (alert {alert['id']}): "
            f"Prometheus -> Alertmanager -> POST /webhook",
        )
        detail = self.api(f"/api/v1/alerts/{alert['id']}") or {}
        for n in detail.get("notifications", []):
            self.say(
                f"notified-{n['channel']}",
                f"notified the {n['channel']} channel "
                f"(tier {0 if n['tier'] is None else n['tier'] + 1})",
            )
        executions = (self.api(f"/api/v1/executions?alert_id={alert['id']}") or {}).get(
            "executions", []
        )
        for execution in executions:
            self.say(
                "started",
                f"runbook {execution['runbook']} started (execution "
                f"{execution['id']}, {execution['trigger']})",
            )
            record = self.api(f"/api/v1/executions/{execution['id']}") or {}
            for step in record.get("steps", []):
                if step["state"] in ("succeeded", "failed", "skipped", "interrupted"):
                    took = step.get("duration_seconds") or 0
                    self.say(
                        f"step-{step['step_id']}-{step['attempt']}",
                        f"  step "
                        f"{step['step_id']} ({step['type']}): {step['state']} in {took:.1f}s",
                    )
            if execution["state"] in ("succeeded", "failed", "rolled_back", "cancelled"):
                self.outcome = execution["state"]
                self.say("finished", f"runbook {execution['runbook']} {execution['state']}")
        if alert["status"] == "resolved":
            self.say(
                "resolved",
                f"{ALERT} resolved by itself: Prometheus saw the error ratio "
                "fall, Alertmanager sent the resolve",
            )
        return "resolved" in self.said and "finished" in self.said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--headless", action="store_true", help="stop once the story is told")
    parser.add_argument(
        "--free-ports", action="store_true", help="use free ports, not 8080/9090/..."
    )
    parser.add_argument("--timeout", type=float, default=240, help="seconds for the story (240)")
    parser.add_argument("--workdir", help="keep configuration, logs and data here")
    args = parser.parse_args()
    if args.free_ports:
        ports = {name: free_port() for name in STANDARD_PORTS}
    else:
        ports, notes = pick_ports(dict(STANDARD_PORTS))
        for note in notes:
            print(note, flush=True)
    bins = binaries()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="firebreak-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir, ports)
    stack.write_configs()
    interrupted = False

    def on_signal(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"starting the stack (configuration and logs in {workdir}) ...", flush=True)
        stack.start(bins)
        wait_for(
            lambda: any(
                r["value"][1] == "1"
                for r in request(
                    "GET", stack.url("prometheus") + "/api/v1/query?query=up%7Bjob%3D%22demo%22%7D"
                )[1]["data"]["result"]
            ),
            30,
            "Prometheus to scrape the demo service",
        )
        time.sleep(4)  # a few clean scrapes first, so the error ratio has a baseline
        started = time.monotonic()
        status, _ = request("POST", stack.url("demo") + "/admin/fault/errors", body={})
        if status != 200:
            raise RuntimeError(f"could not inject the fault: HTTP {status}")
        narrator = Narrator(stack, started)
        narrator.say(
            "fault",
            "injected an error fault into the demo service "
            "(POST /admin/fault/errors): it now fails many requests",
        )
        wait_for(narrator.follow, args.timeout, "the story to end with the alert resolved")
        order = [k for k in narrator.said if k in ("fault", "fired", "started")]
        told = (
            order == ["fault", "fired", "started"]
            and any(k.startswith("notified-") for k in narrator.said)
            and narrator.outcome == "succeeded"
        )
        print(f"the story took {time.monotonic() - started:.0f}s", flush=True)
        if args.headless:
            return 0 if told else 1
        print("\nThe stack keeps running; Ctrl-C stops it.")
        for name in ("firebreak", "prometheus", "alertmanager", "demo"):
            print(f"  {name:<12} {stack.url(name)}")
        print(f"  Firebreak API token (admin): {stack.admin_token}", flush=True)
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        for name in stack.procs:
            log = workdir / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            print(f"--- {name} log ---\n" + "\n".join(tail), file=sys.stderr)
        return 1
    finally:
        print("stopping the stack ..." if interrupted else "stopping ...", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
