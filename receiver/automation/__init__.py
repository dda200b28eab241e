"""Runbook automation: definitions, sandboxed templating, step types, the executor and its
service API (list, run, approve, reject, cancel, status) that REST, the CLI and chat call."""
