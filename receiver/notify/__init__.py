"""Notification channels: one module per kind, all behind the ``Channel`` protocol."""
