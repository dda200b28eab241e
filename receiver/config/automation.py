"""Runbook automation (``automation``): where runbooks are, whether they run live, and what
their steps may reach."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from receiver.config.checks import PATTERNS, check_http_url, not_empty
from receiver.config.walker import Shorthand, empty_mapping, one_item_list
from receiver.hostallow import check_entry


def _check_program(value: str) -> str | None:
    if not value or value != value.strip() or "\0" in value:
        return "expected an absolute path or a program name"
    if "/" in value and not value.startswith("/"):
        return "expected an absolute path (or a bare name looked up in PATH)"
    return None


def _at_least_one_second(value: timedelta) -> str | None:
    return None if value >= timedelta(seconds=1) else "must be at least 1s"


def _at_least_1_kib(value: int) -> str | None:
    return None if value >= 1024 else "must be at least 1024"


def _at_least_16_mib(value: int) -> str | None:
    return None if value >= 16 * 1024**2 else "must be at least 16777216 (16 MiB)"


_HOSTS = Shorthand(str, one_item_list, "a host entry or a list of them")
_PROGRAMS = Shorthand(str, one_item_list, "a program or a list of them")


@dataclass(frozen=True, slots=True)
class ShellLimits:
    """Resource limits of every shell step's process (besides the step's timeout)."""

    # CPU time; past it the process gets SIGXCPU, a second later SIGKILL.
    cpu_time: timedelta = field(
        default=timedelta(seconds=60), metadata={"check": _at_least_one_second}
    )
    # Virtual address space; allocations past it fail.
    address_space_bytes: int = field(default=2 * 1024**3, metadata={"check": _at_least_16_mib})


@dataclass(frozen=True, slots=True)
class AutomationConfig:
    """Runbook automation: where the runbook definitions are and what their steps talk to."""

    # Glob patterns of runbook files, relative to the directory of this configuration file.
    runbooks: tuple[str, ...] = field(
        default=(), metadata={"shorthand": PATTERNS, "check_each": not_empty}
    )
    # Start matching runbooks by themselves when alerts fire; false: only manual runs.
    automatic: bool = True
    # What runbooks started by alerts do: "live" runs their steps; "dry_run" renders and
    # records what each step would do and changes nothing (manual runs say for themselves).
    # Dry run by default: a first start acts on nothing until someone writes "mode: live".
    mode: Literal["live", "dry_run"] = "dry_run"
    # The Prometheus HTTP API that promql steps query.
    prometheus_url: str | None = field(default=None, metadata={"check": check_http_url})
    # The Alertmanager v2 API that silence steps create and expire silences on.
    alertmanager_url: str | None = field(default=None, metadata={"check": check_http_url})
    # Where http steps and python actions may connect: host names (*.example.com for
    # subdomains), addresses and CIDR ranges, each optionally with :port. Everything else is
    # refused, and cloud metadata addresses whatever this says; see receiver/hostallow.py.
    http_allow: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _HOSTS, "check_each": check_entry}
    )
    # The programs shell steps may run: absolute paths, or names looked up in PATH.
    shell_allow: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _PROGRAMS, "check_each": _check_program}
    )
    shell_limits: ShellLimits = field(default_factory=ShellLimits)
    # What a step records of its output (and inputs) at most, as JSON; longer strings are cut
    # with a marker saying how much went.
    max_step_output_bytes: int = field(default=128 * 1024, metadata={"check": _at_least_1_kib})
    # Settings of python step actions, by function name, handed to the action (never filled
    # from an alert). Values under keys that name a credential (token, secret, password,
    # api_key) are redacted from every step's output.
    actions: Mapping[str, Mapping[str, object]] = field(default_factory=empty_mapping)
    # The JSON-lines file retry_dead_letters appends the dead letters it leaves to a person
    # to, relative to this configuration file; none: they are only listed in its output.
    dead_letter_archive: str | None = field(default=None, metadata={"check": not_empty})
