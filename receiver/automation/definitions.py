"""Runbook definitions: the schema of ``runbooks/*.yml``, loaded and validated.

A runbook file holds one runbook. The dataclasses below are its schema, converted by the same
walker as ``firebreak.yml`` (so problems read ``<file>: <key.path>: <what was expected>``);
what spans fields — unique step ids, exactly one step type per step, template syntax — is
checked in ``cross_check``. A step names its type by
the one section it has (``http:``, ``shell:``, ``promql:``, ...).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import yarl

from receiver.automation.paramcheck import unfilled
from receiver.automation.paramtypes import ParamSpec
from receiver.automation.templating import check_expression, check_syntax
from receiver.config import Config, Shorthand, from_data
from receiver.config.checks import (
    MATCHERS,
    at_least_zero,
    check_matchers,
    greater_than_zero,
    not_empty,
    positive_duration,
)
from receiver.config.walker import one_item_list
from receiver.config.yaml import NO_POSITIONS, Positions, located, parse_document
from receiver.errors import ConfigError
from receiver.hostallow import HostAllowList
from receiver.matchers import Matcher, matches_all, parse_matchers

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _check_id(value: str) -> str | None:
    if _ID.fullmatch(value):
        return None
    return "expected lower-case letters, digits, '_', '.' or '-' (at most 64, not first)"


_NAMES = Shorthand(str, one_item_list, "a name or a list of them")


def _mapping() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class HttpStep:
    url: str = field(metadata={"check": not_empty})
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=_mapping)
    body: object = None  # sent as JSON
    # Statuses that count as success; empty: any 2xx.
    expect_status: tuple[int, ...] = ()
    max_response_bytes: int = field(default=65536, metadata={"check": greater_than_zero})

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if self.method.upper() not in _METHODS:
            return [(f"{path}.method", f"expected one of {', '.join(_METHODS)}")]
        return []


@dataclass(frozen=True, slots=True)
class ShellStep:
    # An argument vector, never a shell string: each item (templated) is one argument.
    argv: tuple[str, ...] = field(metadata={"check": not_empty})
    cwd: str | None = None
    # Variables set for the command (templated values).
    env: Mapping[str, str] = field(default_factory=_mapping)
    # Names of this process's environment variables passed through; nothing else is.
    env_allow: tuple[str, ...] = field(default=("PATH",), metadata={"shorthand": _NAMES})
    max_output_bytes: int = field(default=65536, metadata={"check": greater_than_zero})
    # Exit statuses that count as success.
    expect_exit: tuple[int, ...] = (0,)


@dataclass(frozen=True, slots=True)
class PromqlStep:
    query: str = field(metadata={"check": not_empty})
    # A condition on the first sample's value: "< 0.01", ">= 1", "== 0", or "empty"/"not empty".
    expect: str = "not empty"
    # Query again every poll_interval until the condition holds, for at most poll_for.
    poll_interval: timedelta | None = field(default=None, metadata={"check": positive_duration})
    poll_for: timedelta | None = field(default=None, metadata={"check": positive_duration})

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if "{" not in self.expect and parse_condition(self.expect) is None:
            return [
                (
                    f"{path}.expect",
                    "expected a comparison such as '< 0.01' or '>= 1', or 'empty', 'not empty'",
                )
            ]
        if (self.poll_interval is None) != (self.poll_for is None):
            return [(f"{path}.poll_for", "poll_interval and poll_for go together")]
        return []


@dataclass(frozen=True, slots=True)
class WaitStep:
    duration: timedelta = field(metadata={"check": positive_duration})


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    message: str = ""
    # Who may approve: names (alice), interface:name (slack:U123) or roles (role:admin);
    # empty: anyone with the responder role.
    approvers: tuple[str, ...] = field(default=(), metadata={"shorthand": _NAMES})
    timeout: timedelta = field(default=timedelta(minutes=30), metadata={"check": positive_duration})
    # The person who started the execution may not approve this step: someone else must.
    four_eyes: bool = False


@dataclass(frozen=True, slots=True)
class SilenceStep:
    # Matchers of the silence; empty: every label of the alert, by equality.
    match: tuple[str, ...] = field(
        default=(), metadata={"shorthand": MATCHERS, "check_each": check_matchers}
    )
    # Longest the silence may last if the run never ends; it is expired when the run ends.
    max_duration: timedelta = field(
        default=timedelta(hours=2), metadata={"check": positive_duration}
    )
    comment: str = ""


@dataclass(frozen=True, slots=True)
class NotifyStep:
    channel: str = field(metadata={"check": not_empty})
    target: str = ""
    message: str = field(default="", metadata={"check": not_empty})


@dataclass(frozen=True, slots=True)
class PythonStep:
    # The name of a function registered in the firebreak.actions entry point group.
    function: str = field(metadata={"check": not_empty})
    args: Mapping[str, object] = field(default_factory=_mapping)

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if "firebreak" in self.args:
            return [
                (
                    f"{path}.args.firebreak",
                    "is Firebreak's own: the action gets its context from the server, "
                    "never from a runbook",
                )
            ]
        return []


_CONDITION = re.compile(
    r"\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*"
)


@dataclass(frozen=True, slots=True)
class Condition:
    """What a promql step asserts about its result."""

    op: str  # <, <=, ==, !=, >=, >, empty, not empty
    value: float = 0.0

    def holds(self, sample: float | None) -> bool:
        if self.op == "empty":
            return sample is None
        if self.op == "not empty":
            return sample is not None
        if sample is None:
            return False
        return {
            "<": sample < self.value,
            "<=": sample <= self.value,
            "==": sample == self.value,
            "!=": sample != self.value,
            ">=": sample >= self.value,
            ">": sample > self.value,
        }[self.op]

    def __str__(self) -> str:
        return self.op if "empty" in self.op else f"{self.op} {self.value:g}"


def parse_condition(text: str) -> Condition | None:
    """``"< 0.01"`` and the like, ``"empty"`` or ``"not empty"``; None when it is neither."""
    words = " ".join(text.split()).lower()
    if words in ("empty", "not empty"):
        return Condition(words)
    match = _CONDITION.fullmatch(text)
    return Condition(match[1], float(match[2])) if match else None


STEP_TYPES = ("http", "shell", "promql", "wait", "approval", "silence", "notify", "python")
# Types that change nothing outside Firebreak, unless a step says otherwise.
_READ_ONLY = frozenset({"promql", "wait", "approval", "notify"})


@dataclass(frozen=True, slots=True)
class StepConfig:
    """One step: exactly one of the type sections, and how to run it."""

    id: str = field(default="", metadata={"check": _check_id})
    name: str = ""
    timeout: timedelta = field(default=timedelta(seconds=30), metadata={"check": positive_duration})
    retries: int = field(default=0, metadata={"check": at_least_zero})
    backoff: timedelta = field(default=timedelta(seconds=1), metadata={"check": positive_duration})
    when: str | None = None  # a Jinja expression over earlier steps' outputs
    on_failure: Literal["abort", "continue", "rollback"] = "abort"
    # Safe to run again after the process died while it ran (else it is marked interrupted).
    idempotent: bool = False
    mutating: bool | None = None  # default: true for http (but GET/HEAD), shell, silence, python
    rollback: StepConfig | None = None
    http: HttpStep | None = None
    shell: ShellStep | None = None
    promql: PromqlStep | None = None
    wait: WaitStep | None = None
    approval: ApprovalStep | None = None
    silence: SilenceStep | None = None
    notify: NotifyStep | None = None
    python: PythonStep | None = None

    @property
    def type(self) -> str:
        for name in STEP_TYPES:
            if getattr(self, name) is not None:
                return name
        return ""

    @property
    def section(self) -> Any:
        return getattr(self, self.type)

    @property
    def is_mutating(self) -> bool:
        if self.mutating is not None:
            return self.mutating
        if self.http is not None:
            return self.http.method.upper() not in ("GET", "HEAD")
        return self.type not in _READ_ONLY

    @property
    def rerun_safe(self) -> bool:
        """May run again after an interruption: declared idempotent, or changes nothing."""
        return self.idempotent or self.type in ("promql", "wait", "approval")

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        present = [name for name in STEP_TYPES if getattr(self, name) is not None]
        if len(present) != 1:
            got = ", ".join(present) if present else "none"
            problems.append((path, f"expected exactly one of {', '.join(STEP_TYPES)}; got {got}"))
        if self.when is not None and (text := check_expression(self.when)):
            problems.append((f"{path}.when", text))
        if self.rollback is not None and self.rollback.rollback is not None:
            problems.append((f"{path}.rollback.rollback", "a rollback step has no rollback"))
        for where, text in _templates(self, path):
            if problem := check_syntax(text):
                problems.append((where, problem))
        return problems


def _templates(step: StepConfig, path: str) -> Iterator[tuple[str, str]]:
    """Every string of a step's type section, with its key path."""
    if not step.type:
        return
    section = step.section
    yield from _strings(
        {f.name: getattr(section, f.name) for f in dataclasses.fields(section)},
        f"{path}.{step.type}",
    )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


