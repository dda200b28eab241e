"""The lock files: every requirement of setup.cfg is pinned with hashes (a requirement added
without ``make lock`` fails here), the image's pins are the suite's, and make and the Dockerfile
install from them."""

from __future__ import annotations

import configparser
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
TEST_LOCK = ROOT / "requirements" / "test.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
BUILD_LOCK = ROOT / "requirements" / "build.lock"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)")


def pins(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, hashes given for it)."""
    found: dict[str, tuple[Version, int]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := _PIN.match(line):
            name = canonicalize_name(match["name"])
            found[name] = (Version(match["version"]), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def requirements(extra: str | None = None) -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    text = setup["options.extras_require"][extra] if extra else setup["options"]["install_requires"]
    return [Requirement(line) for line in text.strip().splitlines() if line.strip()]


def test_every_requirement_is_pinned_within_its_range_with_hashes() -> None:
    for lock, wanted in (
        (TEST_LOCK, requirements() + requirements("test")),
        (RUNTIME_LOCK, requirements()),
    ):
        pinned = pins(lock)
        for requirement in wanted:
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{requirement} is not in {lock.name}: run make lock"
            version, hashes = pinned[name]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {name}=={version} outside {requirement}: run make lock"
            )
        for name, (version, hashes) in pinned.items():
            assert hashes, f"{lock.name}: {name}=={version} has no hash"


def test_the_image_runs_what_the_suite_ran() -> None:
    test_pins = pins(TEST_LOCK)
    for name, (version, _hashes) in pins(RUNTIME_LOCK).items():
        assert test_pins.get(name, (None,))[0] == version, (
            f"{name}: runtime.lock and test.lock differ"
        )


def test_the_build_backend_and_pip_are_pinned_too() -> None:
    """What pip builds Firebreak's package with (pyproject.toml's [build-system]) is pinned with
    hashes in build.lock, as the suite's own pins have it."""
    build = pins(BUILD_LOCK)
    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for text in [*system["requires"], "pip"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in build, f"{requirement} is not in build.lock: run make lock"
        version, hashes = build[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
        assert hashes, f"build.lock: {name}=={version} has no hash"
    test_pins = pins(TEST_LOCK)
    for name, (version, _hashes) in build.items():
        assert test_pins.get(name, (version,))[0] == version, (
            f"{name}: build.lock and test.lock differ"
        )


def _pip_installs(commands: str) -> list[str]:
    return [line.strip() for line in commands.splitlines() if re.search(r"\bpip install\b", line)]


def _checked(install: str) -> bool:
    """A pip install that takes only what a lock pins (with hashes), or the package itself
    built without fetching anything (no dependencies, no isolated build environment)."""
    return "--require-hashes -r requirements/" in install or (
        "--no-deps" in install and "--no-build-isolation" in install
    )


@pytest.mark.parametrize("target", ["run", "test"])
def test_make_installs_only_from_the_locks(target: str, tmp_path: Path) -> None:
    """What ``make run`` and ``make test`` would do on a fresh machine (a venv not made yet):
    pip and the build backend from build.lock first, then the suite's pins, then the package."""
    dry = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    installs = _pip_installs(dry.stdout)
    assert [i for i in installs if not _checked(i)] == [], installs
    assert [re.sub(r".* -r |.* (-e )?\.$", "", i) for i in installs][:2] == [
        "requirements/build.lock",
        "requirements/test.lock",
    ], installs
    assert installs[-1].endswith("--no-deps --no-build-isolation -e ."), installs


def test_the_dockerfile_installs_only_from_the_locks() -> None:
    installs = _pip_installs((ROOT / "Dockerfile").read_text())
    assert [i for i in installs if not _checked(i)] == [], installs
    joined = "\n".join(installs)
    assert "-r requirements/build.lock" in joined and "-r requirements/runtime.lock" in joined
    assert "--no-deps --no-build-isolation" in installs[-1]
