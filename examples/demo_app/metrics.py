"""Every metric the demo service exports; `rules/demo.yml` and the dashboards read these names."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Requests take a few milliseconds until a latency fault adds hundreds; 0.25 s is the bucket
# the latency SLO in rules/demo.yml counts as good.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

FAULT_KINDS = ("errors", "latency", "queue")


class DemoMetrics:
    """The metric objects, registered on the registry the application is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "demo_http_requests_total",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "demo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "demo_queue_depth",
            "Jobs waiting in the work queue.",
            registry=registry,
        )
        self.jobs_processed = Counter(
            "demo_queue_jobs_processed_total",
            "Jobs the queue consumer has finished.",
            registry=registry,
        )
        self.cache_entries = Gauge(
            "demo_cache_entries",
            "Items held in the in-memory cache.",
            registry=registry,
        )
        self.cache_clears = Counter(
            "demo_cache_clears_total",
            "Times the cache was cleared through the admin endpoint.",
            registry=registry,
        )
        self.restarts = Counter(
            "demo_restarts_total",
            "Times the service was restarted through the admin endpoint.",
            registry=registry,
        )
        self.fault_active = Gauge(
            "demo_fault_active",
            "1 while an injected fault is active, by kind (errors, latency, queue).",
            ["fault"],
            registry=registry,
        )
        for kind in FAULT_KINDS:  # every kind exported from the start, at 0
            self.fault_active.labels(kind).set(0)

    def watch(self, queue_depth: Callable[[], float], cache_entries: Callable[[], float]) -> None:
        """Read the two gauges from the live state at each scrape."""
        self.queue_depth.set_function(queue_depth)
        self.cache_entries.set_function(cache_entries)
