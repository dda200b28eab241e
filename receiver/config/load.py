"""Loading: one file, the files it includes, and the checks across them, into one ``Config``.

``include`` names more files (glob patterns, relative to the including file) that may define
``channels``, ``escalation_policies`` and ``routes``; see ``load_config``. References between
sections (a route's policy, a tier's channels) are checked once every file is loaded
(``receiver.config.references``), so they may cross files.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from receiver.config.channels import ChannelConfig
from receiver.config.env import expand
from receiver.config.policies import (
    DEFAULT_POLICY,
    LOG_CHANNEL,
    EscalationPolicyConfig,
    RouteConfig,
    builtin_channels,
    builtin_policies,
)
from receiver.config.problems import INVALID
from receiver.config.references import (
    Part,
    check_maintenance,
    check_oncall,
    check_paging,
    check_paging_channels,
    check_people,
    check_routes,
    check_slack_channels,
    check_team_schedules,
    check_tiers,
    pages_people,
    unknown_policy,
)
from receiver.config.schema import INCLUDE_METADATA, Config
from receiver.config.secrets import is_loopback, weak_secrets
from receiver.config.walker import Walker, empty_mapping, schema_fields, yaml_key
from receiver.config.yaml import Positions, join, located, parse_document, quote
from receiver.errors import ConfigError

T = TypeVar("T")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML file at ``path`` and the files it includes.

    ``env`` defaults to ``os.environ``. ``include`` patterns are globs (``**`` spans
    directories) relative to the directory of the file that holds them; each pattern's matches
    load in sorted order, and a file matched more than once loads once. A pattern without
    wildcards must name an existing file; one with wildcards may match nothing. An included file
    may hold only ``include``, ``channels``, ``escalation_policies`` and ``routes``; its routes
    follow those of the file that includes it. A channel or policy defined in two files, and an
    include cycle, are errors. Problems in an included file name that file.

    A relative SQLite path in ``database.url`` is resolved against the directory of the file,
    like runbook and include patterns: the same file means the same database from whatever
    directory a command runs in.
    """
    source = os.fspath(path)
    config = _assemble(_read(source), source, os.environ if env is None else env, from_file=True)
    url = _sqlite_beside(config.database.url, os.path.dirname(os.path.abspath(source)))
    if url == config.database.url:
        return config
    return dataclasses.replace(config, database=dataclasses.replace(config.database, url=url))


_SQLITE_PREFIX = "sqlite+aiosqlite:///"


