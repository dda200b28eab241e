"""The import structure is a checked contract: the layers, the transports' independence and
the forbidden imports of ``.importlinter`` hold (docs/development.md, "Layers"), and no module
imports itself back through others, annotation-only imports under ``TYPE_CHECKING`` included."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Each import ``a -> b`` for which ``b`` imports ``a`` back, with the way back."""
    return [
        (module, *chain)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if (chain := graph.find_shortest_chain(importer=imported, imported=module))
    ]


def test_the_import_contracts_hold() -> None:
    # import-linter's own command, in a process of its own: it configures logging for the whole
    # process it runs in, which would silence Firebreak's loggers in this test worker.
    linter = Path(sys.executable).parent / "lint-imports"
    config = ROOT / ".importlinter"
    done = subprocess.run(
        [linter, "--no-logo", "--no-cache", config], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr  # each broken contract and why
    assert " kept, 0 broken." in done.stdout


def test_every_module_has_its_layer() -> None:
    """A new module of ``receiver`` is placed in a layer, so the contract covers it."""
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    placed = set(re.findall(r"[a-z_]+", contracts["importlinter:contract:layers"]["layers"]))
    graph = grimp.build_graph("receiver", cache_dir=None)
    children = {module.split(".")[1] for module in graph.find_children("receiver")}
    assert sorted(children - placed) == []


def test_every_module_of_the_slack_transport_has_its_layer() -> None:
    """The Slack transport's own modules are placed in its contract's layers too."""
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    placed = set(re.findall(r"[a-z_]+", contracts["importlinter:contract:slack"]["layers"]))
    graph = grimp.build_graph("receiver", cache_dir=None)
    children = {module.split(".")[2] for module in graph.find_children("receiver.slack")}
    assert sorted(children - placed) == []


def test_no_module_imports_itself_back() -> None:
    assert cycles(grimp.build_graph("receiver", cache_dir=None)) == []


def test_an_import_for_an_annotation_closes_a_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from circle.two import Two\n")
    (package / "two.py").write_text(
        "from typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from circle.one import Two as One\n\n\nclass Two: ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = cycles(grimp.build_graph("circle", cache_dir=None))
    assert found == [
        ("circle.one", "circle.two", "circle.one"),
        ("circle.two", "circle.one", "circle.two"),
    ]
