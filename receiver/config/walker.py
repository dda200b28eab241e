"""The walker: parsed YAML into the schema's frozen dataclasses, by their type hints.

A new section is only a new dataclass: no per-key parsing code. The walker collects every
problem it finds, each as ``<file>:<line>:<column>: <key.path>: <what was expected>``, and
``from_data`` raises them together in one ``ConfigError`` so that a broken file is fixed in one
round.

Field metadata understood by the walker (``dataclasses.field(metadata=...)``):

- ``"secret": True`` - the value never appears in an error message; the field must also be
  declared with ``repr=False`` (the walker refuses the schema otherwise).
- ``"check": callable(value) -> str | None`` - returns what is wrong with a converted value.
- ``"check_each": callable(item) -> str | None`` - the same for each item of a tuple.
- ``"internal": True`` - filled by the loader, not accepted as a YAML key.
- ``"key": "name"`` - the YAML key when it differs from the field name (``continue`` is a
  Python keyword, so ``RouteConfig.continue_`` is written ``continue``).
- ``"shorthand": Shorthand(...)`` - a short form the field also accepts, expanded into the long
  form before conversion (``match: 'a="b"'`` for ``match: ['a="b"']``); a problem found by
  ``check_each`` in the one item a short form stood for is reported at the field itself.
- ``"shorthand_each": Shorthand(...)`` - the same for each item of a tuple (``notify: [ops]``
  for ``notify: [{channel: ops}]``).

A dataclass may also define ``cross_check(self, path) -> list[tuple[str, str]]`` for rules that
span fields; it returns ``(key path, problem)`` pairs. A list or mapping written as ``null`` (a
section whose entries are all commented out) is empty.

Only ``load_config`` and ``parse_config`` (``receiver.config.load``) follow includes and check
references between sections: ``from_data`` converts one document and nothing more.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

from receiver.config.env import expand, from_env
from receiver.config.problems import INVALID
from receiver.config.yaml import NO_POSITIONS, Positions, join, located
from receiver.durations import parse_duration
from receiver.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shorthand:
    """A short form a field (``"shorthand"``) or each item (``"shorthand_each"``) also accepts.

    A YAML value of type ``short`` is replaced by ``expand(value)``, the long form, before it is
    converted. A value that is neither form is reported as "expected ``expected``, got ...".
    """

    short: type
    expand: Callable[[Any], object]
    expected: str


def one_item_list(value: object) -> object:
    """The long form of a short form that stands for a list of one item."""
    return [value]


def empty_mapping() -> Mapping[str, Any]:
    """The default of a mapping field: empty and read-only, like the mappings the walker builds."""
    return types.MappingProxyType({})


def from_data(
    cls: type[T],
    data: object,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    positions: Positions = NO_POSITIONS,
) -> T:
    """Expand environment references in parsed YAML ``data`` and convert it into ``cls``.

    ``None`` counts as an empty mapping. Raises ``ConfigError`` listing every problem, each at
    its line and column when ``positions`` (from ``parse_document``) says where ``data`` was
    written. Only the one document is converted: no includes, built-in channels or
    cross-references.
    """
    walker = Walker(source, positions)
    expanded = expand(data, "", os.environ if env is None else env, walker, {})
    result = walker.dataclass(expanded, cls, "")
    if walker.problems:
        raise ConfigError(walker.problems)
    return typing.cast(T, result)


_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: object, *, secret: bool) -> str:
    """What the user wrote, for "got ..."; a secret string is described, never shown."""
    if isinstance(value, str):
        if secret:
            return "a string"
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a value of type {type(value).__name__}"


def _unknown_key(key: object, keys: list[str]) -> str:
    """What to say of a key the schema does not have: the known key it most likely meant,
    else all of them."""
    close = difflib.get_close_matches(key, keys, n=1) if isinstance(key, str) else []
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key; expected one of: {', '.join(keys)}"


def yaml_key(f: dataclasses.Field[Any]) -> str:
    """The YAML key of field ``f``."""
    return str(f.metadata.get("key", f.name))


def _long_form(value: object, tp: Any) -> bool:
    """Whether ``value`` has the YAML shape of type ``tp`` (a list, a mapping), so that a value
    which is neither a field's short form nor its long form can be reported as such."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return value is None or any(_long_form(value, arg) for arg in inner)
    if value is None:  # an empty section, or for X | None, no value
        return True
    if typing.get_origin(tp) is tuple:
        return isinstance(value, list)
    if typing.get_origin(tp) in (dict, collections.abc.Mapping) or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return True  # a scalar: its own conversion says what is wrong


