"""What the maintenance tests share: a real Alertmanager to hold the windows' silences, and
readers of what it holds."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from receiver.alertmanager import parse_rfc3339
from tests.e2e.conftest import (
    alertmanager_bin,  # noqa: F401 - a fixture
    alertmanager_url,  # noqa: F401 - a fixture
    http,
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
