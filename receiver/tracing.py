"""OpenTelemetry tracing of an alert's path: the webhook, then every job it leads to (routing,
each escalation tier, each notification, each runbook step) as one trace.

Jobs run later and maybe in another replica, so the trace crosses them in the jobs' payloads:
a job carries the W3C ``traceparent`` of what enqueued it, its span is a child of that, and
the jobs its outcome enqueues carry its own. ``http`` runbook steps send ``traceparent`` on, so
the remediated service's own traces join the incident's.

Off unless ``tracing:`` is configured (the ``firebreak[tracing]`` extra installs the SDK and
the OTLP exporter); then every call here is a no-op costing a branch. Spans carry the request
id, job kinds, alert fingerprints, channel, runbook and step names: never label values,
annotations, payload bodies or anything a secret could be in.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from receiver.config import TracingConfig
    from receiver.model import NewJob

# The traceparent of the webhook being committed, for the jobs its commit enqueues.
committing: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "firebreak_committing_trace", default=None
)

_MAX_FINGERPRINTS = 50
# Whether any tracer exists in this process: without one, nothing here imports OpenTelemetry.
_active = False


class Tracing:
    """The process's tracer, or nothing."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        global _active
        self._provider = provider
        self._tracer: Any = provider.get_tracer("firebreak") if provider is not None else None
        _active = _active or provider is not None

    @classmethod
    def from_config(cls, config: TracingConfig | None) -> Tracing:
        if config is None:
            return cls()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

        provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name}),
            sampler=ParentBasedTraceIdRatio(config.sample_ratio),
        )
        exporter = OTLPSpanExporter(endpoint=config.endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        traceparent: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[str | None]:
        """A span (child of ``traceparent`` when given, else of the current one); yields its
        own traceparent for what it hands work to."""
        if self._tracer is None:
            yield None
            return
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        parent = None
        if traceparent:
            parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        with self._tracer.start_as_current_span(
            name, context=parent, kind=trace.SpanKind.INTERNAL, attributes=dict(attributes or {})
        ):
            yield current_traceparent()

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Put the current span's ``traceparent`` in outgoing request headers."""
        if self._tracer is None:
            return
        from opentelemetry.propagate import inject

        inject(headers)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, if any."""
    if not _active:
        return None
    try:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def inject_traceparent(headers: MutableMapping[str, str]) -> None:
    """Put the current span's ``traceparent`` in outgoing headers (nothing when no span)."""
    parent = current_traceparent()
    if parent:
        headers["traceparent"] = parent


def carry(jobs: Sequence[NewJob], traceparent: str | None = None) -> list[NewJob]:
    """``jobs`` carrying ``traceparent`` (default: the current span's), those that have none
    yet: a job enqueued while a traced job or webhook is handled continues its trace."""
    if traceparent is None:
        traceparent = current_traceparent()
    if not traceparent:
        return list(jobs)
    return [
        job
        if "traceparent" in job.payload
        else dataclasses.replace(job, payload={**job.payload, "traceparent": traceparent})
        for job in jobs
    ]


def fingerprints(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values[:_MAX_FINGERPRINTS])
