"""Templates in runbooks: Jinja2 in an immutable sandbox, strict about undefined names.

An unsandboxed Jinja lets a template reach Python internals (``''.__class__.__mro__``...) —
StackStorm's CVE-2021-44657 was remote command execution that way. Here templates only see
the scope they are given (``alert``, ``labels``, ``annotations``, ``params``,
``trigger_context``, ``execution``, ``steps.<id>.output``), cannot call unsafe attributes and
cannot mutate it. Every problem is a ``TemplateFailure`` with a message that names the field,
for the executor to record as the step's failure.

The escaping filters of ``escaping.py`` (``path_segment``, ``promql_string``, ``matcher_value``,
``not_option``) are registered here: a value refused by one fails the step like any other
template error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from receiver.automation.escaping import FILTERS, UnsafeValue

# Longest a rendered value may be: a template is not a way to build megabytes of argv.
_MAX_RENDERED = 64 * 1024


class TemplateFailure(Exception):
    """A template could not be parsed or rendered; the message says where and why."""


def environment(finalize: Callable[[Any], Any] | None = None) -> ImmutableSandboxedEnvironment:
    """The sandbox every template of ours renders in (runbooks, message templates).
    ``finalize`` is applied to the value of each ``{{ expression }}``: message templates escape
    there for their sink, so a template's own markup stays and only the values are escaped."""
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(FILTERS)
    return env


_ENV = environment()


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


@functools.lru_cache(maxsize=1024)
def _expression(text: str) -> Any:
    return _ENV.compile_expression(text, undefined_to_none=False)


def check_syntax(text: str) -> str | None:
    """What is wrong with a template's syntax, or None; for validating definitions."""
    try:
        _template(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message} (line {exc.lineno})"
    return None


def check_expression(text: str) -> str | None:
    try:
        _expression(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"expression syntax error: {exc.message}"
    return None


def render(text: str, scope: Mapping[str, Any], where: str = "") -> str:
    """``text`` rendered in ``scope``; text without template markers is returned as it is."""
    if "{" not in text:
        return text
    try:
        rendered = _template(text).render(scope)
    except jinja2.TemplateError as exc:
        raise TemplateFailure(failure_message(where, exc)) from None
    except (ArithmeticError, ValueError, TypeError, LookupError) as exc:
        raise TemplateFailure(failure_message(where, exc)) from None
    if len(rendered) > _MAX_RENDERED:
        raise TemplateFailure(f"{where}: rendered to more than {_MAX_RENDERED} characters")
    return rendered


def render_value(value: Any, scope: Mapping[str, Any], where: str = "") -> Any:
    """Render every string inside lists and mappings; other values stay as they are."""
    if isinstance(value, str):
        return render(value, scope, where)
    if isinstance(value, Mapping):
        return {k: render_value(v, scope, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, scope, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def evaluate(expression: str, scope: Mapping[str, Any], where: str = "when") -> bool:
    """The truth of a ``when`` expression such as ``steps.check.output.value > 0.5``."""
    try:
        return bool(_expression(expression)(**scope))
    except jinja2.TemplateError as exc:
        raise TemplateFailure(failure_message(where, exc)) from None
    except (ArithmeticError, ValueError, TypeError, LookupError) as exc:
        raise TemplateFailure(failure_message(where, exc)) from None


def failure_message(where: str, exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        kind = "template not allowed"
    elif isinstance(exc, UnsafeValue):
        kind = "value refused"
    else:
        kind = "template error"
    detail = getattr(exc, "message", None) or str(exc)
    return f"{where}: {kind}: {detail}" if where else f"{kind}: {detail}"
