"""Firebreak's configuration: one YAML file loaded into frozen dataclasses.

The dataclasses below are the schema. A small generic walker reads their type hints and field
metadata, so a new section is only a new dataclass: no per-key parsing code. The walker collects
every problem it finds, each as ``<file>: <key.path>: <what was expected>``, and raises them
together in one ``ConfigError`` so that a broken file is fixed in one round.

Field metadata understood by the walker (``dataclasses.field(metadata=...)``):

- ``"secret": True`` - the value never appears in an error message; the field must also be
  declared with ``repr=False`` (the walker refuses the schema otherwise).
- ``"check": callable(value) -> str | None`` - returns what is wrong with a converted value.
- ``"check_each": callable(item) -> str | None`` - the same for each item of a tuple.
- ``"internal": True`` - filled by the loader, not accepted as a YAML key.

A dataclass may also define ``cross_check(self, path) -> list[tuple[str, str]]`` for rules that
span fields; it returns ``(key path, problem)`` pairs.

Every string scalar may refer to environment variables: ``${VAR}``, ``${VAR:-default}`` (used
when VAR is unset or empty), and ``$${`` for a literal ``${``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import os
import re
import types
import typing
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from receiver.durations import parse_duration
from receiver.errors import ConfigError
from receiver.model import Role

T = TypeVar("T")


# --- checks -----------------------------------------------------------------------------------


def _greater_than_zero(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _at_least_zero(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def _not_empty(value: str) -> str | None:
    return None if value else "must not be empty"


_LISTEN = re.compile(r"(?:\[(?P<v6>[^\[\]\s]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>[0-9]{1,5})")


def _split_listen(listen: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``, or None when it is neither."""
    match = _LISTEN.fullmatch(listen)
    if match is None:
        return None
    return match["v6"] or match["host"], int(match["port"])


def _check_listen(listen: str) -> str | None:
    split = _split_listen(listen)
    if split is None:
        return "expected host:port such as 127.0.0.1:9095 or [::1]:9095"
    return None if 1 <= split[1] <= 65535 else "port must be between 1 and 65535"


_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _check_database_url(url: str) -> str | None:
    if url.startswith(_DATABASE_SCHEMES):
        return None
    return f"expected a URL starting with {' or '.join(_DATABASE_SCHEMES)}"


# --- schema -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where alerts are stored."""

    # Secret because a PostgreSQL URL usually carries the password.
    url: str = field(
        default="sqlite+aiosqlite:///firebreak.db",
        repr=False,
        metadata={"secret": True, "check": _check_database_url},
    )
    # SQLite's PRAGMA synchronous: "full" is the one that survives a power loss after a commit.
    sqlite_synchronous: Literal["full", "normal", "off"] = "full"
    pool_size: int = field(default=10, metadata={"check": _greater_than_zero})  # PostgreSQL only


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP basic credentials Alertmanager may present instead of a bearer token."""

    username: str = field(metadata={"check": _not_empty})
    password: str = field(repr=False, metadata={"secret": True, "check": _not_empty})


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """Credentials accepted on the Alertmanager webhook; a request must match one of them."""

    bearer_tokens: tuple[str, ...] = field(
        default=(), repr=False, metadata={"secret": True, "check_each": _not_empty}
    )
    basic_auth: BasicAuth | None = None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The Alertmanager webhook endpoint."""

    auth: WebhookAuth = field(default_factory=WebhookAuth)
    max_body_bytes: int = field(default=5 * 1024 * 1024, metadata={"check": _greater_than_zero})


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token for the HTTP API and the role it grants."""

    token: str = field(repr=False, metadata={"secret": True, "check": _not_empty})
    role: Role
    name: str | None = None  # who holds the token, for logs and audit entries


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API used by people, chat bots and the CLI."""

    tokens: tuple[ApiToken, ...] = ()

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Each token must be unique, or a request could not tell which role it carries."""
        first_index: dict[str, int] = {}
        problems: list[tuple[str, str]] = []
        for index, token in enumerate(self.tokens):
            first = first_index.setdefault(token.token, index)
            if first != index:
                problems.append(
                    (f"{path}.tokens[{index}].token", f"duplicates {path}.tokens[{first}]")
                )
        return problems


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: str | None = field(default=None, metadata={"check": _not_empty})  # JSON, size-rotated
    file_max_bytes: int = field(default=10 * 1024 * 1024, metadata={"check": _greater_than_zero})
    file_backups: int = field(default=5, metadata={"check": _at_least_zero})
    access: bool = False  # one line per HTTP request


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """How webhooks are written to the store."""

    # Most alerts committed in one group-commit transaction.
    max_batch_alerts: int = field(default=5000, metadata={"check": _greater_than_zero})
    # Under load (the previous commit carried at least commit_siblings webhooks), wait this
    # long before the next commit so that more webhooks share its fsync; like PostgreSQL's
    # commit_delay. An idle receiver never waits.
    commit_delay: timedelta = timedelta(milliseconds=2)
    commit_siblings: int = field(default=8, metadata={"check": _greater_than_zero})


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file."""

    listen: str = field(default="127.0.0.1:9095", metadata={"check": _check_listen})
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    source: str = field(default="<config>", metadata={"internal": True})  # the file it came from

    @property
    def listen_host(self) -> str:
        """The host part of ``listen``, without the brackets of an IPv6 address."""
        return self._listen_parts()[0]

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return self._listen_parts()[1]

    def _listen_parts(self) -> tuple[str, int]:
        split = _split_listen(self.listen)
        if split is None:
            raise ValueError(f"listen: expected host:port, got {self.listen!r}")
        return split


