"""Typed keys for everything the application shares between handlers."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from receiver.actions import AlertActions
from receiver.api.abuse import AuthFailures
from receiver.api.auth import TokenAuth, WebhookAuth
from receiver.automation.drills import Drills
from receiver.automation.service import AutomationService
from receiver.breaker import BreakerRegistry
from receiver.config import Config
from receiver.ingest import Ingestor
from receiver.jobs import JobRunner
from receiver.metrics import Metrics
from receiver.model import Clock
from receiver.pagerduty_sync import PagerDutySync
from receiver.pipeline import PipelineGuard
from receiver.store import Store

CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
INGESTOR = web.AppKey("ingestor", Ingestor)
TOKEN_AUTH = web.AppKey("token_auth", TokenAuth)
WEBHOOK_AUTH = web.AppKey("webhook_auth", WebhookAuth)
STARTED_AT = web.AppKey("started_at", datetime)
ACTIONS = web.AppKey("actions", AlertActions)
RUNNER = web.AppKey("runner", JobRunner)
BREAKERS = web.AppKey("breakers", BreakerRegistry)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
AUTOMATION = web.AppKey("automation", AutomationService)
DRILLS = web.AppKey("drills", Drills)
PIPELINE = web.AppKey("pipeline", PipelineGuard)
PAGERDUTY_SYNC = web.AppKey("pagerduty_sync", PagerDutySync)
