"""Open redirects: every place the console takes a ``next`` or ``back`` address sends the browser
to a path on this site, whatever spelling of another site it is handed.

The payloads are the usual bypass list (OWASP's and PortSwigger's open-redirect cheat sheets):
protocol-relative URLs, backslashes that browsers read as slashes, tabs and newlines that
browsers strip (WHATWG URL parsing), schemes, percent-encoded and double-encoded slashes,
leading whitespace and NUL bytes.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

ELSEWHERE = [
    "//evil.example",
    "//evil.example/x",
    "///evil.example",
    "////evil.example/",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "\\/\\/evil.example",
    "/\t/evil.example/x",
    "/%09/evil.example/x",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%5C%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "%2F%2Fevil.example",
    "https://evil.example",
    "http://evil.example/x",
    "https:evil.example",
    "http:/evil.example",
    "HtTpS://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "\t//evil.example",
    "\x00//evil.example",
    "/\x00/evil.example",
    "/%00/evil.example",
    "evil.example",
    "@evil.example",
    "//evil.example@firebreak.example",
    "//firebreak.example@evil.example",
    "/ /evil.example",
    "/\u3002evil.example",
    "/\uff0f\uff0fevil.example",
    "//\u0065vil.example",
    "/.\\evil.example",
]

# Paths on this site stay as they are (tabs and newlines dropped, as the browser drops them).
OURS = [
    ("/", "/"),
    ("/console/health", "/console/health"),
    ("/console/executions?state=running", "/console/executions?state=running"),
    ("/console/alerts/1?back=//evil.example", "/console/alerts/1?back=//evil.example"),
    ("/?match=%7Balertname%3D%22Disk%20Full%22%7D", "/?match=%7Balertname%3D%22Disk%20Full%22%7D"),
    ("/console/hea\tlth", "/console/health"),
]

NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
async def client(aiohttp_client: Any, sqlite_url: str, make_config: Any) -> Any:
    app = create_app(make_config(sqlite_url), registry=CollectorRegistry())
    return await aiohttp_client(app)


async def _login(client: Any, token: str, next_: str) -> Any:
    return await client.post(
        "/console/login", data={"token": token, "next": next_}, allow_redirects=False
    )


async def test_a_login_lands_on_this_site_whatever_next_says(client: Any) -> None:
    for payload in ELSEWHERE:
        resp = await _login(client, VIEWER_TOKEN, payload)
        assert resp.status == 303, payload
        assert resp.headers["Location"] == "/", f"{payload!r} led to {resp.headers['Location']!r}"
    for given, expected in OURS:
        resp = await _login(client, VIEWER_TOKEN, given)
        assert (resp.status, resp.headers["Location"]) == (303, expected), given


async def test_the_login_form_carries_only_a_path_on_this_site(client: Any) -> None:
    for payload in ELSEWHERE:
        resp = await client.get("/console/login", params={"next": payload})
        assert resp.status == 200
        found = NEXT_FIELD.search(await resp.text())
        assert found is not None
        assert html.unescape(found.group(1)) == "/", payload
    # The spelling from the report, exactly as a link would carry it.
    resp = await client.get("/console/login?next=/%09/evil.example/x")
    found = NEXT_FIELD.search(await resp.text())
    assert found is not None and found.group(1) == "/"


async def test_a_signed_in_browser_sent_to_the_login_form_stays_on_this_site(
    client: Any,
) -> None:
    assert (await _login(client, VIEWER_TOKEN, "/")).status == 303
    for payload in ELSEWHERE:
        resp = await client.get("/console/login", params={"next": payload}, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/", payload
    resp = await client.get("/console/login?next=/%09/evil.example/x", allow_redirects=False)
    assert resp.headers["Location"] == "/"
    resp = await client.get("/console/login?next=/console/health", allow_redirects=False)
    assert resp.headers["Location"] == "/console/health"


async def test_a_console_button_goes_back_only_to_this_site(client: Any) -> None:
    resp = await client.post(
        "/webhook", json=webhook(alert("DiskFull")), headers=auth(WEBHOOK_TOKEN)
    )
    assert resp.status == 200
    listing = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    [alert_id] = [a["id"] for a in (await listing.json())["alerts"]]
    assert (await _login(client, RESPONDER_TOKEN, "/")).status == 303
    page = await client.get(f"/console/alerts/{alert_id}")
    found = CSRF.search(await page.text())
    assert found is not None
    for payload in ELSEWHERE:
        resp = await client.post(
            f"/console/alerts/{alert_id}/snooze",
            data={"csrf_token": found.group(1), "for": "1h", "back": payload},
            allow_redirects=False,
        )
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == "/", payload
    resp = await client.post(
        f"/console/alerts/{alert_id}/acknowledge",
        data={"csrf_token": found.group(1), "back": "/console/health"},
        allow_redirects=False,
    )
    assert (resp.status, resp.headers["Location"]) == (303, "/console/health")