# --- loading ----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML file at ``path``; ``env`` defaults to ``os.environ``."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8-sig") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError([f"{source}: cannot read: {reason}"]) from None
    return parse_config(text, source=source, env=env)


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration YAML; ``source`` names it in error messages."""
    config = from_data(Config, _parse_yaml(text, source), source=source, env=env)
    return dataclasses.replace(config, source=source)


def from_data(
    cls: type[T], data: object, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> T:
    """Expand environment references in parsed YAML ``data`` and convert it into ``cls``.

    ``None`` counts as an empty mapping. Raises ``ConfigError`` listing every problem.
    """
    walker = _Walker(source)
    expanded = _expand(data, "", os.environ if env is None else env, walker, {})
    result = walker.dataclass(expanded, cls, "")
    if walker.problems:
        raise ConfigError(walker.problems)
    return typing.cast(T, result)


# --- YAML -------------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


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


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
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


# --- environment expansion --------------------------------------------------------------------


class _Expanded(str):
    """A string that came out of environment expansion.

    Environment variables are always strings, so number and boolean fields accept these when
    they spell a number or boolean (``pool_size: ${POOL_SIZE:-10}``).
    """

    __slots__ = ()


# "$${" first so that an escaped reference is never read as one; a "${" that the rest of the
# pattern does not complete is malformed and reported.
_REFERENCE = re.compile(
    r"\$\$\{"
    r"|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?"
)
_IN_PROGRESS = object()


def _expand(
    value: object, path: str, env: Mapping[str, str], walker: _Walker, memo: dict[int, object]
) -> object:
    """Copy ``value`` with references in strings replaced; ``memo`` handles YAML aliases."""
    if isinstance(value, str):
        return _expand_string(value, path, env, walker)
    if not isinstance(value, (list, dict)):
        return value
    # An alias shares one object between several places, maybe recursively (&a [*a]).
    done = memo.get(id(value))
    if done is _IN_PROGRESS:
        walker.problem(path, "a YAML alias may not refer to a node that contains it")
        return _INVALID
    if done is not None:
        return done
    memo[id(value)] = _IN_PROGRESS
    result: object
    if isinstance(value, list):
        result = [_expand(item, f"{path}[{i}]", env, walker, memo) for i, item in enumerate(value)]
    else:
        result = {k: _expand(v, _join(path, k), env, walker, memo) for k, v in value.items()}
    memo[id(value)] = result
    return result


def _expand_string(text: str, path: str, env: Mapping[str, str], walker: _Walker) -> object:
    """``text`` with references replaced; ``_INVALID`` (problems recorded) when one cannot be."""
    problems: list[str] = []
    references = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal references
        name, default = match["name"], match["default"]
        if match[0] == "$${":
            return "${"
        references += 1
        if name is None:
            problems.append("expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)")
            return ""
        found = env.get(name)
        if default is not None and not found:
            return default
        if found is None:
            problems.append(f"environment variable {name} is not set")
            return ""
        return found

    result = _REFERENCE.sub(replace, text)
    for problem in problems:
        walker.problem(path, problem)
    if problems:
        return _INVALID
    return _Expanded(result) if references else result


# --- the walker -------------------------------------------------------------------------------

_INVALID: Any = object()  # a value that did not convert; its problem is already recorded
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _join(path: str, key: object) -> str:
    """``path.key``, or ``path["odd key"]`` for keys that would be ambiguous after a dot."""
    text = key if isinstance(key, str) else _key_text(key)
    if not _SIMPLE_KEY.fullmatch(text):
        return f"{path}[{json.dumps(text, ensure_ascii=False)}]"
    return f"{path}.{text}" if path else text


def _key_text(key: object) -> str:
    """A non-string YAML key (1, true, null) as it would be written in YAML."""
    try:
        return json.dumps(key)
    except (TypeError, ValueError):
        return str(key)


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


_ENV_INT = re.compile(r"[-+]?[0-9]{1,18}")
_ENV_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def _from_env(value: object, tp: type) -> object:
    """Read an expanded string as the number or boolean it spells; anything else unchanged."""
    if not isinstance(value, _Expanded):
        return value
    if tp is bool and value in ("true", "false"):
        return value == "true"
    if tp is int and _ENV_INT.fullmatch(value):
        return int(value)
    if tp is float and _ENV_FLOAT.fullmatch(value):
        return float(value)
    return value


@functools.cache
def _schema(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """The YAML-visible fields of ``cls`` with their resolved types."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("secret") and f.repr:
            raise TypeError(f"{cls.__name__}.{f.name} is secret but would show in repr()")
        if not f.metadata.get("internal"):
            fields.append((f, hints[f.name]))
    return tuple(fields)