@functools.cache
def schema_fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """The YAML-visible fields of ``cls`` with their resolved types."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("secret") and f.repr:
            raise TypeError(f"{cls.__name__}.{f.name} is secret but would show in repr()")
        if not f.metadata.get("internal"):
            fields.append((f, hints[f.name]))
    return tuple(fields)


class Walker:
    """Converts parsed YAML into typed values, recording problems instead of stopping."""

    def __init__(self, source: str, positions: Positions = NO_POSITIONS) -> None:
        self.source = source
        self.positions = positions
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        message = f"{located(self.source, self.positions, path)}: {text}"
        if message not in self.problems:  # e.g. two malformed references in one string
            self.problems.append(message)

    def wrong(self, path: str, expected: str, value: object, secret: bool) -> Any:
        self.problem(path, f"expected {expected}, got {_describe(value, secret=secret)}")
        return INVALID

    def dataclass(self, value: object, cls: type, path: str) -> Any:
        if value is INVALID:  # environment expansion failed and said so
            return INVALID
        if value is None:  # a section whose keys are all commented out
            value = {}
        if not isinstance(value, dict):
            return self.wrong(path, "a mapping", value, False)
        schema = schema_fields(cls)
        keys = sorted(yaml_key(f) for f, _ in schema)
        for key in value:
            if key not in keys:
                self.problem(join(path, key), _unknown_key(key, keys))
        kwargs: dict[str, Any] = {}
        valid = True
        for f, tp in schema:
            key = yaml_key(f)
            sub = join(path, key)
            if key not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.problem(sub, "required key is missing")
                    valid = False
                continue
            result = self.field(value[key], f, tp, sub)
            if result is INVALID:
                valid = False
                continue
            kwargs[f.name] = result
        if not valid:
            return INVALID
        obj = cls(**kwargs)
        cross_problems = obj.cross_check(path) if hasattr(obj, "cross_check") else []
        for sub, text in cross_problems:
            self.problem(sub, text)
        return INVALID if cross_problems else obj

    def field(self, value: object, f: dataclasses.Field[Any], tp: Any, path: str) -> Any:
        """Convert the YAML ``value`` of field ``f``: short form, type, then checks."""
        shorthand: Shorthand | None = f.metadata.get("shorthand")
        short = shorthand is not None and isinstance(value, shorthand.short)
        value = self.expand_short(value, shorthand, tp, path, bool(f.metadata.get("secret")))
        result = self.convert(value, tp, path, f.metadata)
        if result is INVALID or not self.checked(result, path, f.metadata, short=short):
            return INVALID
        return result

    def expand_short(
        self, value: object, shorthand: Shorthand | None, tp: Any, path: str, secret: bool
    ) -> Any:
        """``value`` in its long form: expanded when it is the short form, else as it is."""
        if shorthand is None or value is INVALID:
            return value
        if isinstance(value, shorthand.short):
            return shorthand.expand(value)
        if not _long_form(value, tp):
            return self.wrong(path, shorthand.expected, value, secret)
        return value

    def checked(
        self, value: object, path: str, metadata: Mapping[str, Any], *, short: bool = False
    ) -> bool:
        """Run the field's checks on a converted value; True when it passes them all.

        ``short``: the value was written in its short form, which stood for a single item.
        """
        if value is None:
            return True
        failures: list[tuple[str, str | None]] = []
        if "check" in metadata:
            failures.append((path, metadata["check"](value)))
        if "check_each" in metadata:
            if not isinstance(value, tuple):
                raise TypeError(f"{path}: check_each needs a tuple field")
            # A problem in the one item a short form stood for is reported where it was written.
            paths = (
                [path] if short and len(value) == 1 else [f"{path}[{i}]" for i in range(len(value))]
            )
            failures += [
                (sub, metadata["check_each"](v)) for sub, v in zip(paths, value, strict=True)
            ]
        for sub, text in failures:
            if text is not None:
                self.problem(sub, text)
        return all(text is None for _, text in failures)

    def convert(self, value: object, tp: Any, path: str, metadata: Mapping[str, Any]) -> Any:
        if value is INVALID:  # environment expansion failed and said so
            return INVALID
        secret = bool(metadata.get("secret"))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            inner = [arg for arg in args if arg is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"{path}: only X | None unions are supported, not {tp}")
            return None if value is None else self.convert(value, inner[0], path, metadata)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.dataclass(value, tp, path)
        if origin is tuple:
            if len(args) != 2 or args[1] is not Ellipsis:
                raise TypeError(f"{path}: only tuple[T, ...] is supported, not {tp}")
            if value is None:  # a list whose items are all commented out
                return ()
            if not isinstance(value, list):
                return self.wrong(path, "a list", value, secret)
            each: Shorthand | None = metadata.get("shorthand_each")
            items = []
            for i, v in enumerate(value):
                sub = f"{path}[{i}]"
                items.append(
                    self.convert(
                        self.expand_short(v, each, args[0], sub, secret), args[0], sub, metadata
                    )
                )
            return INVALID if any(item is INVALID for item in items) else tuple(items)
        if origin in (dict, collections.abc.Mapping):
            if args[0] is not str:
                raise TypeError(f"{path}: mapping keys must be str, not {args[0]}")
            if value is None:  # a section whose entries are all commented out
                value = {}
            if not isinstance(value, dict):
                return self.wrong(path, "a mapping", value, secret)
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    out[key] = self.wrong(join(path, key), "a string key", key, False)
                else:
                    out[key] = self.convert(item, args[1], join(path, key), metadata)
            if any(item is INVALID for item in out.values()):
                return INVALID
            return out if origin is dict else types.MappingProxyType(out)
        if origin is Literal:
            if isinstance(value, str) and value in args:
                return args[args.index(value)]
            return self.wrong(path, f"one of {', '.join(args)}", value, secret)
        if isinstance(tp, type) and issubclass(tp, Enum):
            members = {member.name.lower(): member for member in tp}
            if isinstance(value, str) and value in members:
                return members[value]
            return self.wrong(path, f"one of {', '.join(members)}", value, secret)
        if tp is object:  # free-form YAML (a JSON body, a default value): taken as written
            return value
        if tp is timedelta:
            if not isinstance(value, str):
                return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
            try:
                return parse_duration(value)
            except ValueError as exc:
                if secret:  # the message quotes the value
                    return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
                self.problem(path, str(exc))
                return INVALID
        if tp in _EXPECTED:
            value = from_env(value, tp)
            # bool is an int subclass, and YAML's true is no port number.
            accepted = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if not accepted:
                return self.wrong(path, _EXPECTED[tp], value, secret)
            return str(value) if tp is str else value
        raise TypeError(f"{path}: unsupported field type {tp!r}")
