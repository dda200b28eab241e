"""A small service to watch, break and heal: Prometheus metrics, self-traffic, and admin
endpoints that inject faults and carry out the remedies runbooks call."""

from examples.demo_app.app import DemoState, Fault, create_app

__all__ = ["DemoState", "Fault", "create_app"]
