"""How Firebreak presents itself to a server it reads from with configured credentials
(Alertmanager's API, Prometheus for graphs): a bearer token or basic credentials, never both,
and the CA bundle that server's certificate is checked against."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from receiver.config import BasicAuth


@dataclass(frozen=True, slots=True)
class Upstream:
    """What each request to the server carries: ``headers``, ``auth`` and ``ssl`` as aiohttp's
    request arguments."""

    headers: Mapping[str, str]
    auth: aiohttp.BasicAuth | None
    ssl: ssl.SSLContext | bool

    @classmethod
    def of(
        cls, *, bearer_token: str | None, basic_auth: BasicAuth | None, ca_file: str | None
    ) -> Upstream:
        headers = {"Accept": "application/json"}
        auth = None
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
        elif basic_auth is not None:
            auth = aiohttp.BasicAuth(basic_auth.username, basic_auth.password)
        context: ssl.SSLContext | bool = True
        if ca_file:
            context = ssl.create_default_context(cafile=ca_file)
        return cls(headers, auth, context)