@dataclass(frozen=True, slots=True)
class ConcurrencyConfig:
    max: int = field(default=1, metadata={"check": greater_than_zero})  # of this runbook
    per_alert: int = field(default=1, metadata={"check": greater_than_zero})  # per fingerprint


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Whether runs wait for a person before their first mutating step: automatic ones, runs
    by hand and live drills alike (dry runs change nothing, so they do not wait)."""

    required: bool = False
    approvers: tuple[str, ...] = field(default=(), metadata={"shorthand": _NAMES})
    timeout: timedelta = field(default=timedelta(minutes=30), metadata={"check": positive_duration})
    # Whoever started an execution never approves it: not the gate, and not any approval
    # step of this runbook (compared as people: see the people directory).
    four_eyes: bool = False


@dataclass(frozen=True, slots=True)
class RunbookBreakerConfig:
    """After ``failures`` failed automatic runs within ``window``, automatic runs stop."""

    failures: int = field(default=3, metadata={"check": greater_than_zero})
    window: timedelta = field(default=timedelta(hours=1), metadata={"check": positive_duration})


@dataclass(frozen=True, slots=True)
class RunbookConfig:
    id: str = field(metadata={"check": _check_id})
    title: str = field(metadata={"check": not_empty})
    description: str = ""
    owner: str = ""
    match: tuple[str, ...] = field(
        default=(), metadata={"shorthand": MATCHERS, "check_each": check_matchers}
    )
    on: Literal["firing", "resolved", "both"] = "firing"
    # Start by itself on matching alerts (else only by hand); needs a non-empty match.
    automatic: bool = True
    params: Mapping[str, ParamSpec] = field(default_factory=_mapping)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    cooldown: timedelta = timedelta(minutes=10)
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    breaker: RunbookBreakerConfig = field(default_factory=RunbookBreakerConfig)
    steps: tuple[StepConfig, ...] = field(default=(), metadata={"check": not_empty})
    source: str = field(default="", metadata={"internal": True})

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            where = f"steps[{index}]"
            if not step.id:
                problems.append((f"{where}.id", "required key is missing"))
            elif step.id in seen:
                problems.append((f"{where}.id", f"duplicates steps[{seen[step.id]}].id"))
            else:
                seen[step.id] = index
        problems += unfilled(self.params)
        return problems

    def matchers(self) -> tuple[Matcher, ...]:
        return tuple(m for text in self.match for m in parse_matchers(text, field="match"))

    def step(self, step_id: str) -> StepConfig | None:
        return next((s for s in self.steps if s.id == step_id), None)


class Runbooks:
    """The loaded runbooks by id, with their matchers parsed once."""

    def __init__(self, runbooks: Mapping[str, RunbookConfig] | None = None) -> None:
        self._by_id = dict(runbooks or {})
        self._matchers = {rid: rb.matchers() for rid, rb in self._by_id.items()}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[RunbookConfig]:
        return iter(sorted(self._by_id.values(), key=lambda rb: rb.id))

    def get(self, runbook_id: str) -> RunbookConfig | None:
        return self._by_id.get(runbook_id)

    def matching(self, labels: Mapping[str, str], status: str) -> list[RunbookConfig]:
        """The automatic runbooks an alert in ``status`` (firing, resolved) starts."""
        # A runbook without matchers never starts by itself: "every alert" is never what a
        # runbook that changes things means.
        return [
            rb
            for rb in self
            if rb.automatic
            and rb.match
            and rb.on in (status, "both")
            and matches_all(self._matchers[rb.id], labels)
        ]

    def offered(self, labels: Mapping[str, str]) -> list[RunbookConfig]:
        """The runbooks written for a firing alert with ``labels``, automatic or not: those a
        person may start for it by hand (the message about it offers them)."""
        return [
            rb
            for rb in self
            if rb.match
            and rb.on in ("firing", "both")
            and matches_all(self._matchers[rb.id], labels)
        ]


def parse_runbook(
    text: str, *, source: str = "<runbook>", env: Mapping[str, str] | None = None
) -> RunbookConfig:
    """One runbook document, validated; raises ``ConfigError`` listing every problem."""
    return _parse_runbook(text, source, env)[0]


def _parse_runbook(
    text: str, source: str, env: Mapping[str, str] | None
) -> tuple[RunbookConfig, Positions]:
    """The runbook, and where its values were written (for problems found later)."""
    data, positions = parse_document(text, source)
    runbook = from_data(RunbookConfig, data, source=source, env=env, positions=positions)
    # A rollback step without an id of its own is named after the step it undoes.
    steps = tuple(
        dataclasses.replace(
            step, rollback=dataclasses.replace(step.rollback, id=f"{step.id}.rollback")
        )
        if step.rollback is not None and not step.rollback.id
        else step
        for step in runbook.steps
    )
    return dataclasses.replace(runbook, source=source, steps=steps), positions


@dataclass(frozen=True, slots=True)
class RunbookSources:
    """What ``automation.runbooks`` names: the files, the problems (a named file that does
    not exist) and the warnings (a pattern that matches no file)."""

    files: tuple[str, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def runbook_sources(config: Config) -> RunbookSources:
    """The files ``automation.runbooks`` names, relative to the configuration file.

    A pattern with wildcards that matches nothing is a warning, not an error: a directory of
    runbooks may be empty for a while (``runbooks.d/*.yml``). A file named without wildcards
    must exist.
    """
    base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
    found: list[str] = []
    problems: list[str] = []
    warnings: list[str] = []
    for index, pattern in enumerate(config.automation.runbooks):
        path = os.path.join(base, pattern)
        if glob.has_magic(pattern):
            matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
            if not matches:
                where = _config_key(config, f"automation.runbooks[{index}]")
                warnings.append(
                    f"{where}: {json.dumps(pattern)} matches no file "
                    f"(looked in {os.path.abspath(base)})"
                )
        elif not os.path.exists(path):
            where = _config_key(config, f"automation.runbooks[{index}]")
            problems.append(f"{where}: no such file: {json.dumps(path)}")
            continue
        else:
            matches = [path]
        found += [m for m in matches if m not in found]
    return RunbookSources(tuple(found), tuple(problems), tuple(warnings))


def runbook_files(config: Config) -> list[str]:
    """The runbook files ``automation.runbooks`` names that exist."""
    return list(runbook_sources(config).files)


def _config_key(config: Config, path: str) -> str:
    """``firebreak.yml:LINE:COLUMN: path`` for a key of the main configuration file, which is
    read again to find it (only when there is something to say about it)."""
    try:
        with open(config.source, encoding="utf-8-sig") as file:
            _, positions = parse_document(file.read(), config.source)
    except (OSError, UnicodeDecodeError, ConfigError):
        positions = NO_POSITIONS
    return located(config.source, positions, path)


def load_runbooks(config: Config, env: Mapping[str, str] | None = None) -> Runbooks:
    """Read and validate every runbook file; ``ConfigError`` lists the problems of all."""
    sources = runbook_sources(config)
    problems: list[str] = list(sources.problems)
    loaded: dict[str, RunbookConfig] = {}
    for path in sources.files:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
            runbook, positions = _parse_runbook(text, path, env)
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: cannot read: not UTF-8 text ({exc.reason})")
            continue
        except ConfigError as exc:
            problems += exc.problems
            continue
        if runbook.id in loaded:
            where = located(path, positions, "id")
            problems.append(f"{where}: duplicates the runbook in {loaded[runbook.id].source}")
            continue
        problems += [
            f"{located(path, positions, key)}: {text}"
            for key, text in check_against(runbook, config)
        ]
        loaded[runbook.id] = runbook
    if problems:
        raise ConfigError(problems)
    return Runbooks(loaded)


def check_against(runbook: RunbookConfig, config: Config) -> list[tuple[str, str]]:
    """What in a runbook does not fit the configuration it runs under: ``(key path,
    problem)`` pairs."""
    problems: list[tuple[str, str]] = []
    for index, step in enumerate(runbook.steps):
        for where, s in ((f"steps[{index}]", step), (f"steps[{index}].rollback", step.rollback)):
            if s is None:
                continue
            if s.promql is not None and config.automation.prometheus_url is None:
                problems.append((f"{where}.promql", "needs automation.prometheus_url"))
            if s.silence is not None and silence_api(config) is None:
                problems.append((f"{where}.silence", "needs automation.alertmanager_url"))
            if s.notify is not None and s.notify.channel not in config.channels:
                problems.append((f"{where}.notify.channel", f"no channel {s.notify.channel!r}"))
    return problems


def allow_list_warnings(runbooks: Runbooks, config: Config) -> list[str]:
    """http steps whose URL is written out (no template) and points where
    ``automation.http_allow`` does not let it go. Templated URLs are checked when they run."""
    allow = HostAllowList(config.automation.http_allow)
    found: list[str] = []
    for runbook in runbooks:
        for index, step in enumerate(runbook.steps):
            at = f"steps[{index}]"
            for where, s in ((at, step), (f"{at}.rollback", step.rollback)):
                if s is None or s.http is None or "{" in s.http.url:
                    continue
                try:
                    url = yarl.URL(s.http.url)
                except ValueError:
                    continue
                if url.host is None:
                    continue
                problem = allow.static_refusal(url.host, url.port or 80)
                if problem is not None:
                    found.append(f"{runbook.source}: {where}.http.url: {problem}")
    return found


def silence_api(config: Config) -> str | None:
    """Where silence steps go: ``automation.alertmanager_url``, else ``alertmanager.url``."""
    if config.automation.alertmanager_url is not None:
        return config.automation.alertmanager_url
    return config.alertmanager.url if config.alertmanager is not None else None
