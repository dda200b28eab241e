"""YAML as Firebreak reads it (``firebreak.yml``, included files, runbook files): YAML 1.2
booleans, dates as strings, duplicate keys as errors; and where each value was written, so that
a problem found later names its line and column (``firebreak.yml:12:5: routes[0].match: …``).

Problems name a value by its key path, built by ``join``: ``routes[0].match``,
``webhook["a b"]``. ``Positions`` reads such a path back against the document's nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from receiver.errors import ConfigError

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def join(path: str, key: object) -> str:
    """``path.key``, or ``path["odd key"]`` for keys that would be ambiguous after a dot."""
    text = key if isinstance(key, str) else key_text(key)
    if not _SIMPLE_KEY.fullmatch(text):
        return f"{path}[{json.dumps(text, ensure_ascii=False)}]"
    return f"{path}.{text}" if path else text


def key_text(key: object) -> str:
    """A non-string YAML key (1, true, null) as it would be written in YAML."""
    try:
        return json.dumps(key)
    except (TypeError, ValueError):
        return str(key)


def _yaml12_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit types, minus the YAML 1.1 surprises.

    Only true/false are booleans (so ``sqlite_synchronous: off`` stays the string "off"), and
    dates stay strings.
    """
    resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {
        first: [(tag, rx) for tag, rx in pairs if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
        for first, pairs in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    boolean = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for first in "tTfF":
        resolvers.setdefault(first, []).append((_BOOL_TAG, boolean))
    return resolvers


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, string dates, and duplicate keys as errors."""

    yaml_implicit_resolvers = _yaml12_resolvers()

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        # A scalar tagged !!set or !!map reaches here too; super() reports it properly.
        for key_node, _ in node.value if isinstance(node, MappingNode) else ():
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    problem = f"duplicate key {json.dumps(key_node.value)}"
                    raise ConstructorError(None, None, problem, key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # PyYAML's scalar constructors raise plain exceptions for explicitly tagged nonsense
        # such as "!!int abc"; turn them into YAML errors that carry a position.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            problem = f"cannot construct a {node.tag} value"
            raise ConstructorError(None, None, problem, node.start_mark) from None


# One step of a key path: .name (or a first name), [index], or ["quoted key"].
_STEP = re.compile(
    r'\.?(?P<name>[A-Za-z0-9_-]+)|\[(?P<index>[0-9]+)\]|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]'
)


class Positions:
    """Where the values of one parsed document were written, looked up by key path.

    A path leads as far into the document as it was written: a missing key (``required key
    is missing``), or a field inside a short form (``notify: [ops]`` read as
    ``{channel: ops}``), is placed at the nearest value that exists. Keys are placed where the
    key is written, list items where the item starts.
    """

    def __init__(self, root: Node | None) -> None:
        self._root = root
        # Per mapping node (by id), its entries by key text: built when first looked into, so
        # a mapping of many keys is scanned once however many problems it has.
        self._entries: dict[int, dict[str, tuple[Node, Node]]] = {}

    def at(self, path: str) -> tuple[int, int] | None:
        """The 1-based line and column of ``path``'s deepest written part; None without a
        document (text that was not YAML, or data built in code)."""
        node = self._root
        if node is None:
            return None
        mark = node.start_mark
        position = 0
        while position < len(path):
            step = _STEP.match(path, position)
            if step is None:
                break
            position = step.end()
            if step["index"] is not None:
                if not isinstance(node, SequenceNode) or int(step["index"]) >= len(node.value):
                    break
                node = node.value[int(step["index"])]
                mark = node.start_mark
                continue
            if not isinstance(node, MappingNode):
                break
            key = step["name"] if step["name"] is not None else json.loads(step["quoted"])
            entry = self._mapping(node).get(key)
            if entry is None:
                break
            mark = entry[0].start_mark
            node = entry[1]
        return mark.line + 1, mark.column + 1

    def _mapping(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
        found = self._entries.get(id(node))
        if found is None:
            found = {}
            for key_node, value_node in node.value:  # a later key wins, as in construction
                text = _key_node_text(key_node)
                if text is not None:
                    found[text] = (key_node, value_node)
            self._entries[id(node)] = found
        return found


def _key_node_text(node: Node) -> str | None:
    """A key as ``join`` spells it, or None for keys no path can name (lists, mappings)."""
    if not isinstance(node, ScalarNode):
        return None
    if node.tag == _STR_TAG:
        return str(node.value)
    try:
        return key_text(_Loader("").construct_object(node))
    except yaml.YAMLError:
        return None


NO_POSITIONS = Positions(None)


def located(source: str, positions: Positions, path: str) -> str:
    """``source:line:column: path`` (``source: path`` when the position is not known); the
    start of every problem message."""
    at = positions.at(path)
    where = f"{source}:{at[0]}:{at[1]}" if at is not None else source
    return f"{where}: {path or 'top level'}"


def parse_document(text: str, source: str) -> tuple[object, Positions]:
    """The YAML ``text`` as Python data, and where each value of it was written; raises
    ``ConfigError`` naming ``source``, line and column for text that is not valid YAML."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # a SafeLoader: no arbitrary objects
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([f"{where}: invalid YAML: {what}"]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise ConfigError([f"{source}:{line}:{column}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, Positions(node)


def quote(text: str) -> str:
    """``text`` in double quotes, as problems quote names and paths."""
    return json.dumps(text, ensure_ascii=False)
