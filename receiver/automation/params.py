"""Runbook parameters: filled where the runbook says, set by hand only where it allows, and
redacted before anything is shown; and the scope templates see."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import yarl

from receiver.alertmanager import format_rfc3339
from receiver.automation.definitions import RunbookConfig
from receiver.automation.paramtypes import ParamSpec, convert
from receiver.errors import InvalidInput
from receiver.hostallow import HostAllowList
from receiver.model import Alert

REDACTED = "<redacted>"
# Keys whose values are credentials wherever they appear in a step's inputs.
_SECRET_KEY = re.compile(r"authorization|cookie|token|secret|passw(or)?d|api[-_]?key", re.I)


def fill_params(
    runbook: RunbookConfig,
    alert: Alert | None,
    trigger_context: Mapping[str, Any],
    given: Mapping[str, Any] | None = None,
    *,
    sample: bool = False,
) -> dict[str, Any]:
    """Every parameter: the value a person ``given`` at a manual run (``manual_values``), else
    where its ``from`` says, else its default; each converted to its type and checked against
    its pattern. Raises ``InvalidInput`` naming the first parameter that is wrong or missing.
    ``sample``: ``alert`` is the sample alert of a dry run for no alert, not one anybody gave."""
    sources: dict[str, Mapping[str, Any]] = {
        "labels": alert.labels if alert else {},
        "annotations": alert.annotations if alert else {},
        "trigger_context": trigger_context,
    }
    given = given or {}
    params: dict[str, Any] = {}
    for name, spec in runbook.params.items():
        value: Any = given.get(name)
        if value is None and spec.source is not None:
            kind, key = spec.source
            value = sources[kind].get(key)
            if value == "" and kind != "trigger_context":
                value = None  # an empty label is no label, to Prometheus and Alertmanager
        if value is None:
            value = spec.default
        if value is None:
            if spec.required:
                raise InvalidInput(f"params.{name}", _missing(name, spec, alert, sample))
            params[name] = None
            continue
        params[name] = convert(name, spec, value)
    return params


def _missing(name: str, spec: ParamSpec, alert: Alert | None, sample: bool) -> str:
    """Why a required parameter has no value, in the terms of this run."""
    hand = f"; give it at the run ({name}=VALUE)" if spec.settable else ""
    if spec.source is None:
        return f"required{hand}"
    kind, key = spec.source
    if kind == "trigger_context":
        return f"required: give {key} at the run"
    what = "label" if kind == "labels" else "annotation"
    if sample:
        # Nobody gave an alert: speak of the sample the dry run made up, and of the ways in.
        ways = f"{hand} or name an alert to run it for" if hand else "; name an alert to run it for"
        return (
            f"required: it is read from {spec.from_}, and this dry run for no alert renders with "
            f"a sample alert, which has no {what} {key}{ways}"
        )
    if alert is None:
        return f"required: it is read from {spec.from_}, and this run has no alert{hand}"
    return f"required, and the alert has no {what} {key}{hand}"


def manual_values(
    runbook: RunbookConfig, trigger_context: Mapping[str, Any], allow: HostAllowList
) -> dict[str, Any]:
    """The parameters a person sets by giving ``trigger_context`` at a manual run, converted:
    an entry named like a parameter, or one a parameter's ``from: trigger_context.KEY`` reads.
    Raises ``InvalidInput`` for a parameter that is not ``settable``, a value that is not of
    its type, and a ``url`` or ``host`` outside ``automation.http_allow``. Entries that set no
    parameter are only context (recorded, and seen by templates as ``trigger_context``)."""
    given: dict[str, Any] = {}
    for name, spec in runbook.params.items():
        source = spec.source
        keys = [name] if name in trigger_context else []
        if source is not None and source[0] == "trigger_context" and source[1] in trigger_context:
            keys.append(source[1])
        if not keys:
            continue
        if not spec.settable:
            raise InvalidInput(f"params.{name}", f"not settable at a manual run; {_filled(spec)}")
        value = trigger_context[keys[0]]
        if value is None:
            continue
        converted = convert(name, spec, value)
        if spec.type in ("url", "host") and (refusal := _outside(spec.type, converted, allow)):
            raise InvalidInput(f"params.{name}", refusal)
        given[name] = converted
    return given


def _filled(spec: ParamSpec) -> str:
    if spec.from_ is not None:
        return f"the runbook fills it from {spec.from_}"
    return "the runbook gives it its default"


def _outside(kind: str, value: str, allow: HostAllowList) -> str | None:
    """Why a url or host given by hand is not within ``automation.http_allow``, or None."""
    if kind == "url":
        url = yarl.URL(value)
        assert url.host is not None  # convert checked it has one
        return allow.static_refusal(url.host, url.port or 80)
    # A host alone has no port: it is within the list when an entry allows it on some port.
    ports = {entry.port or 443 for entry in allow.entries} or {443}
    if any(allow.static_refusal(value, port) is None for port in ports):
        return None
    return f"{value} is not on automation.http_allow"


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
