"""Each way a step's request can fail, as a sentence naming where it went (the HTTP client's own
words, ``ClientConnectorError … ssl:default``, are left for the output's detail)."""

from __future__ import annotations

import aiohttp
import pytest
import yarl
from aiohttp.client_reqrep import ConnectionKey

from receiver.automation.unreachable import client_problem, detail

URL = yarl.URL("http://db.example:5432/query")
KEY = ConnectionKey("db.example", 5432, False, True, None, None, None, None)


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")),
            "cannot connect to db.example:5432: connection refused",
        ),
        (
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
            "cannot connect to db.example: the name does not resolve",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(113, "No route to host")),
            "cannot connect to db.example:5432: no route to host",
        ),
        (
            aiohttp.ClientConnectorError(KEY, TimeoutError()),
            "cannot connect to db.example:5432: the connection timed out",
        ),
        (
            aiohttp.ServerTimeoutError("Timeout on reading data from socket"),
            "db.example:5432 did not answer in time",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            "db.example:5432 closed the connection before answering",
        ),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            "db.example:5432 sent an answer that ended early or was malformed",
        ),
    ],
)
def test_each_failure_is_a_sentence_naming_where(exc: aiohttp.ClientError, said: str) -> None:
    assert client_problem(URL, exc) == said
    assert "ssl:default" not in said and "Error" not in said
    assert detail(exc)["detail"].startswith(type(exc).__name__ + ": ")


def test_an_ipv6_address_is_bracketed() -> None:
    url = yarl.URL("http://[::1]:9090/api/v1/query")
    key = ConnectionKey("::1", 9090, False, True, None, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))
    assert client_problem(url, refused) == "cannot connect to [::1]:9090: connection refused"