class _Walker:
    """Converts parsed YAML into typed values, recording problems instead of stopping."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        message = f"{self.source}: {path or 'top level'}: {text}"
        if message not in self.problems:  # e.g. two malformed references in one string
            self.problems.append(message)

    def wrong(self, path: str, expected: str, value: object, secret: bool) -> Any:
        self.problem(path, f"expected {expected}, got {_describe(value, secret=secret)}")
        return _INVALID

    def dataclass(self, value: object, cls: type, path: str) -> Any:
        if value is _INVALID:  # environment expansion failed and said so
            return _INVALID
        if value is None:  # a section whose keys are all commented out
            value = {}
        if not isinstance(value, dict):
            return self.wrong(path, "a mapping", value, False)
        schema = _schema(cls)
        names = sorted(f.name for f, _ in schema)
        for key in value:
            if key not in names:
                self.problem(_join(path, key), f"unknown key; expected one of: {', '.join(names)}")
        kwargs: dict[str, Any] = {}
        valid = True
        for f, tp in schema:
            sub = _join(path, f.name)
            if f.name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.problem(sub, "required key is missing")
                    valid = False
                continue
            result = self.convert(value[f.name], tp, sub, f.metadata)
            if result is _INVALID or not self.checked(result, sub, f.metadata):
                valid = False
                continue
            kwargs[f.name] = result
        if not valid:
            return _INVALID
        obj = cls(**kwargs)
        cross_problems = obj.cross_check(path) if hasattr(obj, "cross_check") else []
        for sub, text in cross_problems:
            self.problem(sub, text)
        return _INVALID if cross_problems else obj

    def checked(self, value: object, path: str, metadata: Mapping[str, Any]) -> bool:
        """Run the field's checks on a converted value; True when it passes them all."""
        if value is None:
            return True
        failures: list[tuple[str, str | None]] = []
        if "check" in metadata:
            failures.append((path, metadata["check"](value)))
        if "check_each" in metadata:
            if not isinstance(value, tuple):
                raise TypeError(f"{path}: check_each needs a tuple field")
            failures += [(f"{path}[{i}]", metadata["check_each"](v)) for i, v in enumerate(value)]
        for sub, text in failures:
            if text is not None:
                self.problem(sub, text)
        return all(text is None for _, text in failures)

    def convert(self, value: object, tp: Any, path: str, metadata: Mapping[str, Any]) -> Any:
        if value is _INVALID:  # environment expansion failed and said so
            return _INVALID
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
            if not isinstance(value, list):
                return self.wrong(path, "a list", value, secret)
            items = [
                self.convert(v, args[0], f"{path}[{i}]", metadata) for i, v in enumerate(value)
            ]
            return _INVALID if any(item is _INVALID for item in items) else tuple(items)
        if origin in (dict, collections.abc.Mapping):
            if args[0] is not str:
                raise TypeError(f"{path}: mapping keys must be str, not {args[0]}")
            if not isinstance(value, dict):
                return self.wrong(path, "a mapping", value, secret)
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    out[key] = self.wrong(_join(path, key), "a string key", key, False)
                else:
                    out[key] = self.convert(item, args[1], _join(path, key), metadata)
            if any(item is _INVALID for item in out.values()):
                return _INVALID
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
        if tp is timedelta:
            if not isinstance(value, str):
                return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
            try:
                return parse_duration(value)
            except ValueError as exc:
                if secret:  # the message quotes the value
                    return self.wrong(path, "a duration such as 30s, 5m or 1h30m", value, secret)
                self.problem(path, str(exc))
                return _INVALID
        if tp in _EXPECTED:
            value = _from_env(value, tp)
            # bool is an int subclass, and YAML's true is no port number.
            accepted = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if not accepted:
                return self.wrong(path, _EXPECTED[tp], value, secret)
            return str(value) if tp is str else value
        raise TypeError(f"{path}: unsupported field type {tp!r}")
