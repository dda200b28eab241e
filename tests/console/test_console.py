"""The console over aiohttp's test client: sessions, CSRF, roles, and pages that hold their
data without JavaScript — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from receiver.model import NewJob
from receiver.typedefs import CLOCK, STORE
from tests.automation.conftest import finished, in_state
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, eventually
from tests.console.conftest import Start, fire, login, press
from tests.payloads import alert


async def _alert(client: TestClient[Any, Any], alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    return await resp.json()  # type: ignore[no-any-return]


async def _audit(client: TestClient[Any, Any], action: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/audit?action={action}", headers=auth(ADMIN_TOKEN))
    return list((await resp.json())["entries"])


async def _start_approval(client: TestClient[Any, Any], alert_id: int) -> int:
    resp = await client.post(
        "/api/v1/runbooks/restart-checkout/execute",
        json={"alert_id": alert_id},
        headers=auth(ADMIN_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    execution_id: int = (await resp.json())["id"]
    await in_state(client, execution_id, "waiting_approval")
    return execution_id


# --- logging in and out ----------------------------------------------------------------------


async def test_pages_send_a_browser_without_a_session_to_the_login_form(start: Start) -> None:
    client = await start()
    resp = await client.get("/console/executions?state=running", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/console/login?next=/console/executions?state%3Drunning"
    form = await client.get("/console/login")
    assert form.status == 200
    assert 'name="token"' in await form.text()


async def test_login_keeps_the_token_in_an_httponly_strict_cookie_and_logout_drops_it(
    start: Start,
) -> None:
    client = await start()
    resp = await client.post(
        "/console/login",
        data={"token": RESPONDER_TOKEN, "next": "/console/health"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/console/health"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("firebreak_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; over TLS it is Secure
    assert RESPONDER_TOKEN not in cookie  # not in clear, at least
    page = await client.get("/")
    assert "bob (responder)" in await page.text()

    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', await page.text())
    assert csrf is not None
    out = await press(client, "/console/logout", csrf.group(1))
    assert out.status == 303 and out.headers["Location"] == "/console/login"
    assert 'firebreak_session=""' in out.headers["Set-Cookie"]
    assert (await client.get("/", allow_redirects=False)).status == 303
    sessions = [*await _audit(client, "logout"), *await _audit(client, "login")]
    assert [(e["action"], e["actor"], e["interface"], e["outcome"]) for e in sessions] == [
        ("logout", "bob", "console", "ok"),
        ("login", "bob", "console", "ok"),
    ]


async def test_a_failed_login_is_an_audit_row_naming_the_address(start: Start) -> None:
    client = await start()
    resp = await client.post("/console/login", data={"token": "not-a-token"})
    assert resp.status == 401
    (entry,) = await _audit(client, "login")
    assert (entry["actor"], entry["interface"], entry["outcome"], entry["status"]) == (
        "unauthenticated@127.0.0.1",
        "console",
        "refused",
        401,
    )


async def test_behind_a_tls_proxy_the_cookie_is_secure(start: Start) -> None:
    client = await start(secure_cookies=True)
    resp = await client.post(
        "/console/login", data={"token": VIEWER_TOKEN, "next": "/"}, allow_redirects=False
    )
    assert resp.status == 303
    assert "Secure" in resp.headers["Set-Cookie"]


async def test_a_login_never_leads_to_another_site(start: Start) -> None:
    client = await start()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        resp = await client.post(
            "/console/login",
            data={"token": VIEWER_TOKEN, "next": target},
            allow_redirects=False,
        )
        assert resp.headers["Location"] == "/"


async def test_a_wrong_token_is_refused_and_limited_per_address_like_the_api(
    start: Start,
) -> None:
    client = await start(auth_failure_limit=2)
    for _ in range(2):
        resp = await client.post("/console/login", data={"token": "not-a-token"})
        assert resp.status == 401
        text = await resp.text()
        assert "the token is not valid" in text and 'name="token"' in text
        assert resp.content_type == "text/html"
    assert "firebreak_session" not in client.session.cookie_jar.filter_cookies(client.make_url("/"))
    # The address is now held off: a wrong token is answered 429...
    held = await client.post("/console/login", data={"token": "still-not-a-token"})
    assert held.status == 429 and "Retry-After" in held.headers
    assert "too many failed authentications" in await held.text()
    assert (await client.get("/api/v1/alerts", headers=auth("nor-this"))).status == 429
    # ...but a right one is never refused: whoever shares the address still gets in.
    api = await client.get("/api/v1/alerts", headers=auth(RESPONDER_TOKEN))
    assert api.status == 200
    signed_in = await client.post(
        "/console/login", data={"token": RESPONDER_TOKEN, "next": "/"}, allow_redirects=False
    )
    assert signed_in.status == 303


async def test_a_cookie_whose_token_is_not_valid_is_a_failed_login(start: Start) -> None:
    client = await start()
    client.session.cookie_jar.update_cookies({"firebreak_session": "0" * 32 + ".bm9wZQ"})
    resp = await client.get("/")
    assert resp.status == 401
    assert "log in again" in await resp.text()
    assert 'firebreak_session=""' in resp.headers["Set-Cookie"]


# --- pages -----------------------------------------------------------------------------------


async def test_read_pages_hold_their_data_without_javascript(start: Start) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    execution_id = await _start_approval(client, alert_id)
    await login(client, VIEWER_TOKEN)

    pages = {
        "/": ["HighErrorRate", "HighErrorRate on checkout", "critical", 'service="checkout"'],
        f"/console/alerts/{alert_id}": [
            "https://runbooks/x",  # an annotation that is a link
            "http://prometheus:9090/graph?g0.expr=up",
            "fired",
            "restart-checkout",
        ],
        "/console/executions": [f"#{execution_id}", "restart-checkout", "waiting approval"],
        f"/console/executions/{execution_id}": [
            "Waiting for approval at step <strong>ask</strong>: Restart checkout?",
            "approval",
            "waiting approval",
            "settle",
        ],
        "/console/runbooks": ["restart-checkout", "probe-checkout", "team-payments"],
        "/console/runbooks/probe-checkout": [
            "status",
            "http",
            "{{ params.service | path_segment }}",
        ],
        "/console/health": ["database", "Circuit breakers", "Job queue", "Dead letters"],
        "/console/reports": ["Response", "Noisiest alerts", "Runbooks", "restart-checkout"],
    }
    for path, expected in pages.items():
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        text = await resp.text()
        for fragment in expected:
            assert fragment in text, (path, fragment)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        # No inline script or style: every <script> has a src, and there is no style attribute.
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, path
        assert "style=" not in text and "<style" not in text, path
        assert resp.headers["Cache-Control"] == "no-store"


async def test_secret_parameters_are_redacted_on_the_pages(start: Start) -> None:
    client = await start()
    # A secret parameter is never given by hand: the run is refused, and no page holds it.
    given = "given-code-0d9e8f"
    refused = await client.post(
        "/api/v1/runbooks/restart-checkout/execute",
        json={"trigger_context": {"code": given}},
        headers=auth(ADMIN_TOKEN),
    )
    assert refused.status == 400 and (await refused.json())["field"] == "params.code"
    resp = await client.post(
        "/api/v1/runbooks/restart-checkout/execute",
        json={"trigger_context": {"ticket": "INC-1"}},
        headers=auth(ADMIN_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    execution_id = (await resp.json())["id"]
    await login(client, VIEWER_TOKEN)
    for path in (f"/console/executions/{execution_id}", "/console/runbooks/restart-checkout"):
        text = await (await client.get(path)).text()
        assert "&lt;redacted&gt;" in text, path
        assert given not in text and "default-code-5c4b3a" not in text, path

    client = await start()
    await fire(
        client,
        alert(
            "Injected",
            labels={"service": "<script>alert(1)</script>"},
            annotations={"summary": "x", "runbook_url": "javascript:alert(1)"},
        ),
    )
    await login(client, VIEWER_TOKEN)
    text = await (await client.get("/")).text()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    (alert_id,) = re.findall(r'href="/console/alerts/(\d+)"', text)
    detail = await (await client.get(f"/console/alerts/{alert_id}")).text()
    assert 'href="javascript:' not in detail


async def test_alerts_filter_by_matchers_as_the_api_does(start: Start) -> None:
    client = await start()
    await fire(
        client,
        alert("HighErrorRate"),
        alert("DiskFilling", labels={"severity": "warning"}),
    )
    await login(client, VIEWER_TOKEN)
    resp = await client.get("/", params={"match[]": '{severity="warning"}'})
    text = await resp.text()
    assert "DiskFilling" in text and "HighErrorRate" not in text
    resp = await client.get("/", params={"match[]": '{alertname=~"High.*"}', "status": "firing"})
    text = await resp.text()
    assert "HighErrorRate" in text and "DiskFilling" not in text
    bad = await client.get("/", params={"match[]": '{severity=~"("}'})
    assert bad.status == 400
    assert "match[]" in await bad.text()


# --- buttons ---------------------------------------------------------------------------------


async def test_acknowledge_is_the_api_action_with_its_history_and_audit_row(
    start: Start,
) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/")).text()
    assert f'action="/console/alerts/{alert_id}/acknowledge"' in page

    resp = await press(
        client,
        f"/console/alerts/{alert_id}/acknowledge",
        csrf,
        note="on it",
        back="/?status=firing",
    )
    assert resp.status == 303 and resp.headers["Location"] == "/?status=firing"
    found = await _alert(client, alert_id)
    assert found["acknowledged_by"] == "bob"
    (event,) = [e for e in found["events"] if e["kind"] == "acknowledged"]
    assert (event["actor"], event["note"]) == ("console:bob", "on it")
    (row,) = await _audit(client, "acknowledge")
    assert (row["actor"], row["interface"], row["outcome"]) == ("bob", "console", "ok")
    assert row["target"] == str(alert_id)

    snoozed = await press(client, f"/console/alerts/{alert_id}/snooze", csrf, **{"for": "1h"})
    assert snoozed.status == 303
    assert (await _alert(client, alert_id))["snoozed_until"] is not None
    too_long = await press(client, f"/console/alerts/{alert_id}/snooze", csrf, **{"for": "30d"})
    assert too_long.status == 400 and "at most 7d" in await too_long.text()

    resolved = await press(client, f"/console/alerts/{alert_id}/resolve", csrf)
    assert resolved.status == 303
    assert (await _alert(client, alert_id))["resolved_by"] == "bob"
    late = await press(client, f"/console/alerts/{alert_id}/resolve", csrf)
    assert late.status == 303  # resolving a resolved alert changes nothing, as in the API


async def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    start: Start,
) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    csrf = await login(client, RESPONDER_TOKEN)
    for presented in (None, "0" * 64, csrf[:-1]):
        resp = await press(client, f"/console/alerts/{alert_id}/acknowledge", presented)
        assert resp.status == 403
        assert "CSRF token" in await resp.text()
    assert (await _alert(client, alert_id))["acknowledged_at"] is None
    rows = await _audit(client, "acknowledge")
    assert [r["outcome"] for r in rows] == ["refused"] * 3


async def test_a_post_from_another_site_is_refused(start: Start) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    csrf = await login(client, RESPONDER_TOKEN)
    path = f"/console/alerts/{alert_id}/acknowledge"
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = await client.post(
            path, data={"csrf_token": csrf}, headers=headers, allow_redirects=False
        )
        assert resp.status == 403
    assert (await _alert(client, alert_id))["acknowledged_at"] is None
    same = await client.post(
        path,
        data={"csrf_token": csrf},
        headers={"Origin": str(client.make_url("")).rstrip("/"), "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert same.status == 303
    login_elsewhere = await client.post(
        "/console/login",
        data={"token": VIEWER_TOKEN},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert login_elsewhere.status == 403


async def test_a_viewer_sees_no_buttons_and_is_refused_when_posting(start: Start) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    execution_id = await _start_approval(client, alert_id)
    csrf = await login(client, VIEWER_TOKEN)
    for path in ("/", f"/console/alerts/{alert_id}", f"/console/executions/{execution_id}"):
        text = await (await client.get(path)).text()
        for button in ("Acknowledge", "Resolve", "Snooze", "Approve", "Reject", "Cancel"):
            assert f">{button}</button>" not in text, (path, button)
    assert (
        ">Dry run</button>"
        not in await (await client.get("/console/runbooks/probe-checkout")).text()
    )
    for path in (
        f"/console/alerts/{alert_id}/acknowledge",
        f"/console/executions/{execution_id}/approve",
        "/console/runbooks/probe-checkout/dry-run",
    ):
        resp = await press(client, path, csrf)
        assert resp.status == 403, path
        assert "needs the responder role" in await resp.text()
    assert (await _alert(client, alert_id))["acknowledged_at"] is None
    rows = await _audit(client, "approve")
    assert [(r["actor"], r["interface"], r["outcome"]) for r in rows] == [
        ("carol", "console", "refused")
    ]


async def test_approving_the_waiting_step_lets_the_execution_finish(start: Start) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    execution_id = await _start_approval(client, alert_id)
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get(f"/console/executions/{execution_id}")).text()
    assert ">Approve</button>" in page and ">Reject</button>" in page

    resp = await press(client, f"/console/executions/{execution_id}/approve", csrf)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/console/executions/{execution_id}"
    done = await finished(client, execution_id)
    assert done["state"] == "succeeded"
    assert done["steps"][0]["decided_by"] == "console:bob"
    page = await (await client.get(f"/console/executions/{execution_id}")).text()
    assert "approved by console:bob" in page and ">Approve</button>" not in page
    again = await press(client, f"/console/executions/{execution_id}/approve", csrf)
    assert again.status == 409 and "not waiting" in await again.text()


async def test_cancel_ends_a_waiting_execution(start: Start) -> None:
    client = await start()
    (alert_id,) = await fire(client)
    execution_id = await _start_approval(client, alert_id)
    csrf = await login(client, RESPONDER_TOKEN)
    resp = await press(
        client, f"/console/executions/{execution_id}/cancel", csrf, reason="fixed by hand"
    )
    assert resp.status == 303
    done = await finished(client, execution_id)
    assert done["state"] == "cancelled" and done["cancel_reason"] == "fixed by hand"


async def test_the_dry_run_button_runs_the_runbook_dry(start: Start) -> None:
    client = await start()
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/console/runbooks/probe-checkout")).text()
    assert ">Dry run</button>" in page
    resp = await press(
        client, "/console/runbooks/probe-checkout/dry-run", csrf, params="service=payments\n"
    )
    assert resp.status == 303
    execution_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    done = await finished(client, execution_id)
    assert done["dry_run"] is True and done["state"] == "succeeded"
    assert done["actor"] == "console:bob"
    would = done["steps"][0]["output"]["would"]
    assert would["url"] == "http://127.0.0.1:9/payments/status"
    bad = await press(client, "/console/runbooks/probe-checkout/dry-run", csrf, params="oops")
    assert bad.status == 400 and "params: line 1" in await bad.text()
    (row, *_) = await _audit(client, "runbook_execute")
    assert (row["interface"], row["target"]) == ("console", "probe-checkout")
    # The form sets only what the runbook lets a person set, and only values of its shape.
    for runbook, given, refusal in (
        ("probe-checkout", "service=../admin", "params.service: expected a value matching"),
        ("restart-checkout", "code=x", "params.code: not settable at a manual run"),
    ):
        bad = await press(client, f"/console/runbooks/{runbook}/dry-run", csrf, params=given)
        assert bad.status == 400 and refusal in await bad.text(), given


async def test_an_admin_retries_a_dead_letter_from_the_health_page(start: Start) -> None:
    client = await start()
    store, now = client.app[STORE], client.app[CLOCK]()
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, [NewJob("retired-kind", {}, now, "console-test:dead")], now)

    async def dead() -> list[Any]:
        resp = await client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
        return list((await resp.json())["jobs"])

    (job,) = await eventually(dead)
    csrf = await login(client, RESPONDER_TOKEN)
    page = await (await client.get("/console/health")).text()
    assert "retired-kind" in page and ">Retry</button>" not in page  # admins retry
    refused = await press(client, f"/console/jobs/{job['id']}/retry", csrf)
    assert refused.status == 403

    csrf = await login(client, ADMIN_TOKEN)
    page = await (await client.get("/console/health")).text()
    assert f'action="/console/jobs/{job["id"]}/retry"' in page
    resp = await press(client, f"/console/jobs/{job['id']}/retry", csrf)
    assert resp.status == 303 and resp.headers["Location"] == "/console/health"
    rows = await _audit(client, "job_retry")
    assert [(r["actor"], r["outcome"]) for r in rows] == [("alice", "ok"), ("bob", "refused")]

    async def dead_twice() -> bool:
        metrics = await (await client.get("/metrics")).text()
        return "firebreak_jobs_dead_lettered_total 2.0" in metrics

    await eventually(dead_twice)  # it ran again (and, having no handler, died again)
    alive = await press(client, "/console/jobs/999999/retry", csrf)
    assert alive.status == 404
