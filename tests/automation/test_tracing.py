"""Tracing: one alert's path is one trace — the webhook, its routing, the notification, the
runbook's start and steps — and an http step sends the trace on (W3C traceparent). Exported
with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.tracing import Tracing
from tests.automation.conftest import GUARDS, JOBS, Target, runbooks
from tests.conftest import WEBHOOK_TOKEN, auth, eventually
from tests.payloads import alert, webhook

RUNBOOK = """
id: poke
title: Poke the service
match: ['alertname="SlowCheckout"']
steps:
  - id: poke
    http: {{method: POST, url: "{url}/restart"}}
    timeout: 5s
"""


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    yield found
    found.clear()


async def test_one_alert_is_one_trace_from_webhook_to_runbook_step(
    aiohttp_client: Any, db_url: str, make_config: Any, target: Target, exporter: Any
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = make_config(db_url, JOBS + GUARDS)
    app = create_app(
        config,
        registry=CollectorRegistry(),
        runbooks=runbooks(RUNBOOK.format(url=target.url)),
        tracing=Tracing(provider),
    )
    client = await aiohttp_client(app)
    body = webhook(alert("SlowCheckout", labels={"secret_label": "hunter2"}))
    assert (await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))).status == 200
    await eventually(lambda: "/restart" in target.paths())

    def names() -> set[str]:
        return {s.name for s in exporter.get_finished_spans()}

    await eventually(lambda: {"webhook", "job route", "job notify", "job runbook_step"} <= names())
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.name == "webhook"]
    trace_id = root.context.trace_id
    path = [
        s
        for s in spans
        if s.name in ("job route", "job notify", "job runbook_start", "job runbook_step")
    ]
    assert path and all(s.context.trace_id == trace_id for s in path), [
        (s.name, format(s.context.trace_id, "x"), s.parent) for s in spans
    ]
    assert root.attributes["firebreak.alerts"] == 1
    assert root.attributes["firebreak.request_id"]
    # The http step told the service which trace it is part of.
    (restart,) = [r for r in target.requests if r["path"] == "/restart"]
    traceparent = restart["headers"]["traceparent"]
    assert traceparent.split("-")[1] == format(trace_id, "032x")
    # Nothing from the alert's labels or annotations is put on a span.
    for span in spans:
        assert "hunter2" not in repr(dict(span.attributes or {}))
