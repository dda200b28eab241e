"""The lock files: every requirement of setup.cfg is pinned with hashes (a requirement added
without ``make lock`` fails here), the image's pins are the suite's, and make and the Dockerfile
install from them."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
TEST_LOCK = ROOT / "requirements" / "test.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
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


def test_make_and_the_dockerfile_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installed = re.search(r"^\$\(BIN\)/\.installed: (.*)$", makefile, re.MULTILINE)
    assert installed and "$(TEST_LOCK)" in installed.group(1), "setup must follow the lock"
    assert "--require-hashes -r $(TEST_LOCK)" in makefile
    assert "--no-deps -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/runtime.lock" in dockerfile
    assert re.search(r"pip install --no-deps", dockerfile)
