"""HTTP transport: thin handlers that authenticate, parse, call one service, and answer."""
