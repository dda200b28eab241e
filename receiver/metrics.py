"""Every Prometheus metric Firebreak exports, defined in one place."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from receiver import __version__

# Webhook latency is mostly one fsync; buckets resolve the 1-25 ms range the SLO is about.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


# People take minutes to hours: buckets from 30 s to a day.
_HUMAN_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


class Metrics:
    """The metric objects, registered on the registry the application is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Gauge(
            "firebreak_build_info",
            "Always 1; the version label names the running release.",
            ["version"],
            registry=registry,
        )
        self.build_info.labels(__version__).set(1)
        self.maintenance_open = Gauge(
            "firebreak_maintenance_windows_open",
            "Maintenance windows open when alerts were last checked against them.",
            registry=registry,
        )
        self.maintenance_held = Counter(
            "firebreak_maintenance_held_alerts_total",
            "Times an alert was held back from escalation and runbooks by a maintenance window.",
            registry=registry,
        )
        self.maintenance_silences_created = Counter(
            "firebreak_maintenance_silences_created_total",
            "Alertmanager silences made for maintenance windows' occurrences.",
            registry=registry,
        )
        self.maintenance_silences_expired = Counter(
            "firebreak_maintenance_silences_expired_total",
            "Maintenance windows' Alertmanager silences expired: the window was ended early or "
            "its silence replaced after its matchers changed.",
            registry=registry,
        )
        self.maintenance_silence_failures = Counter(
            "firebreak_maintenance_silence_failures_total",
            "Attempts to make or expire a maintenance window's Alertmanager silence that failed, "
            "by reason: unreachable (retried) or refused (dead-lettered).",
            ["reason"],
            registry=registry,
        )
        for reason in ("unreachable", "refused"):  # exported at 0 before the first failure
            self.maintenance_silence_failures.labels(reason)
        self.template_failures = Counter(
            "firebreak_message_template_failures_total",
            "Messages sent in the default layout because their template failed, by channel.",
            ["channel"],
            registry=registry,
        )
        self.webhook_requests = Counter(
            "firebreak_webhook_requests_total",
            "Webhook requests answered, by HTTP status code.",
            ["code"],
            registry=registry,
        )
        self.webhook_duration = Histogram(
            "firebreak_webhook_duration_seconds",
            "Time from receiving a webhook to answering it, including the commit.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.alerts_received = Counter(
            "firebreak_alerts_received_total",
            "Alerts received in accepted webhooks, by the status Alertmanager gave them.",
            ["status"],
            registry=registry,
        )
        self.occurrences_created = Counter(
            "firebreak_alert_occurrences_created_total",
            "New alert occurrences (fingerprint + startsAt) stored.",
            registry=registry,
        )
        self.truncated_alerts = Counter(
            "firebreak_webhook_truncated_alerts_total",
            "Alerts Alertmanager left out of webhooks because of max_alerts (truncatedAlerts).",
            registry=registry,
        )
        self.active_alerts = Gauge(
            "firebreak_active_alerts",
            "Firing alert occurrences in the store, by severity label.",
            ["severity"],
            registry=registry,
        )
        self.alert_start_skew = Histogram(
            "firebreak_alert_start_skew_seconds",
            "How far ahead of the moment Firebreak first saw it an alert's startsAt lay, for "
            "alerts from the future (a wrong clock); they escalate from when first seen.",
            buckets=(1, 10, 60, 600, 3600, 86400, 7 * 86400, 365 * 86400),
            registry=registry,
        )
        self.ingest_batch_webhooks = Histogram(
            "firebreak_ingest_batch_webhooks",
            "Webhooks committed together in one group-commit transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.ingest_commit_duration = Histogram(
            "firebreak_ingest_commit_duration_seconds",
            "Duration of one group-commit transaction.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "firebreak_store_errors_total",
            "Database operations that failed, by operation.",
            ["operation"],
            registry=registry,
        )
        self.alert_actions = Counter(
            "firebreak_alert_actions_total",
            "Acknowledge and resolve actions by people, by action and interface.",
            ["action", "interface"],
            registry=registry,
        )
        self.http_requests = Counter(
            "firebreak_http_requests_total",
            "HTTP requests answered, by route and status code.",
            ["route", "code"],
            registry=registry,
        )
        self.connections_refused = Counter(
            "firebreak_http_connections_refused_total",
            "Connections closed as they were accepted: their address already held "
            "api.max_connections_per_address open.",
            registry=registry,
        )
        self.jobs = Counter(
            "firebreak_jobs_total",
            "Jobs run, by kind and outcome (ok, skipped, deferred, retry, dead, ...).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "firebreak_job_duration_seconds",
            "Time to run one job's handler and record its outcome, by kind.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "firebreak_jobs_dead_lettered_total",
            "Jobs given up on: out of attempts, or refused for good by the far side.",
            registry=registry,
        )
        self.jobs_queued = Gauge(
            "firebreak_jobs_queued",
            "Jobs not done, by kind and state (pending, running, dead); counted every few seconds.",
            ["kind", "state"],
            registry=registry,
        )
        self.jobs_oldest_due_age = Gauge(
            "firebreak_jobs_oldest_due_age_seconds",
            "How long the oldest due pending job has waited (0 when none is late).",
            registry=registry,
        )
        self.notifications = Counter(
            "firebreak_notifications_total",
            "Messages to channels, by channel, notice kind and outcome.",
            ["channel", "kind", "outcome"],
            registry=registry,
        )
        self.escalations = Counter(
            "firebreak_escalations_total",
            "Escalation tiers reached, by policy and tier (1-based).",
            ["policy", "tier"],
            registry=registry,
        )
        self.time_to_acknowledge = Histogram(
            "firebreak_time_to_acknowledge_seconds",
            "From an alert's start to its acknowledgement (MTTA).",
            buckets=_HUMAN_BUCKETS,
            registry=registry,
        )
        self.time_to_resolve = Histogram(
            "firebreak_time_to_resolve_seconds",
            "From an alert's start to its resolution (MTTR).",
            buckets=_HUMAN_BUCKETS,
            registry=registry,
        )
        self.breaker_state = Gauge(
            "firebreak_circuit_breaker_state",
            "Circuit breaker per channel and target: 0 closed, 1 half-open, 2 open.",
            ["channel", "target"],
            registry=registry,
        )
        self.executions = Counter(
            "firebreak_runbook_executions_total",
            "Runbook executions ended (or held back), by runbook and outcome: succeeded, "
            "failed, rolled_back, cancelled, skipped.",
            ["runbook", "outcome"],
            registry=registry,
        )
        self.step_duration = Histogram(
            "firebreak_runbook_step_duration_seconds",
            "Time one runbook step took to run, by step type.",
            ["type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.approvals_waiting = Gauge(
            "firebreak_runbook_approvals_waiting",
            "Runbook executions waiting for a person's approval (counted every few seconds).",
            registry=registry,
        )
        self.approval_wait = Histogram(
            "firebreak_runbook_approval_wait_seconds",
            "From an approval being asked for to its decision or timeout.",
            buckets=_HUMAN_BUCKETS,
            registry=registry,
        )
        self.storm_trips = Counter(
            "firebreak_automation_storm_trips_total",
            "Automatic runbook runs held back by storm control, by runbook and reason "
            "(paused, breaker, cooldown, concurrency).",
            ["runbook", "reason"],
            registry=registry,
        )
        self.watchdog_last_seen = Gauge(
            "firebreak_watchdog_last_seen_timestamp_seconds",
            "Unix time the watchdog alert last arrived firing (the dead man's switch).",
            registry=registry,
        )
        self.oncall_gaps = Counter(
            "firebreak_oncall_gaps_total",
            "Times a tier found nobody on call for a schedule it names and fell through to the "
            "next tier (Firebreak raises FirebreakOnCallGap for each gap).",
            ["schedule"],
            registry=registry,
        )
        self.watchdog_missing = Gauge(
            "firebreak_watchdog_missing",
            "1 while the watchdog alert is overdue and Firebreak's own alert about it fires.",
            registry=registry,
        )
        self.heartbeat_last_beat = Gauge(
            "firebreak_heartbeat_last_beat_timestamp_seconds",
            "Unix time of each heartbeat's last beat (cron jobs, batch runs, backups).",
            ["heartbeat"],
            registry=registry,
        )
        self.heartbeat_missing = Gauge(
            "firebreak_heartbeat_missing",
            "1 while a heartbeat is past its interval and grace and its alert fires.",
            ["heartbeat"],
            registry=registry,
        )
        self.reconciled_alerts = Counter(
            "firebreak_reconciled_alerts_total",
            "Alerts put right by comparing with Alertmanager: ingested (a lost webhook), "
            "resolved (gone from Alertmanager) or fetched (rest of a truncated group).",
            ["action"],
            registry=registry,
        )
        self.reconcile_runs = Counter(
            "firebreak_reconcile_runs_total",
            "Comparisons with Alertmanager, by outcome (ok, unavailable, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.purged_rows = Counter(
            "firebreak_purged_rows_total",
            "Rows deleted by retention, by table (alerts, jobs, webhooks, pagerduty_events).",
            ["table"],
            registry=registry,
        )
        self.pagerduty_webhooks = Counter(
            "firebreak_pagerduty_webhooks_total",
            "PagerDuty v3 webhooks, by outcome (acknowledged, resolved, ignored, "
            "unknown_incident, refused, replayed, stale).",
            ["outcome"],
            registry=registry,
        )
        self.slack_actions = Counter(
            "firebreak_slack_actions_total",
            "Slash commands and button presses from Slack, by action and outcome "
            "(ok, refused, failed).",
            ["action", "outcome"],
            registry=registry,
        )
        self.config_reloads = Counter(
            "firebreak_config_reloads_total",
            "Configuration reloads (POST /-/reload, SIGHUP), by outcome: success, failure.",
            ["outcome"],
            registry=registry,
        )
        self.config_last_reload_successful = Gauge(
            "firebreak_config_last_reload_successful",
            "1 when the last configuration load (start or reload) succeeded, else 0.",
            registry=registry,
        )
        self.config_last_reload_successful.set(1)  # the process started from a valid one
        self.config_last_reload_success = Gauge(
            "firebreak_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            registry=registry,
        )
        self.config_last_reload_success.set_to_current_time()
        self._received_firing = self.alerts_received.labels("firing")
        self._received_resolved = self.alerts_received.labels("resolved")
        self._http_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.last_webhook_timestamp = Gauge(
            "firebreak_last_webhook_timestamp_seconds",
            "Unix time of the last accepted webhook.",
            registry=registry,
        )

    def count_webhook(self, firing: int, resolved: int) -> None:
        """Count the alerts of one accepted webhook."""
        if firing:
            self._received_firing.inc(firing)
        if resolved:
            self._received_resolved.inc(resolved)
        self.last_webhook_timestamp.set_to_current_time()

    def count_http(self, route: str, code: int, webhook_seconds: float | None = None) -> None:
        """Count one HTTP answer (and time it, for the webhook); label children are cached
        because this runs on every request."""
        key = (route, code)
        children = self._http_children.get(key)
        if children is None:
            children = self._http_children[key] = (
                self.http_requests.labels(route, str(code)),
                self.webhook_requests.labels(str(code)),
            )
        children[0].inc()
        if webhook_seconds is not None:
            children[1].inc()
            self.webhook_duration.observe(webhook_seconds)

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_duration.labels(kind).observe(seconds)
