"""How connections are served: what aiohttp's protocol handler may do with the bytes a client
sends, before any handler or middleware sees a request."""

from __future__ import annotations

from typing import Any

from receiver.config import Config


def handler_args(config: Config) -> dict[str, Any]:
    """The protocol handler's settings, for every server that runs the application (``firebreak
    serve`` and the tests' servers alike)."""
    return {
        # aiohttp inflates a gzip or deflate body as it arrives, before anyone has looked at
        # the request: a 1 MB bomb from an unauthenticated caller cost seconds of CPU on the
        # one event loop. Bodies are taken as sent; one with a Content-Encoding is refused
        # (api/common.py refuse_encoded).
        "auto_decompress": False,
    }
