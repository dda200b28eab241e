"""What check-config says about runbooks written for the old implicit filling.

Parameters used to be filled, when nothing else gave them, by the alert label or annotation
of their own name. They no longer are: only ``from: labels.NAME`` fills a parameter from a
label. A runbook written for the old way is found here, so that it is fixed before an alert
needs it rather than failing when one does:

- an error when nothing can fill a parameter at all (no ``from``, no ``default``, not
  ``settable``): every run of the runbook would fail with it missing, or render it as nothing;
- a warning when a parameter without ``from`` has a default (or is settable) but is named like
  a label the runbook matches on or a label most alerts carry: it now takes its default where
  it used to take the label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from receiver.automation.paramtypes import ParamSpec
from receiver.matchers import parse_matchers


class Declared(Protocol):
    """What is looked at of a runbook: where it was read, what it matches and its params."""

    @property
    def source(self) -> str: ...

    @property
    def match(self) -> tuple[str, ...]: ...

    @property
    def params(self) -> Mapping[str, ParamSpec]: ...


# Labels most alerts carry (Prometheus target labels, Kubernetes and routing conventions): a
# parameter named like one was most likely meant to be filled from it.
COMMON_LABELS = frozenset(
    {
        "alertname",
        "cluster",
        "container",
        "deployment",
        "env",
        "environment",
        "host",
        "hostname",
        "instance",
        "job",
        "namespace",
        "node",
        "pod",
        "region",
        "service",
        "severity",
        "team",
        "zone",
    }
)


def _no_longer(name: str) -> str:
    return (
        f"param {name} is no longer filled from the label {name}; "
        f"write `from: labels.{name}` if you mean it"
    )


def unfilled(params: Mapping[str, ParamSpec]) -> list[tuple[str, str]]:
    """``(key path, problem)`` for every parameter nothing can fill."""
    return [
        (
            f"params.{name}",
            f"nothing fills it: {_no_longer(name)}, `default:` for a fixed value, or "
            "`settable: true` for one a person gives at a manual run",
        )
        for name, spec in params.items()
        if spec.from_ is None and spec.default is None and not spec.settable
    ]


def implicit_fill_warnings(runbooks: Iterable[Declared]) -> list[str]:
    """Parameters named like a label they are no longer filled from."""
    found: list[str] = []
    for runbook in runbooks:
        matched = {m.name for text in runbook.match for m in parse_matchers(text, field="match")}
        for name, spec in runbook.params.items():
            if spec.from_ is not None or (spec.default is None and not spec.settable):
                continue  # filled as written, or an error already
            if name in matched or name in COMMON_LABELS:
                why = "the runbook matches on it" if name in matched else "alerts commonly carry it"
                found.append(f"{runbook.source}: params.{name}: {_no_longer(name)} ({why})")
    return found
