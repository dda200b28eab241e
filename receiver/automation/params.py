"""Runbook parameters and the scope templates see; secrets redacted before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.automation.definitions import RunbookConfig
from receiver.errors import InvalidInput
from receiver.model import Alert

REDACTED = "<redacted>"
# Keys whose values are credentials wherever they appear in a step's inputs.
_SECRET_KEY = re.compile(r"authorization|cookie|token|secret|passw(or)?d|api[-_]?key", re.I)


def fill_params(
    runbook: RunbookConfig, alert: Alert | None, trigger_context: Mapping[str, Any]
) -> dict[str, Any]:
    """Each parameter from trigger_context, then its ``from``, then the label and annotation of
    its name, then its default, converted to its type. Raises ``InvalidInput``."""
    labels = dict(alert.labels) if alert else {}
    annotations = dict(alert.annotations) if alert else {}
    sources = {"labels": labels, "annotations": annotations, "trigger_context": trigger_context}
    params: dict[str, Any] = {}
    for name, spec in runbook.params.items():
        value: Any = None
        if name in trigger_context:
            value = trigger_context[name]
        elif spec.from_ is not None:
            source, key = spec.from_.split(".", 1)
            value = sources[source].get(key)
        if value is None:
            value = labels.get(name, annotations.get(name, spec.default))
        if value is None:
            if spec.required:
                raise InvalidInput(f"params.{name}", "required, and the alert does not give it")
            params[name] = None
            continue
        params[name] = _convert(name, value, spec.type)
    return params


def _convert(name: str, value: Any, kind: str) -> Any:
    try:
        if kind == "int" and not isinstance(value, bool):
            return int(value)
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false", "1", "0", "yes", "no"):
                return str(value).lower() in ("true", "1", "yes")
            raise ValueError(value)
        if kind == "string":
            return str(value)
    except (TypeError, ValueError):
        pass
    raise InvalidInput(f"params.{name}", f"expected {kind}, got {value!r}")


def alert_scope(alert: Alert | None) -> dict[str, Any]:
    if alert is None:
        return {}
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": format_rfc3339(alert.starts_at),
        "generator_url": alert.generator_url,
    }


def jsonable(value: Any) -> Any:
    """Inputs as they are stored: durations in seconds, tuples as lists."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def redact(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` with credentials replaced: values under secret-looking keys, and every
    occurrence of a secret parameter's value."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return value
    return value


def shown_inputs(
    runbook: RunbookConfig | None, params: Mapping[str, Any], context: Any
) -> tuple[dict[str, Any], Any]:
    """An execution's parameters and trigger context as shown to people (API, CLI, console):
    every ``secret: true`` parameter's value redacted, wherever it appears, and values under
    secret-looking keys. The store keeps them as given, for the steps still to render; a
    runbook no longer loaded is redacted by key only."""
    if runbook is None:
        return redact(dict(params), frozenset()), redact(context, frozenset())
    secrets = secret_values(runbook, params)
    hidden = {name for name, spec in runbook.params.items() if spec.secret}
    shown = {
        name: REDACTED if name in hidden and value is not None else redact(value, secrets)
        for name, value in params.items()
    }
    return shown, redact(context, secrets)


def secret_values(runbook: RunbookConfig, params: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        str(params[name])
        for name, spec in runbook.params.items()
        if spec.secret and params.get(name) is not None
    )
