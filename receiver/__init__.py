"""Firebreak: a durable receiver for Alertmanager webhooks."""

__version__ = "0.1.0"