def _sqlite_beside(url: str, directory: str) -> str:
    """``url`` with a relative SQLite file path made absolute against ``directory``; any other
    URL (PostgreSQL, an absolute path, ``:memory:``, a ``file:`` URI) unchanged."""
    if not url.startswith(_SQLITE_PREFIX):
        return url
    path, query = url[len(_SQLITE_PREFIX) :], ""
    if "?" in path:
        path, query = path.split("?", 1)
        query = "?" + query
    if not path or path == ":memory:" or path.startswith("file:") or os.path.isabs(path):
        return url
    return f"{_SQLITE_PREFIX}{os.path.join(directory, path)}{query}"


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration YAML; ``source`` names it in error messages.

    Text that was not read from a file has no directory to resolve ``include`` patterns in, so
    an ``include`` is an error here; ``load_config`` resolves them.
    """
    return _assemble(text, source, os.environ if env is None else env, from_file=False)


def _read(source: str) -> str:
    try:
        with open(source, encoding="utf-8-sig") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError([f"{source}: cannot read: {reason}"]) from None


@dataclass(frozen=True, slots=True)
class _IncludedFile:
    """What an included file may hold."""

    include: tuple[str, ...] = field(default=(), metadata=INCLUDE_METADATA)
    channels: Mapping[str, ChannelConfig] = field(default_factory=empty_mapping)
    escalation_policies: Mapping[str, EscalationPolicyConfig] = field(default_factory=empty_mapping)
    routes: tuple[RouteConfig, ...] = ()


def _assemble(text: str, source: str, env: Mapping[str, str], *, from_file: bool) -> Config:
    assembly = _Assembly(env, source, from_file=from_file)
    main = assembly.load(text, source, Config, ())
    # Cross-references are only checked between valid files: a channel that failed to convert
    # would otherwise also be reported as unknown wherever a tier names it.
    if assembly.problems:
        raise ConfigError(assembly.problems)
    config = assembly.merge(typing.cast(Config, main))
    if assembly.problems:
        raise ConfigError(assembly.problems)
    return config


class _Assembly:
    """Loads a file and, depth first, the files it includes; then merges and cross-checks."""

    def __init__(self, env: Mapping[str, str], top: str, *, from_file: bool) -> None:
        self.env = env
        self.top = top
        self.from_file = from_file
        self.problems: list[str] = []
        self.parts: list[Part] = []  # one per valid file, in load order: the main file first
        self.loaded: set[str] = set()  # real paths: a file reached twice loads once
        self.included: list[str] = []

    def load(self, text: str, source: str, cls: type, stack: tuple[tuple[str, str], ...]) -> Any:
        """Walk one file into ``cls`` (``INVALID`` when it has problems), then its includes.

        ``stack`` holds ``(source, real path)`` of the files whose includes are being loaded.
        """
        real = os.path.realpath(source) if self.from_file else source
        self.loaded.add(real)
        try:
            data, positions = parse_document(text, source)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return INVALID
        walker = Walker(source, positions)
        expanded = expand(data, "", self.env, walker, {})
        if cls is _IncludedFile and isinstance(expanded, dict):
            expanded = _refuse_main_keys(expanded, walker)
        result = walker.dataclass(expanded, cls, "")
        self.problems.extend(walker.problems)
        written: dict[Any, Any] = expanded if isinstance(expanded, dict) else {}
        if result is not INVALID:
            part = self._part(source, result, written, positions, main=cls is Config)
            self.parts.append(part)
            patterns: tuple[str, ...] = result.include
        else:
            # Still follow the includes, so that their problems are reported in this round too.
            patterns = _include_patterns(written, cls, source)
        if patterns and not self.from_file:
            self.problems.append(
                f"{located(source, positions, 'include')}: not supported here: the "
                "configuration was not read from a "
                "file, so there is no directory to resolve patterns in"
            )
        elif patterns:
            short = isinstance(written.get("include"), str)
            self._include(source, positions, patterns, short, (*stack, (source, real)))
        return result

    def _part(
        self,
        source: str,
        result: Any,
        written: Mapping[Any, Any],
        positions: Positions,
        *,
        main: bool,
    ) -> Part:
        prefix = "" if main else f"{os.path.relpath(source, os.path.dirname(self.top))}:"
        routes = tuple(
            route if route.name else dataclasses.replace(route, name=f"{prefix}routes[{index}]")
            for index, route in enumerate(result.routes)
        )
        # The main file's dataclass holds the built-in channel and policy when it defines
        # none; only what the file wrote counts, or an included "log" would clash with them.
        return Part(
            source=source,
            channels=result.channels if "channels" in written else {},
            escalation_policies=(
                result.escalation_policies if "escalation_policies" in written else {}
            ),
            routes=routes,
            positions=positions,
        )

    def _include(
        self,
        source: str,
        positions: Positions,
        patterns: tuple[str, ...],
        short: bool,
        stack: tuple[tuple[str, str], ...],
    ) -> None:
        base = os.path.dirname(source)
        for index, pattern in enumerate(patterns):
            where = located(source, positions, "include" if short else f"include[{index}]")
            if glob.has_magic(pattern):
                # The base is escaped: only the pattern's own wildcards are wildcards.
                found = glob.glob(os.path.join(glob.escape(base), pattern), recursive=True)
                matches = sorted(match for match in found if os.path.isfile(match))
            else:
                path = os.path.join(base, pattern)
                if not os.path.exists(path):
                    self.problems.append(f"{where}: no such file: {quote(path)}")
                    continue
                matches = [path]
            for match in matches:
                real = os.path.realpath(match)
                reals = [real_path for _, real_path in stack]
                if real in reals:
                    chain = [name for name, _ in stack[reals.index(real) :]]
                    cycle = " -> ".join([*chain, chain[0]])
                    self.problems.append(f"{where}: include cycle: {cycle}")
                    continue
                if real in self.loaded:
                    continue
                self.included.append(match)
                try:
                    text = _read(match)
                except ConfigError as exc:
                    self.loaded.add(real)
                    self.problems.extend(exc.problems)
                    continue
                self.load(text, match, _IncludedFile, stack)

    def merge(self, main: Config) -> Config:
        """One Config from every file's definitions; problems for what clashes or dangles.

        Problems are grouped by file, in load order.
        """
        found: list[list[str]] = [[] for _ in self.parts]
        channels = self._definitions("channel", "channels", found, lambda p: p.channels)
        channels.setdefault(LOG_CHANNEL, builtin_channels()[LOG_CHANNEL])
        policies = self._definitions(
            "escalation policy", "escalation_policies", found, lambda p: p.escalation_policies
        )
        policies.setdefault(DEFAULT_POLICY, builtin_policies()[DEFAULT_POLICY])
        first_use: dict[str, tuple[str, str]] = {}  # route name -> (source, path)
        public = not is_loopback(main.listen_host)
        for index, (part, problems) in enumerate(zip(self.parts, found, strict=True)):
            problems += check_tiers(part, channels)
            problems += check_paging(part, main, channels)
            problems += check_routes(part, policies, first_use)
            problems += check_slack_channels(part, channels, main.slack)
            if public:  # parts[0] is the main file: the only one with more than channels
                problems += weak_secrets(part, main, main_file=index == 0)
        if main.default_route.escalation_policy not in policies:
            unknown = unknown_policy(main.default_route.escalation_policy, policies)
            found[0].append(f"{self.parts[0].at('default_route.escalation_policy')}: {unknown}")
        found[0] += [f"{self.top}: {problem}" for problem in check_people(main)]
        found[0] += check_paging_channels(
            self.parts[0], main, channels, any(pages_people(part) for part in self.parts)
        )
        found[0] += [f"{self.top}: {problem}" for problem in check_oncall(main)]
        found[0] += [f"{self.top}: {problem}" for problem in check_team_schedules(main)]
        found[0] += [f"{self.top}: {problem}" for problem in check_maintenance(main)]
        self.problems.extend(problem for problems in found for problem in problems)
        return dataclasses.replace(
            main,
            channels=types.MappingProxyType(channels),
            escalation_policies=types.MappingProxyType(policies),
            routes=tuple(route for part in self.parts for route in part.routes),
            source=self.top,
            included=tuple(self.included),
        )

    def _definitions(
        self,
        kind: str,
        key: str,
        found: list[list[str]],
        pick: Callable[[Part], Mapping[str, T]],
    ) -> dict[str, T]:
        """Every file's ``key`` section in one dict; a name defined twice is a problem."""
        merged: dict[str, T] = {}
        defined_in: dict[str, str] = {}
        for part, problems in zip(self.parts, found, strict=True):
            for name, value in pick(part).items():
                if name in defined_in:
                    problems.append(
                        f"{part.at(join(key, name))}: {kind} {quote(name)} is already "
                        f"defined in {defined_in[name]}"
                    )
                    continue
                merged[name] = value
                defined_in[name] = part.source
        return merged


def _refuse_main_keys(data: dict[Any, Any], walker: Walker) -> dict[Any, Any]:
    """``data`` without the top-level keys only the main file may set, each reported."""
    allowed = {yaml_key(f) for f, _ in schema_fields(_IncludedFile)}
    main_only = {yaml_key(f) for f, _ in schema_fields(Config)} - allowed
    for key in data:
        if key in main_only:
            walker.problem(
                join("", key),
                f"not allowed in an included file (allowed: {', '.join(sorted(allowed))})",
            )
    return {key: value for key, value in data.items() if key not in main_only}


def _include_patterns(written: Mapping[Any, Any], cls: type, source: str) -> tuple[str, ...]:
    """The ``include`` patterns of a file that did not convert, if they themselves are valid."""
    if "include" not in written:
        return ()
    f, tp = next((f, tp) for f, tp in schema_fields(cls) if f.name == "include")
    # A scratch walker: the file's own walk has already reported any problem in them.
    result = Walker(source).field(written["include"], f, tp, "include")
    return () if result is INVALID else typing.cast(tuple[str, ...], result)
