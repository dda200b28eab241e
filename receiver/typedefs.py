"""Typed keys for everything the application shares between handlers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import jinja2
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from receiver.access.abuse import AuthFailures
from receiver.access.auth import Principal, TokenAuth, WebhookAuth
from receiver.access.connections import ConnectionCap
from receiver.actions import AlertActions
from receiver.addresses import TrustedProxies
from receiver.audit import Audit
from receiver.automation.definitions import Runbooks
from receiver.automation.drills import Drills
from receiver.automation.service import AutomationService
from receiver.breaker import BreakerRegistry
from receiver.clock_skew import ClockSkew
from receiver.config import Config
from receiver.ingest import Ingestor
from receiver.jobs import JobRunner
from receiver.manual_pages import ManualPages
from receiver.metrics import Metrics
from receiver.model import Clock, ReloadResult
from receiver.pagerduty_sync import PagerDutySync
from receiver.pipeline import PipelineGuard
from receiver.services import Lasting, Services
from receiver.store import Store
from receiver.tracing import Tracing

CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
# Monotonic seconds, what circuit breakers and rate limiters count by.
MONOTONIC: web.AppKey[Callable[[], float]] = web.AppKey("monotonic")
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
INGESTOR = web.AppKey("ingestor", Ingestor)
MANUAL_PAGES = web.AppKey("manual_pages", ManualPages)
TOKEN_AUTH = web.AppKey("token_auth", TokenAuth)
WEBHOOK_AUTH = web.AppKey("webhook_auth", WebhookAuth)
STARTED_AT = web.AppKey("started_at", datetime)
ACTIONS = web.AppKey("actions", AlertActions)
RUNNER = web.AppKey("runner", JobRunner)
BREAKERS = web.AppKey("breakers", BreakerRegistry)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
CLOCK_SKEW = web.AppKey("clock_skew", ClockSkew)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
CONNECTION_CAP = web.AppKey("connection_cap", ConnectionCap)
TRACING = web.AppKey("tracing", Tracing)
AUDIT = web.AppKey("audit", Audit)
RELOAD: web.AppKey[Callable[[], Coroutine[Any, Any, ReloadResult]]] = web.AppKey("reload")
AUTOMATION = web.AppKey("automation", AutomationService)
DRILLS = web.AppKey("drills", Drills)
PIPELINE = web.AppKey("pipeline", PipelineGuard)
PAGERDUTY_SYNC = web.AppKey("pagerduty_sync", PagerDutySync)
SLACK_CLIENT = web.AppKey("slack_client", AsyncWebClient)
SLACK_BOLT = web.AppKey("slack_bolt", AsyncApp)

# The wiring's own: this process's name in job leases, the file /-/reload and SIGHUP read again,
# the runbooks and step actions at start, the HTTP session, what lasts across reloads, and the
# services of every configuration loaded (the last in force; the others closed at the end).
OWNER = web.AppKey("owner", str)
CONFIG_PATH = web.AppKey("config_path", str)
RUNBOOKS = web.AppKey("runbooks", Runbooks)
STEP_ACTIONS: web.AppKey[Mapping[str, Callable[..., Any]]] = web.AppKey("step_actions")
HTTP = web.AppKey("http_session", aiohttp.ClientSession)
LASTING = web.AppKey("lasting", Lasting)
BUILT: web.AppKey[list[Services]] = web.AppKey("services")

# The console: its templates, the page it answers an error with, and who is signed in (set on
# a request once its session cookie is checked, so the audit row names them).
CONSOLE_TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
ERROR_PAGE: web.AppKey[Callable[[web.Request, int, str], web.Response]] = web.AppKey("error_page")
PRINCIPAL = web.RequestKey("principal", Principal)
# Set by a handler that acts on several alerts and writes an audit row for each itself, so the
# request is not an audit row of its own as well.
AUDITED_PER_ALERT = web.RequestKey("audited_per_alert", bool)
# Where a request comes from: its peer, or the client behind a trusted proxy (set by the edge).
CLIENT_ADDRESS = web.RequestKey("client_address", str)
