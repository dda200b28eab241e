"""What the maintenance tests share: a real Alertmanager to hold the windows' silences, and
readers of what it holds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from receiver.alertmanager import parse_rfc3339
from tests.e2e.conftest import (
    alertmanager_bin,  # noqa: F401 - a fixture
    alertmanager_url,  # noqa: F401 - a fixture
    http,
    serve,
)


def silences(url: str) -> list[dict[str, Any]]:
    """Every silence the Alertmanager at ``url`` holds, expired ones too, oldest first."""
    status, body = http("GET", url + "/api/v2/silences")
    assert status == 200
    found: list[dict[str, Any]] = json.loads(body)
    return sorted(found, key=lambda s: (s["startsAt"], s["updatedAt"]))


def live(url: str) -> list[dict[str, Any]]:
    """The silences not expired (active or pending)."""
    return [s for s in silences(url) if s["status"]["state"] != "expired"]


def occurrence_start(silence: dict[str, Any]) -> datetime:
    """The occurrence start a silence's marker names."""
    found = re.search(r"\[firebreak-maintenance:[^:]+:(\S+?)\]$", silence["comment"])
    assert found is not None, silence["comment"]
    return parse_rfc3339(found.group(1))


def matcher_values(silence: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["value"] for m in silence["matchers"]}


@contextmanager
def alertmanager_at(port: int, where: Path, binary: str) -> Iterator[str]:
    """A bare Alertmanager (notifying nobody: silences are what is tested) on ``port`` until
    the block ends: also for one that comes up late, or goes away before the test's end."""
    config = where / f"alertmanager-{port}.yml"
    config.write_text(
        yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    )
    storage = where / f"alertmanager-{port}-data"
    storage.mkdir()
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    yield from serve(command, port, where / f"alertmanager-{port}.log")
