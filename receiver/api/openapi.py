"""The OpenAPI 3.1 document of every HTTP endpoint: ``openapi.yaml`` beside this module.

``GET /api/v1/openapi.json`` serves it without authentication, like Prometheus's own API
documentation: it describes the API and holds no data. Tests hold it to the routes both ways
and to what the views answer, so a route or a field added without documentation fails.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from aiohttp import web

from receiver import __version__

# Pieces the operations reuse by YAML anchor; the served document does without them.
_SHARED = "x-shared"


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document; read once (callers must not change it).

    Only the version is filled in here, from the package: the one place a release names it.
    """
    text = resources.files("receiver.api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    del document[_SHARED]
    document["info"]["version"] = __version__
    return document


async def serve_openapi(_request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``: public, like the API documentation of Prometheus."""
    return web.json_response(openapi_document())
