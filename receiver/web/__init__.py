"""HTTP plumbing shared by the API, the console and Slack: reading requests, query parameters,
the edge middleware and the health checks."""
