"""Slack's three homes keep to their layers, read from the source of every module (imports
inside functions and ``TYPE_CHECKING`` blocks included):

- ``receiver/notify/`` (channels, Slack rendering) imports only what lies at or below it: its
  own modules, the configuration and the foundation — never the store, a service or a
  transport (``receiver.slack`` above all);
- ``receiver/slack/`` is transport: it reaches the store only through services, so it imports
  neither SQLAlchemy nor ``receiver.store``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

RECEIVER = Path(__file__).resolve().parents[2] / "receiver"

# What notify may import of Firebreak: itself, the configuration and the foundation modules
# (alertmanager.py and grafana_webhook.py are the webhooks' wire formats; acklinks.py signs
# acknowledge links; clock_skew.py reads alert times, importing only alertmanager and metrics).
NOTIFY_MAY_IMPORT = (
    "receiver.notify",
    "receiver.config",
    "receiver.model",
    "receiver.errors",
    "receiver.durations",
    "receiver.matchers",
    "receiver.regex",
    "receiver.hostallow",
    "receiver.addresses",
    "receiver.metrics",
    "receiver.breaker",
    "receiver.ratelimit",
    "receiver.acklinks",
    "receiver.obs",
    "receiver.alertmanager",
    "receiver.grafana_webhook",
    "receiver.clock_skew",
)


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = RECEIVER) -> Iterator[str]:
    """Every module ``path`` (a file of the package at ``root``) imports, relative imports
    made absolute; ``from x import y`` counts as importing ``x.y`` too (``y`` may be a
    module)."""
    module = _module(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _sources(package: str) -> list[Path]:
    return sorted((RECEIVER / package).rglob("*.py"))


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The check below is only as good as this reader: plain, from, relative, nested."""
    source = tmp_path / "receiver" / "notify" / "slack" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "import sqlalchemy.ext\n"
        "from . import blocks\n"
        "from ..base import Notice\n"
        "def later() -> None:\n"
        "    from receiver.store import Store\n"
    )
    found = set(imports(source, tmp_path / "receiver"))
    assert {
        "sqlalchemy.ext",
        "receiver.notify.slack.blocks",
        "receiver.notify.base.Notice",
        "receiver.store",
    } <= found


@pytest.mark.parametrize("path", _sources("notify"), ids=lambda p: p.name)
def test_notify_imports_nothing_above_it(path: Path) -> None:
    ours = {name for name in imports(path) if _within(name, ("receiver",))}
    above = sorted(n for n in ours if n != "receiver" and not _within(n, NOTIFY_MAY_IMPORT))
    # `from receiver import __version__` is the package's own metadata.
    above = [n for n in above if n != "receiver.__version__"]
    assert above == [], f"{path.relative_to(RECEIVER.parent)} imports {above}"


@pytest.mark.parametrize("path", _sources("slack"), ids=lambda p: p.name)
def test_the_slack_transport_reaches_the_store_only_through_services(path: Path) -> None:
    reached = sorted(
        n for n in imports(path) if _within(n, ("sqlalchemy", "receiver.store", "alembic"))
    )
    assert reached == [], f"{path.relative_to(RECEIVER.parent)} imports {reached}"
