"""Alerta 9 as a comparison server: installed from PyPI into a throwaway virtualenv, run by
gunicorn (``--preload -w 2``, sync workers) on its own PostgreSQL database, taking Alertmanager's
webhooks at ``/webhooks/prometheus``. Nothing of Alerta's is kept in this repository.

``install(venv)`` creates the virtualenv (once: a later run reuses it) and returns gunicorn's
path; ``AlertaServer`` starts and stops it like ``webhook_bench.Server``. Alerta runs with its
defaults (no authentication, its default plugins) and the logs at warning.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import webhook_bench as wb

PACKAGES = ("alerta-server>=9,<10", "gunicorn", "psycopg2-binary")
DEFAULT_VENV = Path("/tmp/firebreak-bench-alerta")
INSTALL_TIMEOUT = 600.0


def install(venv: Path = DEFAULT_VENV) -> Path:
    """Alerta, gunicorn and psycopg2 in ``venv`` (created when missing); gunicorn's path."""
    python, gunicorn = venv / "bin" / "python", venv / "bin" / "gunicorn"
    if not (gunicorn.exists() and _version(python)):
        print(f"  installing {', '.join(PACKAGES)} from PyPI into {venv} ...", flush=True)
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES],
        ]
        for cmd in steps:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    version = _version(python)
    if not version.startswith("9."):
        raise RuntimeError(f"{venv} holds Alerta {version or '(none)'}, not 9.x")
    print(f"  Alerta {version} in {venv}", flush=True)
    return gunicorn


def _version(python: Path) -> str:
    if not python.exists():
        return ""
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('alerta-server'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


class AlertaServer(wb.Server):
    """gunicorn serving Alerta: the master and its two workers, their CPU added up."""

    webhook_path = "/webhooks/prometheus"
    bearer = False  # Alerta refuses a bearer token that is not one of its own JWTs

    def __init__(self, gunicorn: Path, workdir: Path, database_url: str) -> None:
        self.kind = "alerta"
        self.port = wb.free_port()
        self.log_path = workdir / "alerta.log"
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env = keep | {
            "DATABASE_URL": database_url,
            "DEBUG": "False",
            "AUTH_REQUIRED": "False",
            "LOG_LEVEL": "WARNING",
        }
        cmd = [
            str(gunicorn),
            "--preload",
            "-w",
            "2",
            "-b",
            f"{wb.HOST}:{self.port}",
            "--log-level",
            "warning",
            "alerta:create_app()",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=wb._die_with_parent,
        )

    def cpu_seconds(self) -> float:
        return sum(
            cpu for cpu in map(wb.process_cpu_seconds, _tree(self.pid)) if not math.isnan(cpu)
        )


@contextlib.contextmanager
def running(gunicorn: Path, workdir: Path, database_url: str) -> Iterator[AlertaServer]:
    """Alerta serving on a free port once it is ready; stopped on leaving the block."""
    with wb.serving(AlertaServer(gunicorn, workdir, database_url)) as server:
        yield server  # type: ignore[misc]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


async def count_alerts(database_url: str, run_id: str) -> int:
    """Alerts of this run Alerta stored (the ``bench_run`` label becomes a tag)."""
    import asyncpg  # type: ignore[import-not-found]

    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM alerts WHERE $1 = ANY(tags)", f"bench_run={run_id}"
            )
        )
    finally:
        await conn.close()
