"""The distribution: ``pip install .`` builds quietly and the wheel carries every file the
receiver reads at run time (console templates and static files, migrations, the OpenAPI
document)."""

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


def test_the_wheel_builds_without_warnings_and_holds_the_console_and_migrations(
    tmp_path: Path,
) -> None:
    # A copy of what the distribution is built from: setuptools writes build/ into the tree it
    # builds, and a stale build/ of the checkout could hide a file the package misses.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "receiver", source / "receiver", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # pip indents what the build backend (setuptools) prints; its own lines about its
    # configuration are not the package's business.
    complaints = [
        line
        for line in (built.stdout + built.stderr).splitlines()
        if line.startswith(" ") and "warn" in line.lower()
    ]
    assert complaints == []
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
