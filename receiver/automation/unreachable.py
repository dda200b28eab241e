"""What a step says when the far side cannot be reached, as a sentence: ``cannot connect to
127.0.0.1:9090: connection refused`` rather than aiohttp's ``ClientConnectorError: Cannot
connect to host 127.0.0.1:9090 ssl:default [Connect call failed ...]``, which is kept as the
step output's ``detail`` for whoever digs further."""

from __future__ import annotations

import aiohttp
import yarl

__all__ = ["client_problem", "detail"]


def client_problem(url: yarl.URL, exc: aiohttp.ClientError) -> str:
    """A failed request to ``url`` in one sentence, naming the host and port."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _cannot_connect(url, exc)
    where = _where(url)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{where} closed the connection before answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"{where} sent an answer that ended early or was malformed"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{where} gave an answer that could not be read ({exc.message})"
    return f"the request to {where} failed ({type(exc).__name__})"


def detail(exc: BaseException) -> dict[str, str]:
    """The HTTP client's own words, for the step's output."""
    return {"detail": f"{type(exc).__name__}: {exc}"}


def _where(url: yarl.URL) -> str:
    host = f"[{url.host}]" if url.host and ":" in url.host else url.host
    return f"{host}:{url.port}"


def _cannot_connect(url: yarl.URL, exc: aiohttp.ClientConnectorError) -> str:
    where = f"cannot connect to {_where(url)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"{where}: its TLS certificate is not trusted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return f"{where}: the TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot connect to {url.host}: the name does not resolve"
    reason = exc.os_error
    if isinstance(reason, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(reason, TimeoutError):
        return f"{where}: the connection timed out"
    text = (reason.strerror or str(reason) or type(reason).__name__).rstrip(".")
    return f"{where}: {text[:1].lower()}{text[1:]}"
