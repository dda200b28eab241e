"""A family of inputs checked against one application: ``each_case`` runs the same check on
every case, in order, and fails once at the end naming every case that broke and how.

Building an application (and its database) costs far more than one request to it, so a family
of hostile inputs that share a set-up and each leave the store as they found it (a refused
request) is one test per store rather than one test per input. A check still asserts what it
asserted as a test of its own, store left untouched included; where a case wrongly leaves
something behind, the cases after it fail that part too, and the first one named is the one
that did it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import pytest

Case = TypeVar("Case")


def named(values: Iterable[Any]) -> list[tuple[str, Any]]:
    """``values`` as cases, each named by its ``repr``."""
    return [(_short(repr(value)), value) for value in values]


def _short(name: str) -> str:
    """``name``, or past 60 characters its start and its length."""
    return name if len(name) <= 60 else f"{name[:40]}... ({len(name)} long)"


def by_first(rows: Iterable[tuple[Any, ...]]) -> list[tuple[str, Any]]:
    """``rows`` (tuples whose first item says what they are about, a field) as cases named by
    that item and their place in the list, ``field-3``."""
    return [(_short(f"{row[0]}-{place}"), row) for place, row in enumerate(rows)]


def crossed(
    fields: Iterable[str], values: Iterable[tuple[str, Any]]
) -> list[tuple[str, tuple[str, Any]]]:
    """Every field with every named value, as cases (``field``, ``value``) named
    ``field=name``."""
    values = list(values)
    return [(f"{field}={name}", (field, value)) for field in fields for name, value in values]


async def each_case(
    cases: Iterable[tuple[str, Case]], check: Callable[[Case], Awaitable[None]]
) -> None:
    """``check`` every case (a name and a value) and fail, after the last, with the name and
    error of each that failed."""
    failures: list[str] = []
    ran = 0
    for name, case in cases:
        ran += 1
        try:
            await check(case)
        # Any error, and pytest.raises finding none (which is no Exception), reported below.
        except (Exception, pytest.fail.Exception) as exc:
            failures.append(f"[{name}] {type(exc).__name__}: {exc}")
    assert ran, "no cases"
    assert not failures, f"{len(failures)} of {ran} cases failed:\n" + "\n".join(failures)
