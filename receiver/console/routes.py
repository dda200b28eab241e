"""The console's routes and navigation.

A page is a handler (``page(role)`` for reads, ``action(role)`` for buttons), a template
extending ``base.html``, a route named ``console_<name>`` below, and, to be in the
navigation, a ``NavItem`` in ``NAV``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from receiver.console import (
    ack,
    alerts,
    bulk,
    executions,
    health,
    heartbeats,
    login,
    maintenance,
    manual_pages,
    reports,
    runbooks,
    schedules,
)
from receiver.console.render import NavItem, environment, error_page
from receiver.typedefs import CONSOLE_TEMPLATES, ERROR_PAGE

NAV = (
    NavItem("Alerts", "console_alerts"),
    NavItem("Page", "console_page"),
    NavItem("Executions", "console_executions"),
    NavItem("Runbooks", "console_runbooks"),
    NavItem("Schedules", "console_schedules"),
    NavItem("Heartbeats", "console_heartbeats"),
    NavItem("Maintenance", "console_maintenance"),
    NavItem("Reports", "console_reports"),
    NavItem("Health", "console_health"),
)

STATIC = Path(__file__).parent / "static"


def setup_console(app: web.Application) -> None:
    """Add the console's routes; their names start with ``console_`` (see the middleware)."""
    app[CONSOLE_TEMPLATES] = environment(NAV)
    app[ERROR_PAGE] = error_page
    r = app.router
    r.add_get("/", alerts.alerts_page, name="console_alerts")
    # Signed acknowledge links from Teams and e-mail: GET shows a page, only POST acts.
    r.add_get("/ack/{token}", ack.page, name="console_ack_link")
    r.add_post("/ack/{token}", ack.confirm, name="console_ack_link_confirm")
    r.add_get("/console", login.to_the_console, name="console_home")
    r.add_get("/console/", login.to_the_console, name="console_home_slash")
    r.add_get("/console/login", login.login_form, name="console_login_form")
    r.add_post("/console/login", login.login, name="console_login")
    r.add_post("/console/logout", login.logout, name="console_logout")
    r.add_post("/console/alerts/bulk", bulk.bulk, name="console_bulk")
    r.add_get("/console/page", manual_pages.page_form, name="console_page")
    r.add_post("/console/page", manual_pages.raise_page, name="console_raise_alert")
    r.add_get("/console/alerts/{id}", alerts.alert_page, name="console_alert")
    r.add_get("/console/alerts/{id}/graph.png", alerts.alert_graph, name="console_alert_graph")
    r.add_post("/console/alerts/{id}/acknowledge", alerts.acknowledge, name="console_acknowledge")
    r.add_post("/console/alerts/{id}/resolve", alerts.resolve, name="console_resolve")
    r.add_post("/console/alerts/{id}/snooze", alerts.snooze, name="console_snooze")
    r.add_get("/console/executions", executions.executions_page, name="console_executions")
    r.add_get("/console/executions/{id}", executions.execution_page, name="console_execution")
    r.add_post("/console/executions/{id}/approve", executions.approve, name="console_approve")
    r.add_post("/console/executions/{id}/reject", executions.reject, name="console_reject")
    r.add_post("/console/executions/{id}/cancel", executions.cancel, name="console_cancel")
    r.add_get("/console/runbooks", runbooks.runbooks_page, name="console_runbooks")
    r.add_get("/console/runbooks/{id}", runbooks.runbook_page, name="console_runbook")
    r.add_post("/console/runbooks/{id}/dry-run", runbooks.dry_run, name="console_runbook_execute")
    r.add_get("/console/schedules", schedules.schedules_page, name="console_schedules")
    r.add_get("/console/schedules/{id}", schedules.schedule_page, name="console_schedule")
    r.add_post(
        "/console/schedules/{id}/overrides",
        schedules.add_override,
        name="console_schedule_override",
    )
    r.add_post(
        "/console/schedules/{id}/overrides/delete",
        schedules.delete_override,
        name="console_schedule_override_delete",
    )
    r.add_get("/console/heartbeats", heartbeats.heartbeats_page, name="console_heartbeats")
    r.add_get("/console/maintenance", maintenance.maintenance_page, name="console_maintenance")
    r.add_post("/console/maintenance", maintenance.create, name="console_maintenance_create")
    r.add_post("/console/maintenance/end", maintenance.end, name="console_maintenance_end")
    r.add_get("/console/reports", reports.reports_page, name="console_reports")
    r.add_get("/console/health", health.health_page, name="console_health")
    r.add_post("/console/jobs/{id}/retry", health.retry_job, name="console_job_retry")
    r.add_static("/console/static/", STATIC, name="console_static")
