"""The distribution: ``pip install .`` builds quietly and the wheel carries every file the
receiver reads at run time (console templates and static files, migrations, the OpenAPI
document); the editable install ``make setup`` makes builds quietly too."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = (
    "receiver/console/templates",
    "receiver/console/static",
    "receiver/store/migrations",
    "receiver/api/openapi.yaml",
)


def _source(tmp_path: Path) -> Path:
    """A copy of what the distribution is built from: setuptools writes build/ into the tree it
    builds, and a stale build/ of the checkout could hide a file the package misses."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "receiver", source / "receiver", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    return source


def _pip_quietly(*args: str) -> None:
    """``pip ARGS`` succeeds, and the build backend (setuptools), whose lines pip indents,
    prints no warning; pip's own lines about its configuration are not the package's
    business."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    complaints = [
        line
        for line in (built.stdout + built.stderr).splitlines()
        if line.startswith(" ") and "warn" in line.lower()
    ]
    assert complaints == []


def test_the_editable_install_of_make_setup_builds_without_warnings(tmp_path: Path) -> None:
    # As make setup installs Firebreak (-e, no dependencies), into a prefix of its own; without
    # --ignore-installed pip would first uninstall the Firebreak this suite runs from.
    source = _source(tmp_path)
    prefix = str(tmp_path / "prefix")
    _pip_quietly("install", "-q", "--no-deps", "-I", "--prefix", prefix, "-e", str(source))
    (pth,) = (tmp_path / "prefix").rglob("__editable__.firebreak-*.pth")
    assert pth.read_text().split() == [str(source)]


def test_the_wheel_builds_without_warnings_and_holds_the_console_and_migrations(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path)
    wheels = tmp_path / "wheels"
    _pip_quietly("wheel", "--no-deps", "--wheel-dir", str(wheels), str(source))
    (wheel,) = wheels.glob("firebreak-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    wanted = {
        path.relative_to(ROOT).as_posix()
        for entry in DATA
        for path in ((ROOT / entry).rglob("*") if (ROOT / entry).is_dir() else [ROOT / entry])
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {
        "receiver/console/templates/base.html",
        "receiver/console/static/console.css",
        "receiver/api/openapi.yaml",
    } <= wanted
    assert wanted - names == set()
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
