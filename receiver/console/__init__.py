"""The operator console: server-rendered pages over the services the REST API calls."""
