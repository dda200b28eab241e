"""What the monitoring-stack tests share: where the files are, and the Prometheus binaries."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
RULE_TESTS_DIR = RULES_DIR / "tests"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
COMPOSE_PROMETHEUS_CONFIG = ROOT / "prometheus" / "compose" / "prometheus.yml"
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"


def rule_files() -> list[Path]:
    """The files prometheus.yml loads (``rules/*.yml``)."""
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every rule file, each with ``file`` and ``group`` added."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append({**rule, "file": path.name, "group": group["name"]})
    return found


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (it comes with Debian's prometheus package); install it "
            "with `scripts/system-deps.sh test`"
        )
    return found


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("prometheus")
