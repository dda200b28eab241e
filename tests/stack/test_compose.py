"""docker-compose.yml and the Dockerfile, checked without a Docker engine: what compose mounts
exists, images are pinned, and every address one service uses to reach another names that
service and the port it listens on, as the mounted configurations say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import SHIPPED_ALERTMANAGER_CONFIG, amtool_check_config
from tests.stack.conftest import (
    COMPOSE_ALERTMANAGER_CONFIG,
    COMPOSE_PROMETHEUS_CONFIG,
    PROMETHEUS_CONFIG,
    ROOT,
)

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
STACK = {"demo", "firebreak", "prometheus", "alertmanager", "grafana", "postgres"}


def mounts(service: str) -> dict[str, Path]:
    """Container path -> repository file for each bind mount of a service."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def mounted(service: str, container_path: str) -> Path:
    """The repository file a service sees at ``container_path``."""
    for target, source in mounts(service).items():
        if container_path == target:
            return source
        if container_path.startswith(target + "/"):
            return source / container_path.removeprefix(target + "/")
    raise AssertionError(f"{service} has nothing mounted at {container_path}")


def flag(service: str, name: str) -> str | None:
    """The value of ``--name=value`` in a service's command."""
    for arg in SERVICES[service].get("command", []):
        if arg.startswith(f"--{name}="):
            return str(arg.split("=", 1)[1])
    return None


def firebreak_config() -> dict[str, Any]:
    args = SERVICES["firebreak"]["command"]
    path = mounted("firebreak", args[args.index("--config") + 1])
    return dict(yaml.safe_load(path.read_text()))


def listen_port(service: str) -> int:
    """The port a service listens on inside the network, from its configuration."""
    if service == "firebreak":
        return int(firebreak_config()["listen"].rsplit(":", 1)[1])
    if service == "demo":
        args = SERVICES["demo"]["command"]
        return int(args[args.index("--port") + 1])
    default = {"prometheus": "0.0.0.0:9090", "alertmanager": "0.0.0.0:9093"}
    if service in default:
        return int((flag(service, "web.listen-address") or default[service]).rsplit(":", 1)[1])
    if service == "grafana":
        return 3000  # Grafana's default; the compose file does not change it
    raise AssertionError(f"no listen port known for {service}")


def assert_reaches(url_or_target: str, service: str) -> None:
    """``host:port`` or a URL names a compose service and the port it listens on."""
    netloc = urllib.parse.urlsplit(url_or_target).netloc or url_or_target
    host, port = netloc.rsplit(":", 1)
    assert host == service, f"{url_or_target} should name the compose service {service}"
    assert int(port) == listen_port(service), f"{url_or_target}: {service} listens elsewhere"


def scrape_targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


def test_the_stack_has_every_service() -> None:
    assert set(SERVICES) == STACK
    assert SERVICES["postgres"]["profiles"] == ["postgres"]


@pytest.mark.parametrize("service", sorted(STACK))
def test_images_are_pinned_and_services_checked(service: str) -> None:
    spec = SERVICES[service]
    image = spec["image"]
    name, _, tag = image.rpartition(":")
    assert name and re.search(r"\d", tag) and tag != "latest", image
    test = spec["healthcheck"]["test"]
    assert test[0] == "CMD" and len(test) > 1
    ports = " ".join(test)
    if service != "postgres":
        assert f"127.0.0.1:{listen_port(service)}/" in ports, f"{service} health check port"
    for published in spec.get("ports", []):
        host_ip, _host_port, container_port = published.split(":")
        assert host_ip == "127.0.0.1", "publish on the host's loopback only"
        assert int(container_port) == listen_port(service)


@pytest.mark.parametrize("service", sorted(STACK))
def test_every_mounted_file_exists(service: str) -> None:
    for target, source in mounts(service).items():
        assert source.exists(), f"{service} mounts {source} at {target}, which does not exist"
    named = set(COMPOSE["volumes"])
    for volume in SERVICES[service].get("volumes", []):
        source = volume.split(":")[0]
        assert source.startswith("./") or source in named, volume


def test_the_image_builds_from_the_dockerfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and re.search(r":\d+\.\d+\.\d+", base.group(1)), "pin the base image"
    for path in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for item in path.split():
            assert (ROOT / item).exists(), f"the Dockerfile copies {item}, which does not exist"
    assert "USER " in dockerfile and "HEALTHCHECK" in dockerfile
    for service in ("demo", "firebreak"):
        assert SERVICES[service]["build"] == "."
    assert SERVICES["demo"]["command"][:3] == ["python", "-m", "examples.demo_app"]


