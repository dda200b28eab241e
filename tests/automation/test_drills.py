"""Drills: a synthetic alert through webhook, routing, escalation (its pages marked as a drill)
and the runbook's execution, each stage timed against a budget; replays of stored alerts."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from receiver.automation.drills import Drills
from receiver.typedefs import BUILT, STORE
from tests.automation.conftest import Target, execution, executions, finished
from tests.clock import ManualClock
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    eventually,
)
from tests.payloads import alert, webhook


def paging(url: str) -> str:
    return f"""
channels:
  pager: {{type: webhook, webhook: {{url: "{url}/page", timeout: 5s}}}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [pager]}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
"""


def restart(url: str) -> str:
    return f"""
id: restart
title: Restart
match: ['alertname="HighErrorRate"', 'service=~".+"']
steps:
  - id: restart
    timeout: 2s
    http: {{method: POST, url: "{url}/restart/{{{{ labels.service }}}}"}}
"""


def pages(target: Target) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in target.requests if r["path"] == "/page"]


async def test_a_drill_reports_every_stage_and_changes_nothing(start: Any, target: Target) -> None:
    client = await start(restart(target.url), extra=paging(target.url))
    refused = await client.post(
        "/api/v1/drills", json={"runbook": "restart"}, headers=auth(VIEWER_TOKEN)
    )
    assert refused.status == 403
    missing = await client.post(
        "/api/v1/drills", json={"runbook": "restart"}, headers=auth(RESPONDER_TOKEN)
    )
    assert missing.status == 400
    assert (await missing.json())["field"] == "labels.service"
    resp = await client.post(
        "/api/v1/drills",
        json={"runbook": "restart", "labels": {"service": "checkout"}},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert report["ok"] is True, report
    assert [s["stage"] for s in report["stages"]] == [
        "webhook",
        "routed",
        "notified",
        "execution_started",
        "first_step_started",
        "finished",
    ]
    assert all(s["ok"] and s["seconds"] <= s["budget_seconds"] for s in report["stages"])
    record = await execution(client, report["execution_id"])
    assert record["trigger"] == "drill" and record["dry_run"] is True
    assert record["steps"][0]["output"]["would"]["url"] == f"{target.url}/restart/checkout"
    assert not any(r["path"].startswith("/restart") for r in target.requests)
    firing = [p for p in pages(target) if p["kind"] == "firing"]
    assert firing and all(p["drill"] is True for p in firing)
    detail = await (
        await client.get(f"/api/v1/alerts/{report['alert_id']}", headers=auth(VIEWER_TOKEN))
    ).json()
    assert detail["status"] == "resolved"  # the drill alert is resolved when the drill ends
    assert detail["labels"]["firebreak_drill"] == report["drill_id"]


async def test_a_live_drill_replays_a_stored_alert(start: Any, target: Target) -> None:
    client = await start(restart(target.url), extra=paging(target.url))
    past = alert("HighErrorRate", labels={"service": "payments"})
    await client.post("/webhook", json=webhook(past), headers=auth(WEBHOOK_TOKEN))
    alerts = await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    past_id = alerts["alerts"][0]["id"]
    first = await eventually(lambda: executions(client))
    assert (await finished(client, first[0]["id"]))["state"] == "succeeded"
    body = {"runbook": "restart", "replay_alert_id": past_id, "live": True}
    refused = await client.post("/api/v1/drills", json=body, headers=auth(RESPONDER_TOKEN))
    assert refused.status == 403  # a live drill runs the runbook for real: admins only
    resp = await client.post("/api/v1/drills", json=body, headers=auth(ADMIN_TOKEN))
    report = await resp.json()
    assert report["ok"] is True, report
    record = await execution(client, report["execution_id"])
    assert record["trigger"] == "drill" and record["dry_run"] is False
    assert record["state"] == "succeeded"

    def restarts() -> list[str]:
        return [r["path"] for r in target.requests if r["path"].startswith("/restart")]

    # The past alert ran the runbook once when it fired; the drill ran it once more.
    await eventually(lambda: len(restarts()) == 2)
    assert restarts() == ["/restart/payments", "/restart/payments"]


async def test_drill_labels_on_a_webhook_are_ordinary_labels(start: Any, target: Target) -> None:
    """Only a drill a person asked for is one: an alert that merely carries the labels (even
    the id of a real drill) starts the runbooks it matches as any alert, live, and its pages
    are not marked as a drill."""
    client = await start(restart(target.url), extra=paging(target.url))
    resp = await client.post(
        "/api/v1/drills",
        json={"runbook": "restart", "labels": {"service": "checkout"}},
        headers=auth(RESPONDER_TOKEN),
    )
    real = await resp.json()
    forged = alert(
        "HighErrorRate",
        labels={
            "service": "payments",
            "firebreak_drill": real["drill_id"],
            "firebreak_drill_runbook": "restart",
            "firebreak_drill_live": "false",
        },
    )
    await client.post("/webhook", json=webhook(forged), headers=auth(WEBHOOK_TOKEN))

    async def ordinary() -> list[dict[str, Any]]:
        return [e for e in await executions(client) if e["trigger"] == "auto"]

    [run] = await eventually(ordinary)
    record = await finished(client, run["id"])
    assert (record["trigger"], record["dry_run"], record["actor"]) == ("auto", False, "firebreak")
    assert any(r["path"] == "/restart/payments" for r in target.requests)
    await eventually(
        lambda: any(p["alerts"][0]["labels"]["service"] == "payments" for p in pages(target))
    )
    forged_pages = [p for p in pages(target) if p["alerts"][0]["labels"]["service"] == "payments"]
    assert all(p["drill"] is False for p in forged_pages)


async def test_a_drill_is_what_the_request_says_and_its_labels_cannot_change_that(
    start: Any, target: Target
) -> None:
    client = await start(restart(target.url), extra=paging(target.url))
    for name in ("firebreak_drill_live", "firebreak_drill", "firebreak_drill_runbook"):
        resp = await client.post(
            "/api/v1/drills",
            json={"runbook": "restart", "live": False, "labels": {"service": "x", name: "true"}},
            headers=auth(RESPONDER_TOKEN),
        )
        assert resp.status == 400
        assert (await resp.json())["field"] == f"labels.{name}"
    assert await executions(client) == []
    # A live drill passes the kill switch like any run that changes things.
    await client.post("/api/v1/automation/pause", headers=auth(ADMIN_TOKEN))
    resp = await client.post(
        "/api/v1/drills",
        json={"runbook": "restart", "live": True, "labels": {"service": "checkout"}},
        headers=auth(ADMIN_TOKEN),
    )
    report = await resp.json()
    assert report["ok"] is False and report["execution_state"] == "skipped"
    record = await execution(client, report["execution_id"])
    assert (record["trigger"], record["dry_run"], record["actor"]) == ("drill", False, "api:alice")
    assert record["error"].startswith("paused:")
    assert record["trigger_context"] == {"drill": report["drill_id"], "live": True}
    assert not any(r["path"].startswith("/restart") for r in target.requests)


async def test_a_drill_counts_its_stages_and_its_budget_on_the_application_clock(
    start: Any, target: Target, manual_clock: ManualClock
) -> None:
    client = await start(restart(target.url), extra=paging(target.url), clock=manual_clock)
    lost: list[dict[str, Any]] = []
    injected = asyncio.Event()

    async def lose(payload: dict[str, Any]) -> None:
        """A webhook that takes half a second and never arrives."""
        await manual_clock.advance(timedelta(seconds=0.5))
        lost.append(payload)
        injected.set()

    app = client.app
    drills = Drills(
        app[BUILT][-1].automation, app[STORE], manual_clock, lose, manual_clock.monotonic
    )
    drill = asyncio.create_task(drills.run("restart", labels={"service": "checkout"}))
    await asyncio.wait_for(injected.wait(), 10)
    # The drill follows its alert until its budget (120 s to finish) is spent on this clock.
    await manual_clock.advance(timedelta(seconds=120))
    report = (await asyncio.wait_for(drill, 10)).as_json()
    assert report["ok"] is False and report["alert_id"] is None
    seconds = {stage["stage"]: stage["seconds"] for stage in report["stages"]}
    assert seconds == {
        "webhook": 0.5,
        "routed": None,
        "notified": None,
        "execution_started": None,
        "first_step_started": None,
        "finished": None,
    }
    assert [p["alerts"][0]["status"] for p in lost] == ["firing", "resolved"]
