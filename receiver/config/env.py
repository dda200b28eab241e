"""Environment references in configuration strings.

Every string scalar may refer to environment variables: ``${VAR}``, ``${VAR:-default}`` (used
when VAR is unset or empty), and ``$${`` for a literal ``${``. Keys are never expanded. A value
that came out of an expansion may fill a number or boolean field when it spells one
(``pool_size: ${POOL_SIZE:-10}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from receiver.config.problems import INVALID, Reporter
from receiver.config.yaml import join


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


def expand(
    value: object, path: str, env: Mapping[str, str], reporter: Reporter, memo: dict[int, object]
) -> object:
    """Copy ``value`` with references in strings replaced; ``memo`` handles YAML aliases."""
    if isinstance(value, str):
        return _expand_string(value, path, env, reporter)
    if not isinstance(value, (list, dict)):
        return value
    # An alias shares one object between several places, maybe recursively (&a [*a]).
    done = memo.get(id(value))
    if done is _IN_PROGRESS:
        reporter.problem(path, "a YAML alias may not refer to a node that contains it")
        return INVALID
    if done is not None:
        return done
    memo[id(value)] = _IN_PROGRESS
    result: object
    if isinstance(value, list):
        result = [expand(item, f"{path}[{i}]", env, reporter, memo) for i, item in enumerate(value)]
    else:
        result = {k: expand(v, join(path, k), env, reporter, memo) for k, v in value.items()}
    memo[id(value)] = result
    return result


def _expand_string(text: str, path: str, env: Mapping[str, str], reporter: Reporter) -> object:
    """``text`` with references replaced; ``INVALID`` (problems recorded) when one cannot be."""
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
        reporter.problem(path, problem)
    if problems:
        return INVALID
    return _Expanded(result) if references else result


_ENV_INT = re.compile(r"[-+]?[0-9]{1,18}")
_ENV_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def from_env(value: object, tp: type) -> object:
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