def test_prometheus_reaches_the_services_by_name() -> None:
    config_path = mounted("prometheus", flag("prometheus", "config.file") or "")
    assert config_path == COMPOSE_PROMETHEUS_CONFIG
    config = yaml.safe_load(config_path.read_text())
    for job, targets in scrape_targets(config).items():
        for target in targets:
            assert_reaches(target, job)
    (alerting,) = config["alerting"]["alertmanagers"]
    for target in alerting["static_configs"][0]["targets"]:
        assert_reaches(target, "alertmanager")
    for pattern in config["rule_files"]:
        rules_dir = mounted("prometheus", str(Path(pattern).parent))
        assert rules_dir == ROOT / "rules" and sorted(rules_dir.glob(Path(pattern).name))


def test_the_compose_prometheus_config_is_the_loopback_one_with_service_names() -> None:
    loopback = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    compose = yaml.safe_load(COMPOSE_PROMETHEUS_CONFIG.read_text())
    assert loopback["global"] == compose["global"]
    loopback_targets = scrape_targets(loopback)
    assert set(loopback_targets) == set(scrape_targets(compose))
    for job, targets in loopback_targets.items():
        (target,) = targets
        assert target == f"127.0.0.1:{listen_port(job)}", f"{job}: loopback port differs"
    (alerting,) = loopback["alerting"]["alertmanagers"]
    assert alerting["static_configs"][0]["targets"] == [f"127.0.0.1:{listen_port('alertmanager')}"]


def _webhook(config: dict[str, Any]) -> Any:
    """The Firebreak receiver's webhook_config, itself (not a copy)."""
    (receiver,) = [r for r in config["receivers"] if r["name"] == "firebreak"]
    (hook,) = receiver["webhook_configs"]
    return hook


def test_alertmanager_reaches_firebreak_with_the_shared_token() -> None:
    config_path = mounted("alertmanager", flag("alertmanager", "config.file") or "")
    assert config_path == COMPOSE_ALERTMANAGER_CONFIG
    config = yaml.safe_load(config_path.read_text())
    hook = _webhook(config)
    assert_reaches(hook["url"], "firebreak")
    assert urllib.parse.urlsplit(hook["url"]).path == "/webhook"
    assert hook["send_resolved"] is True
    # The token file is the compose secret, made from the variable Firebreak's config reads.
    secret = hook["http_config"]["authorization"]["credentials_file"].removeprefix("/run/secrets/")
    assert secret in SERVICES["alertmanager"]["secrets"]
    variable = COMPOSE["secrets"][secret]["environment"]
    assert firebreak_config()["webhook"]["auth"]["bearer_tokens"] == [f"${{{variable}}}"]
    assert variable in SERVICES["firebreak"]["environment"]


def test_the_compose_alertmanager_config_is_the_loopback_one_with_service_names() -> None:
    loopback = yaml.safe_load(SHIPPED_ALERTMANAGER_CONFIG.read_text())
    compose = yaml.safe_load(COMPOSE_ALERTMANAGER_CONFIG.read_text())
    assert urllib.parse.urlsplit(_webhook(loopback)["url"]).port == listen_port("firebreak")
    for config in (loopback, compose):
        hook = _webhook(config)
        hook.pop("url")
        hook["http_config"]["authorization"].pop("credentials_file")
    assert loopback == compose


def test_amtool_accepts_the_compose_alertmanager_config(amtool_bin: str) -> None:
    result = amtool_check_config(amtool_bin, COMPOSE_ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_reads_prometheus_and_the_dashboards() -> None:
    provisioning = mounted("grafana", "/etc/grafana/provisioning/datasources")
    (source,) = yaml.safe_load((provisioning / "prometheus.yml").read_text())["datasources"]
    assert_reaches(source["url"], "prometheus")
    providers = mounted("grafana", "/etc/grafana/provisioning/dashboards")
    (provider,) = yaml.safe_load((providers / "firebreak.yml").read_text())["providers"]
    dashboards = mounted("grafana", provider["options"]["path"])
    assert dashboards == ROOT / "grafana" / "dashboards"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted("grafana", home).is_file()


def test_firebreak_accepts_its_compose_config() -> None:
    path = mounted("firebreak", "/etc/firebreak/firebreak.yml")
    env = {
        **os.environ,
        "FIREBREAK_WEBHOOK_TOKEN": "compose-webhook-token",
        "FIREBREAK_ADMIN_TOKEN": "compose-admin-token",
    }
    result = subprocess.run(
        [sys.executable, "-m", "receiver.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0.0.0.0:9095" in result.stdout


def test_firebreak_reconciles_with_the_compose_alertmanager_and_expects_the_watchdog() -> None:
    config = firebreak_config()
    assert_reaches(config["alertmanager"]["url"], "alertmanager")
    alertmanager = yaml.safe_load(COMPOSE_ALERTMANAGER_CONFIG.read_text())
    assert config["alertmanager"]["receiver"] in {r["name"] for r in alertmanager["receivers"]}
    watchdog = yaml.safe_load((ROOT / "rules" / "watchdog.yml").read_text())
    alertnames = {r["alert"] for g in watchdog["groups"] for r in g["rules"]}
    assert config["watchdog"]["alertname"] in alertnames
