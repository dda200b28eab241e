"""grafana/: provisioning files and dashboards, checked without a Grafana.

Whether each query returns data from a real Prometheus is tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.stack.conftest import (
    GRAFANA_VARIABLES,
    NOT_YET_EXPORTED,
    PROMETHEUS_CONFIG,
    ROOT,
    dashboard_queries,
    dashboards,
    exported_metrics,
    metric_names,
    panels,
    rules,
)

PROVISIONING = ROOT / "grafana" / "provisioning"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
KNOWN_VARIABLES = {*GRAFANA_VARIABLES, "$job"}


def datasource() -> dict[str, Any]:
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    return dict(source)


def variable(dashboard: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    return dict(found)


def test_dashboards_exist_with_unique_uids() -> None:
    found = dashboards()
    assert {"firebreak-overview.json", "firebreak-slos.json", "demo-service.json"} <= set(found)
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    for dashboard in found.values():
        assert dashboard["title"] and dashboard["schemaVersion"] >= 36
        assert "id" not in dashboard or dashboard["id"] is None  # provisioning assigns ids


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_panels_are_laid_out_without_overlap(name: str) -> None:
    dashboard = dashboards()[name]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(set(ids)) == len(ids), "panel ids repeat"
    taken: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_query_uses_the_provisioned_datasource(name: str) -> None:
    dashboard = dashboards()[name]
    chooser = variable(dashboard, "datasource")
    assert chooser["type"] == "datasource" and chooser["query"] == "prometheus"
    assert chooser["current"]["value"] == datasource()["uid"]
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_job_variables_default_to_the_scraped_jobs() -> None:
    jobs = {j["job_name"] for j in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]}
    for dashboard in dashboards().values():
        assert variable(dashboard, "job")["current"]["value"] in jobs


def test_queries_use_only_variables_the_tests_substitute() -> None:
    for name, panel, expr in dashboard_queries():
        unknown = set(re.findall(r"\$\w+", expr)) - KNOWN_VARIABLES
        assert not unknown, f"{name} / {panel}: {unknown}"


def test_queries_read_metrics_and_recording_rules_that_exist() -> None:
    exported = exported_metrics() | NOT_YET_EXPORTED | {"up"}
    recorded = {str(r["record"]) for r in rules() if "record" in r}
    for name, panel, expr in dashboard_queries():
        missing = metric_names(expr) - exported
        assert not missing, f"{name} / {panel} reads {missing}"
        for record in re.findall(r"\b[a-z_]+:[a-z0-9_:]+\b", expr):
            assert record in recorded, f"{name} / {panel} reads no recording rule {record}"


def test_every_firebreak_metric_is_on_a_dashboard_or_in_an_alert() -> None:
    """DESIGN.md: every metric is used by a dashboard or an alert."""
    used: set[str] = set()
    for _name, _panel, expr in dashboard_queries():
        used |= metric_names(expr)
    for rule in rules():
        used |= metric_names(str(rule["expr"]))
    families = {m.removesuffix("_total") for m in used} | {
        re.sub(r"_(bucket|count|sum)$", "", m) for m in used
    }
    for metric in exported_metrics():
        family = re.sub(r"_(total|bucket|count|sum)$", "", metric)
        assert metric in used or family in families, f"{metric} is on no dashboard and in no rule"


def test_dashboard_provider_and_datasource_are_well_formed() -> None:
    source = datasource()
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"].startswith("http://")
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "firebreak.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
