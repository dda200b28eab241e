"""The OpenAPI 3.1 document of every HTTP endpoint, built once from the tables below.

``GET /api/v1/openapi.json`` serves it without authentication, like Prometheus's own API
documentation: it describes the API and holds no data. A test compares its paths and methods
with the application's routes both ways, so a route added without documentation fails.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from receiver import __version__

JSON = "application/json"

# --- schemas ----------------------------------------------------------------------------------


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


_TIME = _nullable("string")  # RFC 3339, UTC
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_ANY_OBJECT = {"type": "object"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_ALERT = _object(
    {
        "id": {"type": "integer"},
        "fingerprint": {"type": "string"},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": _LABELS,
        "annotations": _LABELS,
        "starts_at": _TIME,
        "ends_at": _TIME,
        "first_seen_at": _TIME,
        "last_seen_at": _TIME,
        "acknowledged_at": _TIME,
        "acknowledged_by": _nullable("string"),
        "resolved_by": _nullable("string"),
        "generator_url": _nullable("string"),
        "group_key": _nullable("string"),
        "snoozed_until": _TIME,
    }
)

_EXECUTION = _object(
    {
        "id": {"type": "integer"},
        "runbook": {"type": "string"},
        "alert_id": _nullable("integer"),
        "fingerprint": _nullable("string"),
        "trigger": {"type": "string"},
        "dry_run": {"type": "boolean"},
        "state": {"type": "string"},
        "actor": {"type": "string"},
        "params": _ANY_OBJECT,
        "trigger_context": _ANY_OBJECT,
        "phase": {"type": "string", "enum": ["run", "rollback"]},
        "position": {"type": "integer"},
        "approved_by": _nullable("string"),
        "cancel_reason": _nullable("string"),
        "error": _nullable("string"),
        "created_at": _TIME,
        "updated_at": _TIME,
        "finished_at": _TIME,
    }
)

_JOB = _object(
    {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "state": {"type": "string", "enum": ["pending", "running", "done", "dead"]},
        "payload": {},
        "due_at": _TIME,
        "attempts": {"type": "integer"},
        "last_error": _nullable("string"),
        "outcome": {},
        "idempotency_key": _nullable("string"),
        "lease_owner": _nullable("string"),
        "started_at": _TIME,
        "created_at": _TIME,
        "finished_at": _TIME,
    }
)

_AUTOMATION_STATE = _object(
    {
        "paused": {"type": "boolean"},
        "by": {"type": "string"},
        "reason": _nullable("string"),
        "at": {"type": "string"},
    },
    required=["paused"],
)

_COUNT = {"type": "integer"}
_SHARE = _nullable("number")  # 0 to 1; null when there is nothing to divide by

_RESPONSE_FIGURES = _object(
    {
        "alerts": _COUNT,
        "paged": _COUNT,
        "acknowledged": _COUNT,
        "resolved": _COUNT,
        "mtta": _ref("Durations"),
        "mttr": _ref("Durations"),
        "ack_target_eligible": _COUNT,
        "ack_within_target": _COUNT,
        "ack_within_target_share": _SHARE,
    }
)

_NOISE_ITEM = _object(
    {
        "alertname": {"type": "string"},
        "severities": _array({"type": "string"}),
        "occurrences": _COUNT,
        "fingerprints": _COUNT,
        "flapping": _COUNT,
        "auto_resolved": _COUNT,
        "never_acted_on": _COUNT,
        "paged": _COUNT,
        "still_firing": _COUNT,
        "cofiring": _COUNT,
        "cofiring_with": _nullable("string"),
        "median_duration_seconds": _nullable("number"),
        "suggestion": _object(
            {
                "action": {
                    "enum": ["raise_for", "add_inhibition", "tune_threshold", None],
                },
                "text": {"type": "string"},
                "reason": {"type": "string"},
            }
        ),
    }
)

_RUNBOOK_FIGURES = _object(
    {
        "runbook": {"type": "string"},
        **{
            name: _COUNT
            for name in (
                "runs",
                "automatic",
                "succeeded",
                "failed",
                "rolled_back",
                "cancelled",
                "skipped",
                "unfinished",
                "resolved_without_page",
                "without_baseline",
            )
        },
        "success_ratio": _SHARE,
        "median_run_seconds": _nullable("number"),
        "time_saved_seconds": {"type": "number"},
    }
)

SCHEMAS: dict[str, Any] = {
    "Error": {
        "description": "The one error shape of every endpoint.",
        **_object(
            {
                "status": {"type": "string", "enum": ["error"]},
                "error": {"type": "string"},
                "field": {"type": "string", "description": "the parameter or body field at fault"},
                "execution_id": {
                    "type": "integer",
                    "description": "the execution that records a run held back",
                },
                "request_id": {"type": "string"},
            },
            required=["status", "error", "request_id"],
        ),
    },
    "Alert": _ALERT,
    "AlertDetail": {
        "allOf": [
            _ref("Alert"),
            _object(
                {
                    "events": _array(
                        _object(
                            {
                                "id": {"type": "integer"},
                                "kind": {"type": "string"},
                                "at": _TIME,
                                "actor": _nullable("string"),
                                "note": _nullable("string"),
                                "request_id": _nullable("string"),
                            }
                        )
                    ),
                    "notifications": _array(_ANY_OBJECT),
                }
            ),
        ]
    },
    "AlertPage": _object({"alerts": _array(_ref("Alert")), "next_cursor": _nullable("string")}),
    "Job": _JOB,
    "AuditPage": _object(
        {
            "entries": _array(
                _object(
                    {
                        "id": {"type": "integer"},
                        "at": _TIME,
                        "actor": {"type": "string"},
                        "interface": {"type": "string"},
                        "action": {"type": "string"},
                        "target": _nullable("string"),
                        "outcome": {"type": "string"},
                        "status": _nullable("integer"),
                        "request_id": _nullable("string"),
                        "detail": {"anyOf": [_ANY_OBJECT, {"type": "null"}]},
                    }
                )
            ),
            "next_cursor": _nullable("string"),
        }
    ),
    "Window": _object({"since": {"type": "string"}, "until": {"type": "string"}}),
    "Durations": _object(
        {
            "count": {"type": "integer"},
            "mean_seconds": _nullable("number"),
            "median_seconds": _nullable("number"),
            "p90_seconds": _nullable("number"),
        }
    ),
    "ResponseFigures": _RESPONSE_FIGURES,
    "ResponseReport": _object(
        {
            "window": _ref("Window"),
            "by": {"type": "string"},
            "ack_target_seconds": {"type": "number"},
            "groups": _array(
                {
                    "allOf": [
                        _object({"group": {"type": "string"}, "severity": {"type": "string"}}),
                        _ref("ResponseFigures"),
                    ]
                }
            ),
            "overall": _ref("ResponseFigures"),
        }
    ),
    "NoiseReport": _object(
        {
            "window": _ref("Window"),
            "flap_window_seconds": {"type": "number"},
            "inhibit_equal": _array({"type": "string"}),
            "total_alertnames": {"type": "integer"},
            "alerts": _array(_NOISE_ITEM),
        }
    ),
    "RunbookReport": _object(
        {
            "window": _ref("Window"),
            "time_saved_seconds": {"type": "number"},
            "runbooks": _array(_RUNBOOK_FIGURES),
        }
    ),
    "Reloaded": _object(
        {"status": {"type": "string"}, "restart_needed": _array({"type": "string"})}
    ),
    "JobPage": _object({"jobs": _array(_ref("Job")), "next_cursor": _nullable("string")}),
    "Runbook": _object(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "match": _array({"type": "string"}),
            "on": {"type": "string", "enum": ["firing", "resolved", "both"]},
            "automatic": {"type": "boolean"},
            "approval": _ANY_OBJECT,
            "steps": _array(_ANY_OBJECT),
        },
    ),
    "RunbookList": _object({"runbooks": _array(_ref("Runbook"))}),
    "Execution": _EXECUTION,
    "ExecutionRecord": {
        "allOf": [
            _ref("Execution"),
            _object({"steps": _array(_ANY_OBJECT), "events": _array(_ANY_OBJECT)}),
        ]
    },
    "ExecutionPage": _object(
        {"executions": _array(_ref("Execution")), "next_cursor": _nullable("string")}
    ),
    "DrillReport": _object(
        {
            "drill_id": {"type": "string"},
            "runbook": {"type": "string"},
            "live": {"type": "boolean"},
            "alert_id": _nullable("integer"),
            "execution_id": _nullable("integer"),
            "execution_state": _nullable("string"),
            "ok": {"type": "boolean"},
            "stages": _array(_ANY_OBJECT),
        }
    ),
    "AutomationState": _AUTOMATION_STATE,
    "BreakerReset": _object(
        {"runbook": {"type": "string"}, "breaker": {"type": "string", "enum": ["reset"]}}
    ),
    "Breakers": _object({"breakers": _array(_ANY_OBJECT)}),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok"]},
            "version": {"type": "string"},
            "uptime_seconds": {"type": "number"},
        }
    ),
    "HealthDetailed": _object(
        {
            "status": {"type": "string", "enum": ["ok", "fail"]},
            "version": {"type": "string"},
            "uptime_seconds": {"type": "number"},
            "checks": _ANY_OBJECT,
        }
    ),
    "WebhookAccepted": _object(
        {"status": {"type": "string", "enum": ["success"]}, "alerts": {"type": "integer"}}
    ),
    "PagerDutyOutcome": _object(
        {"status": {"type": "string", "enum": ["success"]}, "outcome": _nullable("string")}
    ),
    "Note": {
        "type": "object",
        "properties": {"note": {"type": "string", "maxLength": 4000}},
    },
    "Reason": {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 2000}},
    },
}

# --- responses --------------------------------------------------------------------------------

_ERRORS = {
    400: "A parameter or body field is malformed or out of range; `field` names it.",
    401: "No bearer token, or one that is not valid.",
    403: "The token's role does not allow this.",
    404: "No such object.",
    408: "The body did not arrive within api.body_timeout.",
    409: "The object is not in a state that allows this.",
    413: "The body is over the limit.",
    415: "The body is not application/json.",
    429: "Too many failed authentications from this address; see Retry-After.",
    503: "The store is unavailable; try again (see Retry-After).",
}

_AUTH = (401, 403, 429, 503)  # every authenticated endpoint
# Answered by the HTTP server itself, before any route, to a request whose Expect header asks
# for anything but 100-continue (RFC 9110 section 10.1.1): plain text, on every operation.
_EXPECTATION_FAILED = {
    "417": {
        "description": "The request's Expect header asks for something other than 100-continue.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
_BODY = (400, 408, 413, 415)  # every endpoint that reads a JSON body


def _ok(status: int, schema: str, description: str) -> dict[str, Any]:
    return {str(status): {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": _ERRORS[status],
            "content": {JSON: {"schema": _ref("Error")}},
        }
        for status in sorted(set(statuses))
    }


def _id(what: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"the {what} id",
        "schema": {"type": "string"},
    }


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _body(schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_PAGING = [
    _query("limit", "page size, 1 to 1000 (default 100)"),
    _query("cursor", "the next_cursor of the previous page"),
]


def _window_params(default: str) -> list[dict[str, Any]]:
    return [
        _query("since", f"an RFC 3339 time or a duration back from now (default {default})"),
        _query("until", "an RFC 3339 time or a duration back from now (default now)"),
    ]


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    public: bool = False,
    security: list[dict[str, list[str]]] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "security": [] if public else security or _BEARER,
        "responses": {**responses, **_EXPECTATION_FAILED},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


def _paths() -> dict[str, Any]:
    alert_action: dict[str, Any] = {
        "tag": "alerts",
        "parameters": [_id("alert")],
        "body": _body(_ref("Note")),
    }
    alert_action_responses = {
        **_ok(200, "Alert", "The alert after the change."),
        **_errors(*_AUTH, *_BODY, 404),
    }
    execution_decision = {
        **_ok(200, "Execution", "The execution after the decision."),
        **_errors(*_AUTH, 404, 409),
    }
    return {
        "/webhook": {
            "post": _op(
                "Alertmanager's webhook (v4); answered 200 once the alerts are committed",
                {
                    **_ok(200, "WebhookAccepted", "Committed."),
                    **_errors(400, 401, 408, 413, 415, 503),
                },
                tag="ingest",
                security=[{"webhookBearer": []}, {"webhookBasic": []}],
                body=_body(
                    {"type": "object", "description": "Alertmanager's webhook payload"},
                    required=True,
                ),
            )
        },
        "/api/v1/alerts": {
            "get": _op(
                "Alert occurrences, newest first",
                {**_ok(200, "AlertPage", "A page of alerts."), **_errors(*_AUTH, 400)},
                tag="alerts",
                parameters=[
                    _query("status", "firing or resolved", enum=["firing", "resolved"]),
                    _query("acknowledged", "true or false", enum=["true", "false"]),
                    _query("match[]", 'an Alertmanager matcher set, e.g. {severity="page"}'),
                    _query("since", "an RFC 3339 time or a duration back from now (2h)"),
                    *_PAGING,
                ],
            )
        },
        "/api/v1/alerts/{id}": {
            "get": _op(
                "One alert with its events and the notifications sent for it",
                {**_ok(200, "AlertDetail", "The alert."), **_errors(*_AUTH, 404)},
                tag="alerts",
                parameters=[_id("alert")],
            )
        },
        "/api/v1/alerts/{id}/acknowledge": {
            "post": _op(
                "Acknowledge an alert (stops escalation)", alert_action_responses, **alert_action
            )
        },
        "/api/v1/alerts/{id}/resolve": {
            "post": _op("Resolve an alert by hand", alert_action_responses, **alert_action)
        },
        "/api/v1/alerts/{id}/snooze": {
            "post": _op(
                "Hold an alert's escalation back for a while",
                alert_action_responses,
                tag="alerts",
                parameters=[_id("alert")],
                body=_body(
                    {
                        "type": "object",
                        "required": ["for"],
                        "properties": {
                            "for": {"type": "string", "description": "a duration up to 7d"},
                            "note": {"type": "string", "maxLength": 4000},
                        },
                    },
                    required=True,
                ),
            )
        },
        "/api/v1/jobs": {
            "get": _op(
                "The durable job queue and its dead letters",
                {**_ok(200, "JobPage", "A page of jobs."), **_errors(*_AUTH, 400)},
                tag="jobs",
                parameters=[
                    _query("state", "job state", enum=["pending", "running", "done", "dead"]),
                    _query("kind", "job kind"),
                    *_PAGING,
                ],
            )
        },
        "/api/v1/audit": {
            "get": _op(
                "The audit trail, newest first (admin)",
                {**_ok(200, "AuditPage", "A page of audit entries."), **_errors(*_AUTH, 400)},
                tag="audit",
                parameters=[
                    _query("actor", "only this actor"),
                    _query("action", "only this action"),
                    _query("since", "an RFC 3339 time or a duration such as 2h"),
                    *_PAGING,
                ],
            )
        },
        "/api/v1/reports/response": {
            "get": _op(
                "MTTA, MTTR and acknowledgements within a target, by route (or a label) and "
                "severity",
                {**_ok(200, "ResponseReport", "The report."), **_errors(*_AUTH, 400)},
                tag="reports",
                parameters=[
                    *_window_params("7d"),
                    _query("ack_target", "a duration above 0, at most 7d (default 5m)"),
                    _query("by", '"route" (default) or "label:NAME", e.g. label:team'),
                ],
            )
        },
        "/api/v1/reports/noise": {
            "get": _op(
                "The noisiest alerts, each with a suggestion and its reason",
                {**_ok(200, "NoiseReport", "The report."), **_errors(*_AUTH, 400)},
                tag="reports",
                parameters=[
                    *_window_params("30d"),
                    _query("limit", "alerts listed, 1 to 1000 (default 20)"),
                    _query("flap_window", "a duration above 0, at most 7d (default 1h)"),
                    _query("inhibit_equal", "label names, comma-separated (default service)"),
                ],
            )
        },
        "/api/v1/reports/runbooks": {
            "get": _op(
                "Per runbook: outcomes, success ratio, resolutions without a page, time saved",
                {**_ok(200, "RunbookReport", "The report."), **_errors(*_AUTH, 400)},
                tag="reports",
                parameters=_window_params("30d"),
            )
        },
        "/-/reload": {
            "post": _op(
                "Reload the configuration and runbooks (admin); 400 keeps the old one",
                {
                    **_ok(200, "Reloaded", "In force; sections that wait for a restart listed."),
                    **_errors(*_AUTH, 400),
                },
                tag="operations",
            )
        },
        "/api/v1/jobs/{id}/retry": {
            "post": _op(
                "Retry a dead-lettered job (admin)",
                {**_ok(200, "Job", "The job, pending again."), **_errors(*_AUTH, 404, 409)},
                tag="jobs",
                parameters=[_id("job")],
            )
        },
        "/api/v1/runbooks": {
            "get": _op(
                "The loaded runbooks",
                {**_ok(200, "RunbookList", "Every runbook."), **_errors(*_AUTH)},
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/{id}": {
            "get": _op(
                "One runbook",
                {**_ok(200, "Runbook", "The runbook."), **_errors(*_AUTH, 404)},
                tag="runbooks",
                parameters=[_id("runbook")],
            )
        },
        "/api/v1/runbooks/{id}/execute": {
            "post": _op(
                "Run a runbook by hand, or dry-run it (409 with execution_id when the kill "
                "switch, the breaker or concurrency holds it back; override_breaker: admin)",
                {
                    **_ok(202, "Execution", "The execution, started."),
                    **_errors(*_AUTH, *_BODY, 404, 409),
                },
                tag="runbooks",
                parameters=[_id("runbook")],
                body=_body(
                    {
                        "type": "object",
                        "properties": {
                            "dry_run": {"type": "boolean"},
                            "alert_id": {"type": "integer"},
                            "trigger_context": {
                                **_ANY_OBJECT,
                                "description": "NAME: value for the runbook's settable params "
                                "(any other param named is a 400 naming params.NAME); other "
                                "entries are recorded as context",
                            },
                            "override_breaker": {"type": "boolean"},
                        },
                    }
                ),
            )
        },
        "/api/v1/runbooks/{id}/reset-breaker": {
            "post": _op(
                "Let automatic runs of a runbook start again (admin)",
                {**_ok(200, "BreakerReset", "Reset."), **_errors(*_AUTH, 404)},
                tag="runbooks",
                parameters=[_id("runbook")],
            )
        },
        "/api/v1/executions": {
            "get": _op(
                "Runbook executions, newest first",
                {**_ok(200, "ExecutionPage", "A page of executions."), **_errors(*_AUTH, 400)},
                tag="executions",
                parameters=[
                    _query("runbook", "runbook id"),
                    _query("state", "execution state"),
                    _query("alert_id", "alert id"),
                    *_PAGING,
                ],
            )
        },
        "/api/v1/executions/{id}": {
            "get": _op(
                "One execution with its steps and transitions",
                {**_ok(200, "ExecutionRecord", "The execution."), **_errors(*_AUTH, 404)},
                tag="executions",
                parameters=[_id("execution")],
            )
        },
        "/api/v1/executions/{id}/cancel": {
            "post": _op(
                "Cancel an execution",
                {
                    **_ok(200, "Execution", "The execution, cancelled."),
                    **_errors(*_AUTH, *_BODY, 404, 409),
                },
                tag="executions",
                parameters=[_id("execution")],
                body=_body(_ref("Reason")),
            )
        },
        "/api/v1/executions/{id}/approve": {
            "post": _op(
                "Approve the step an execution waits on (403 under four eyes for the person "
                "who started it)",
                execution_decision,
                tag="executions",
                parameters=[_id("execution")],
            )
        },
        "/api/v1/executions/{id}/reject": {
            "post": _op(
                "Reject the step an execution waits on",
                execution_decision,
                tag="executions",
                parameters=[_id("execution")],
            )
        },
        "/api/v1/drills": {
            "post": _op(
                "Run a drill: a synthetic alert through the whole path (live needs admin)",
                {
                    **_ok(200, "DrillReport", "How far the drill got, stage by stage."),
                    **_errors(*_AUTH, *_BODY, 404, 409),
                },
                tag="runbooks",
                body=_body(
                    {
                        "type": "object",
                        "required": ["runbook"],
                        "properties": {
                            "runbook": {"type": "string"},
                            "live": {"type": "boolean"},
                            "labels": _LABELS,
                            "replay_alert_id": {"type": "integer"},
                            "budget": {"type": "object"},
                        },
                    },
                    required=True,
                ),
            )
        },
        "/api/v1/automation": {
            "get": _op(
                "Whether automation is paused (the kill switch)",
                {**_ok(200, "AutomationState", "The kill switch."), **_errors(*_AUTH)},
                tag="automation",
            )
        },
        "/api/v1/automation/pause": {
            "post": _op(
                "Pause automatic runbook runs (admin)",
                {**_ok(200, "AutomationState", "Paused."), **_errors(*_AUTH, *_BODY)},
                tag="automation",
                body=_body(_ref("Reason")),
            )
        },
        "/api/v1/automation/resume": {
            "post": _op(
                "Resume automatic runbook runs (admin)",
                {**_ok(200, "AutomationState", "Resumed."), **_errors(*_AUTH)},
                tag="automation",
            )
        },
        "/api/v1/openapi.json": {
            "get": _op(
                "This document (no authentication)",
                {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {JSON: {"schema": _ANY_OBJECT}},
                    },
                    **_errors(429),
                },
                tag="ops",
                public=True,
            )
        },
        "/health": {
            "get": _op(
                "Liveness: the process answers (no authentication)",
                {**_ok(200, "Health", "Alive."), **_errors(429)},
                tag="ops",
                public=True,
            )
        },
        "/health/detailed": {
            "get": _op(
                "Each dependency's state; 503 when the store is down",
                {
                    **_ok(200, "HealthDetailed", "Healthy."),
                    **_errors(401, 403, 429),
                    "503": {
                        "description": "The store is down (or the store unavailable).",
                        "content": {
                            JSON: {"schema": {"oneOf": [_ref("HealthDetailed"), _ref("Error")]}}
                        },
                    },
                },
                tag="ops",
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics (no authentication; keep the port private)",
                {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(429),
                },
                tag="ops",
                public=True,
            )
        },
        "/debug/circuit-breakers": {
            "get": _op(
                "Every circuit breaker's state",
                {**_ok(200, "Breakers", "Breakers by channel and target."), **_errors(*_AUTH)},
                tag="ops",
            )
        },
        "/integrations/pagerduty/webhook": {
            "post": _op(
                "PagerDuty v3 webhooks, verified by X-PagerDuty-Signature",
                {
                    **_ok(200, "PagerDutyOutcome", "Applied (or ignored)."),
                    **_errors(400, 401, 408, 413, 429, 503),
                },
                tag="integrations",
                public=True,  # signed with the subscription's secret instead
                parameters=[
                    {
                        "name": "X-PagerDuty-Signature",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                body=_body(_ANY_OBJECT, required=True),
            )
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document; built once (callers must not change it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Firebreak",
            "version": __version__,
            "description": "Alertmanager receiver: alerts, escalation, runbook automation. "
            "API calls take a bearer token (api.tokens) whose role is viewer, responder or "
            "admin; the webhook takes Alertmanager's credentials (webhook.auth); PagerDuty "
            "webhooks are verified by their signature. Errors share one shape (Error).",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an api.tokens token; its role decides what it may do",
                },
                "webhookBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a webhook.auth.bearer_tokens token (Alertmanager's)",
                },
                "webhookBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "webhook.auth.basic_auth (Alertmanager's)",
                },
            },
        },
    }


async def serve_openapi(_request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``: public, like the API documentation of Prometheus."""
    return web.json_response(openapi_document())
