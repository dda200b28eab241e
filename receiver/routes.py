"""The route table: every HTTP endpoint, its handler and its name (the console's are in
``receiver/console/routes.py``). The OpenAPI document is checked against these routes."""

from __future__ import annotations

from aiohttp import web

from receiver.api import alerts, jobs, openapi, ops, pagerduty, webhook
from receiver.api import audit as audit_api
from receiver.api import heartbeats as heartbeat_api
from receiver.api import maintenance as maintenance_api
from receiver.api import reports as reports_api
from receiver.api import runbooks as runbook_api
from receiver.api import schedules as schedule_api
from receiver.config import Config
from receiver.slack.bolt import slack_events

ROUTES = (
    web.post("/webhook", webhook.receive_webhook, name="webhook"),
    web.post("/webhook/grafana", webhook.receive_grafana_webhook, name="grafana_webhook"),
    web.get("/api/v1/alerts", alerts.list_alerts, name="alerts"),
    web.post("/api/v1/alerts", alerts.raise_alert, name="raise_alert"),
    web.get("/api/v1/alerts/{id}", alerts.get_alert, name="alert"),
    web.post("/api/v1/alerts/{id}/acknowledge", alerts.acknowledge_alert, name="acknowledge"),
    web.post("/api/v1/alerts/{id}/resolve", alerts.resolve_alert, name="resolve"),
    web.post("/api/v1/alerts/{id}/snooze", alerts.snooze_alert, name="snooze"),
    web.get("/api/v1/heartbeats", heartbeat_api.list_heartbeats, name="heartbeats"),
    web.post("/api/v1/heartbeats/{name}", heartbeat_api.beat, name="heartbeat_beat"),
    web.get("/api/v1/jobs", jobs.list_jobs, name="jobs"),
    web.post("/api/v1/jobs/{id}/retry", jobs.retry_job, name="job_retry"),
    web.post(
        "/integrations/pagerduty/webhook",
        pagerduty.receive_pagerduty_webhook,
        name="pagerduty_webhook",
    ),
    web.get("/api/v1/runbooks", runbook_api.list_runbooks, name="runbooks"),
    web.get("/api/v1/runbooks/{id}", runbook_api.get_runbook, name="runbook"),
    web.post("/api/v1/runbooks/{id}/execute", runbook_api.execute_runbook, name="runbook_execute"),
    web.post(
        "/api/v1/runbooks/{id}/reset-breaker", runbook_api.reset_breaker, name="runbook_reset"
    ),
    web.get("/api/v1/executions", runbook_api.list_executions, name="executions"),
    web.get("/api/v1/executions/{id}", runbook_api.get_execution, name="execution"),
    web.post("/api/v1/executions/{id}/cancel", runbook_api.cancel_execution, name="cancel"),
    web.post("/api/v1/executions/{id}/approve", runbook_api.approve_execution, name="approve"),
    web.post("/api/v1/executions/{id}/reject", runbook_api.reject_execution, name="reject"),
    web.post("/api/v1/drills", runbook_api.run_drill, name="drills"),
    web.get("/api/v1/automation", runbook_api.automation_state, name="automation"),
    web.post("/api/v1/automation/pause", runbook_api.pause_automation, name="pause"),
    web.post("/api/v1/automation/resume", runbook_api.resume_automation, name="resume"),
    web.post("/-/reload", ops.reload, name="reload"),
    web.get("/api/v1/audit", audit_api.list_audit, name="audit"),
    web.get("/api/v1/reports/response", reports_api.response, name="report_response"),
    web.get("/api/v1/reports/noise", reports_api.noise, name="report_noise"),
    web.get("/api/v1/reports/runbooks", reports_api.runbooks, name="report_runbooks"),
    web.get("/api/v1/reports/oncall", reports_api.oncall, name="report_oncall"),
    web.get("/api/v1/schedules", schedule_api.list_schedules, name="schedules"),
    web.get("/api/v1/schedules/{id}/oncall", schedule_api.oncall, name="schedule_oncall"),
    web.get("/api/v1/schedules/{id}/shifts", schedule_api.shifts, name="schedule_shifts"),
    web.post(
        "/api/v1/schedules/{id}/overrides", schedule_api.add_override, name="schedule_override"
    ),
    web.delete(
        "/api/v1/schedules/{id}/overrides/{override}",
        schedule_api.delete_override,
        name="schedule_override_delete",
    ),
    web.get("/api/v1/maintenance", maintenance_api.list_windows, name="maintenance"),
    web.post("/api/v1/maintenance", maintenance_api.create_window, name="maintenance_create"),
    web.delete("/api/v1/maintenance/{name}", maintenance_api.end_window, name="maintenance_end"),
    web.get(
        "/oncall/feeds/schedule/{id}/{token}.ics", schedule_api.schedule_feed, name="schedule_feed"
    ),
    web.get("/oncall/feeds/person/{id}/{token}.ics", schedule_api.person_feed, name="person_feed"),
    web.get("/api/v1/openapi.json", openapi.serve_openapi, name="openapi"),
    web.get("/health", ops.health, name="health"),
    web.get("/health/detailed", ops.health_detailed, name="health_detailed"),
    web.get("/metrics", ops.metrics, name="metrics"),
    web.get("/debug/circuit-breakers", ops.circuit_breakers, name="circuit_breakers"),
)


def setup_routes(app: web.Application, config: Config) -> None:
    """Add the table's routes, and Slack's events path when ``slack`` is configured."""
    app.router.add_routes(ROUTES)
    if config.slack is not None:
        app.router.add_post(config.slack.path, slack_events, name="slack")
