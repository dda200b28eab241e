"""The attacker's view of runbook automation: everything here arrives through the real HTTP
edge (the Alertmanager webhook, the API with each role, signed Slack requests), as someone who
can put a label on an alert, or holds a responder's token, would send it. Each test asserts
what must not happen: no connection reaches a host off the allow-list (a local listener counts
them), nothing runs that was not allowed (a marker file stays absent), and no secret shows in
an API or console response, a log line or a Slack message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.automation.actions import ActionContext
from receiver.automation.builtin import dead_letters_settled, retry_dead_letters
from receiver.automation.definitions import parse_runbook
from receiver.config import parse_config
from receiver.matchers import MatchOp
from tests.automation.conftest import Target, runbooks
from tests.conftest import (
    ADMIN_TOKEN,
    RESPONDER_TOKEN,
    VIEWER_TOKEN,
    WEBHOOK_TOKEN,
    auth,
    eventually,
)
from tests.console.conftest import login
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import ADMIN, ALICE, BOT_TOKEN, SIGNING_SECRET, command

ROOT = Path(__file__).resolve().parents[2]
DEAD_LETTER_RECOVERY = (ROOT / "runbooks" / "dead-letter-recovery.yml").read_text()
ADMIN_H, RESPONDER_H, VIEWER_H, HOOK_H = (
    auth(ADMIN_TOKEN),
    auth(RESPONDER_TOKEN),
    auth(VIEWER_TOKEN),
    auth(WEBHOOK_TOKEN),
)
SECRET = "s3cret-param-value-7f3a9c"
ENDED = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")


class Listener:
    """A host that is on no allow-list: it records every connection made to it."""

    def __init__(self) -> None:
        self.connections: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(b"")
        with contextlib.suppress(TimeoutError):
            self.connections[-1] = await asyncio.wait_for(reader.read(65536), 1.0)
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


GATED = """
id: gated
title: Clean up a full disk (mutating)
match: 'alertname="DiskFull"'
cooldown: 0s
concurrency: {max: 5, per_alert: 5}
approval: {required: true, approvers: [role:admin]}
steps:
  - id: clean
    shell: {argv: ["PYTHON", "-c", "open('MARKER', 'a').write('x')"]}
"""
FOUR_EYES = """
id: rotate
title: Rotate a key (two people)
approval: {required: true, four_eyes: true}
steps:
  - id: rotate
    shell: {argv: ["PYTHON", "-c", "open('MARKER', 'a').write('rotated')"]}
"""
LEAKY = f"""
id: leaky
title: A runbook whose steps print what they should not
automatic: false
match: 'alertname="Leak"'
params:
  key: {{secret: true, default: "{SECRET}"}}  # a secret comes from the file, never a request
steps:
  - id: show
    on_failure: continue
    shell:
      argv: ["PYTHON", "-c", "import sys; print(sys.argv[1:])", "{{{{ params.key }}}}",
             "{BOT_TOKEN}", "{SIGNING_SECRET}", "{WEBHOOK_TOKEN}", "{ADMIN_TOKEN}"]
  - id: forward  # what a step printed, sent on by the next steps
    http:
      method: POST
      url: "TARGET/forward"
      body: {{seen: "{{{{ steps.show.output.stdout }}}}"}}
  - id: tell
    notify: {{channel: chat, message: "{{{{ steps.show.output.stdout }}}}"}}
  - id: complain
    python: {{function: complain, args: {{key: "{{{{ params.key }}}}"}}}}
"""
CALLBACK = """
id: callback
title: Call back whatever the alert says (careless)
match: 'alertname="Callback"'
cooldown: 0s
concurrency: {max: 20, per_alert: 1}
steps:
  - id: fetch
    on_failure: continue
    python: {function: fetch, args: {url: "{{ labels.callback }}"}}
  - id: call
    on_failure: continue
    http: {method: POST, url: "{{ labels.callback }}", body: {token: "{{ labels.token }}"}}
"""

PROBE = """
id: probe
title: Probe a URL a responder names
automatic: false
params:
  url: {type: url, settable: true, default: "TARGET/health"}
steps:
  - id: get
    http: {url: "{{ params.url }}"}
"""


def complain(key: str) -> None:
    raise RuntimeError(f"the far side refused key {key} with {BOT_TOKEN}")


async def fetch(url: str, *, firebreak: ActionContext) -> dict[str, Any]:
    """A team's action written carelessly: it calls whatever URL it is handed."""
    async with firebreak.http.get(url) as response:
        return {"status": response.status}


class Lab:
    """Firebreak as an operator runs it, and what the attacker aims at."""

    def __init__(
        self, client: TestClient[Any, Any], slack: SlackFake, listener: Listener, target: Target
    ) -> None:
        self.client = client
        self.slack = slack
        self.listener = listener
        self.target = target

    async def fire(self, *alerts: dict[str, Any]) -> None:
        resp = await self.client.post("/webhook", json=webhook(*alerts), headers=HOOK_H)
        assert resp.status == 200, await resp.text()

    async def executions(self, runbook: str) -> list[dict[str, Any]]:
        resp = await self.client.get(f"/api/v1/executions?runbook={runbook}", headers=VIEWER_H)
        return list((await resp.json())["executions"])

    async def record(self, eid: int) -> dict[str, Any]:
        resp = await self.client.get(f"/api/v1/executions/{eid}", headers=VIEWER_H)
        assert resp.status == 200
        return dict(await resp.json())

    async def ended(self, eid: int) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            found = await self.record(eid)
            return found if found["state"] in ENDED else None

        result: dict[str, Any] = await eventually(check, within=20)
        return result

    async def slack_answer(self, text: str, user: tuple[str, str]) -> str:
        before = len(self.slack.responses)
        assert (await command(self.client, self.slack, text, user)).status == 200
        await eventually(lambda: len(self.slack.responses) > before, what=f"answer to {text}")
        return str(self.slack.responses[-1]["text"])

    def pages(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.target.requests if r["path"] == "/page"]


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    """The one service steps are allowed to call (and where pages go)."""
    found = Target()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    await found.server.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    await found.start()
    yield found
    await found.close()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "ran"


@pytest.fixture
def http_allow(target: Target) -> list[str]:
    """``automation.http_allow``: the one service steps may call (a test may widen it)."""
    return [target.url.removeprefix("http://")]


@pytest.fixture
async def lab(
    aiohttp_client: Any,
    db_url: str,
    tmp_path: Path,
    slack: SlackFake,
    listener: Listener,
    target: Target,
    marker: Path,
    http_allow: list[str],
) -> Lab:
    text = f"""
database: {{url: "{db_url}"}}
webhook: {{auth: {{bearer_tokens: ["{WEBHOOK_TOKEN}"]}}}}
people:
  - {{id: alice, name: Alice Example, slack_user_id: {ALICE[0]}}}
api:
  tokens:
    - {{token: "{ADMIN_TOKEN}", role: admin, name: alice, person: alice}}
    - {{token: "{RESPONDER_TOKEN}", role: responder, name: bob}}
    - {{token: "{VIEWER_TOKEN}", role: viewer, name: carol}}
log: {{level: debug, format: console}}
automation:
  mode: live
  http_allow: {json.dumps(http_allow)}
  shell_allow: ["{sys.executable}"]
  dead_letter_archive: "{tmp_path / "dead-letters.jsonl"}"
slack:
  bot_token: "{BOT_TOKEN}"
  signing_secret: "{SIGNING_SECRET}"
  api_url: "{slack.api_url}"
  default_channel: {CHANNEL}
  message_interval: 50ms
  users: {{{ALICE[0]}: responder, {ADMIN[0]}: admin}}
channels:
  chat: {{type: slack, rate_limit: {{per_minute: 600, burst: 100}}}}
  pager: {{type: webhook, webhook: {{url: "{target.url}/page", timeout: 5s}}}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [chat, pager]}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{workers: 4, lease: 5s, max_attempts: 3, backoff_initial: 100ms, backoff_max: 200ms,
        poll_interval: 200ms}}
"""
    config = parse_config(text, source="firebreak.yml", env={})
    books = [
        book.replace("PYTHON", sys.executable)
        .replace("MARKER", str(marker))
        .replace("TARGET", target.url)
        for book in (DEAD_LETTER_RECOVERY, GATED, FOUR_EYES, LEAKY, CALLBACK, PROBE)
    ]
    app = create_app(
        config,
        registry=CollectorRegistry(),
        runbooks=runbooks(*books),
        step_actions={
            "retry_dead_letters": retry_dead_letters,
            "dead_letters_settled": dead_letters_settled,
            "complain": complain,
            "fetch": fetch,
        },
    )
    return Lab(await aiohttp_client(app), slack, listener, target)


def _exists(path: Path) -> bool:
    return path.exists()


def recovery_labels(**extra: str) -> dict[str, str]:
    """Labels the shipped dead-letter runbook matches (whatever its match line says)."""
    runbook = parse_runbook(DEAD_LETTER_RECOVERY, env={})
    labels = {m.name: m.value for m in runbook.matchers() if m.op is MatchOp.EQ}
    return {**labels, **extra}


async def test_a_label_cannot_send_the_admin_token_or_write_a_file(
    lab: Lab, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned.jsonl"
    hostile = {"api_url": lab.listener.url, "token": ADMIN_TOKEN, "archive": str(pwned)}
    # 1. Through a webhook: any exporter's label.
    await lab.fire(alert(labels=recovery_labels(**hostile)))
    [first] = await eventually(lambda: lab.executions("dead-letter-recovery"))
    record = await lab.ended(first["id"])
    assert record["trigger"] == "auto" and record["state"] == "succeeded", record
    assert record["steps"][0]["inputs"]["args"] == {"max_age": "6h"}
    # 2. Through the API, as a responder.
    resp = await lab.client.post(
        "/api/v1/runbooks/dead-letter-recovery/execute",
        json={"trigger_context": hostile},
        headers=RESPONDER_H,
    )
    # Keys that set no param are context: recorded and shown, never a destination or a file.
    assert resp.status == 202, await resp.text()
    created = await resp.json()
    assert created["params"] == {"max_age": "6h"}
    assert created["trigger_context"] == {**hostile, "token": "<redacted>"}  # shown, never used
    # 3. Through Slack, as a responder.
    args = " ".join(f"{k}={v}" for k, v in hostile.items())
    await lab.slack_answer(f"run dead-letter-recovery {args}", ALICE)
    for execution in await lab.executions("dead-letter-recovery"):
        done = await lab.ended(execution["id"])
        assert "api_url" not in json.dumps(done["steps"]), done
    await asyncio.sleep(0.3)
    assert lab.listener.connections == []
    assert not _exists(pwned)


def drill_labels(**extra: str) -> dict[str, str]:
    return {
        "alertname": "DiskFull",
        "firebreak_drill": "x1",
        "firebreak_drill_runbook": "gated",
        "firebreak_drill_live": "true",
        **extra,
    }


async def test_forged_drill_labels_pass_no_gate_and_mark_no_page(lab: Lab, marker: Path) -> None:
    resp = await lab.client.post(
        "/api/v1/automation/pause", json={"reason": "hold"}, headers=ADMIN_H
    )
    assert resp.status == 200
    await lab.fire(
        alert("DiskFull", labels=drill_labels(instance="a")),
        alert("DiskFull", labels=drill_labels(instance="b")),
    )

    async def both() -> list[dict[str, Any]] | None:
        found = await lab.executions("gated")
        return found if len(found) == 2 else None

    held = await eventually(both)
    for execution in held:
        record = await lab.ended(execution["id"])
        assert (record["trigger"], record["state"]) == ("auto", "skipped"), record
        assert record["error"].startswith("paused:")
    await eventually(lambda: len(lab.pages()) >= 1, what="paged")
    assert all(page["drill"] is False for page in lab.pages())
    assert not any("DRILL" in json.dumps(c.args) for c in lab.slack.calls)
    # Automation back on: the forged alert is an ordinary alert, so the gate holds it.
    await lab.client.post("/api/v1/automation/resume", headers=ADMIN_H)
    await lab.fire(alert("DiskFull", labels=drill_labels(instance="c")))
    waiting = await eventually(
        lambda: _waiting(lab, "gated"), what="the forged alert's run waits for approval"
    )
    refused = await lab.client.post(
        f"/api/v1/executions/{waiting['id']}/approve", headers=RESPONDER_H
    )
    assert refused.status == 403
    await asyncio.sleep(0.3)
    assert not _exists(marker)


async def _waiting(lab: Lab, runbook: str) -> dict[str, Any] | None:
    found = [e for e in await lab.executions(runbook) if e["state"] == "waiting_approval"]
    return found[0] if found else None


async def test_only_an_admin_request_makes_a_drill_live(lab: Lab, marker: Path) -> None:
    body: dict[str, Any] = {
        "runbook": "gated",
        "live": False,
        "labels": {"instance": "d", "firebreak_drill_live": "true"},
    }
    forged = await lab.client.post("/api/v1/drills", json=body, headers=RESPONDER_H)
    assert forged.status == 400
    assert (await forged.json())["field"] == "labels.firebreak_drill_live"
    live = await lab.client.post(
        "/api/v1/drills", json={"runbook": "gated", "live": True}, headers=RESPONDER_H
    )
    assert live.status == 403
    viewer = await lab.client.post("/api/v1/drills", json={"runbook": "gated"}, headers=VIEWER_H)
    assert viewer.status == 403
    dry = await lab.client.post(
        "/api/v1/drills",
        json={"runbook": "gated", "labels": {"instance": "d"}, "budget": {"finished": 15}},
        headers=RESPONDER_H,
    )
    report = await dry.json()
    record = await lab.record(report["execution_id"])
    assert (record["trigger"], record["dry_run"]) == ("drill", True)
    # An admin's live drill still meets the kill switch.
    await lab.client.post("/api/v1/automation/pause", headers=ADMIN_H)
    live = await lab.client.post(
        "/api/v1/drills",
        json={"runbook": "gated", "live": True, "budget": {"finished": 15}},
        headers=ADMIN_H,
    )
    assert (await live.json())["execution_state"] == "skipped"
    assert not _exists(marker)


async def test_runs_by_hand_meet_the_kill_switch_and_the_approval_gate(
    lab: Lab, marker: Path
) -> None:
    await lab.client.post("/api/v1/automation/pause", headers=ADMIN_H)
    resp = await lab.client.post("/api/v1/runbooks/gated/execute", json={}, headers=RESPONDER_H)
    assert resp.status == 409
    assert "paused" in (await resp.json())["error"]
    answer = await lab.slack_answer("run gated", ALICE)
    assert "Could not run" in answer and "paused" in answer
    await lab.client.post("/api/v1/automation/resume", headers=ADMIN_H)
    resp = await lab.client.post("/api/v1/runbooks/gated/execute", json={}, headers=RESPONDER_H)
    eid = (await resp.json())["id"]
    await eventually(lambda: _waiting(lab, "gated"), what="waiting for approval")
    refused = await lab.client.post(f"/api/v1/executions/{eid}/approve", headers=RESPONDER_H)
    assert refused.status == 403
    await asyncio.sleep(0.3)
    assert not _exists(marker)
    # An admin lets it through: the marker shows the step could run, once allowed.
    ok = await lab.client.post(f"/api/v1/executions/{eid}/approve", headers=ADMIN_H)
    assert ok.status == 200
    assert (await lab.ended(eid))["state"] == "succeeded"
    assert _exists(marker)


async def test_four_eyes_holds_one_person_across_slack_and_the_api(lab: Lab, marker: Path) -> None:
    resp = await lab.client.post("/api/v1/runbooks/rotate/execute", json={}, headers=ADMIN_H)
    eid = (await resp.json())["id"]
    await eventually(lambda: _waiting(lab, "rotate"), what="waiting for a second person")
    answer = await lab.slack_answer(f"approve {eid}", ALICE)  # Alice again, from Slack
    assert "four eyes" in answer
    refused = await lab.client.post(f"/api/v1/executions/{eid}/approve", headers=ADMIN_H)
    assert refused.status == 403
    await asyncio.sleep(0.3)
    assert not _exists(marker)
    answer = await lab.slack_answer(f"approve {eid}", ADMIN)  # somebody else
    assert "approved execution" in answer
    assert (await lab.ended(eid))["state"] == "succeeded"


async def test_no_secret_shows_anywhere(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await lab.fire(alert("Leak"))
    alerts = await (await lab.client.get("/api/v1/alerts", headers=VIEWER_H)).json()
    alert_id = alerts["alerts"][0]["id"]
    await eventually(lambda: lab.slack.top_messages(CHANNEL), what="the alert's message")
    resp = await lab.client.post(
        "/api/v1/runbooks/leaky/execute",
        json={"alert_id": alert_id},
        headers=RESPONDER_H,
    )
    assert resp.status == 202, await resp.text()
    eid = (await resp.json())["id"]
    record = await lab.ended(eid)
    assert record["state"] == "failed"
    assert "<redacted>" in record["steps"][0]["output"]["stdout"]
    [forwarded] = [r for r in lab.target.requests if r["path"] == "/forward"]
    assert "<redacted>" in json.loads(forwarded["body"])["seen"]
    await eventually(
        lambda: any("failed" in m.text for m in lab.slack.thread(CHANNEL, _parent(lab).ts)),
        what="the thread says how it ended",
    )
    await lab.slack_answer(f"status {eid}", ALICE)
    seen = [
        json.dumps(record),
        await (await lab.client.get("/api/v1/executions", headers=VIEWER_H)).text(),
        await (await lab.client.get(f"/api/v1/alerts/{alert_id}", headers=VIEWER_H)).text(),
        await (await lab.client.get("/api/v1/audit", headers=ADMIN_H)).text(),
        await (await lab.client.get("/api/v1/jobs", headers=VIEWER_H)).text(),
        json.dumps([c.args for c in lab.slack.calls]),
        json.dumps(lab.slack.responses),
        json.dumps([r["body"] for r in lab.target.requests], default=str),
        # What Firebreak logs (configure_logging routes the firebreak and aiohttp loggers).
        "\n".join(
            r.getMessage() + json.dumps(r.__dict__, default=str)
            for r in caplog.records
            if r.name.startswith(("firebreak", "aiohttp"))
        ),
    ]
    await login(lab.client, VIEWER_TOKEN)
    seen.append(await (await lab.client.get(f"/console/executions/{eid}")).text())
    for secret in (SECRET, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_TOKEN, ADMIN_TOKEN):
        for where, text in enumerate(seen):
            assert secret not in text, (secret, where)


def _parent(lab: Lab) -> Any:
    return lab.slack.top_messages(CHANNEL)[0]


@pytest.mark.parametrize(
    "callback",
    [
        "LISTENER/steal",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
async def test_a_label_cannot_point_a_step_or_an_action_elsewhere(lab: Lab, callback: str) -> None:
    url = callback.replace("LISTENER", lab.listener.url)
    await lab.fire(alert("Callback", labels={"callback": url, "token": "x"}))
    [found] = await eventually(lambda: lab.executions("callback"))
    record = await lab.ended(found["id"])
    fetched, called = record["steps"]
    assert fetched["state"] == "failed" and "Refused" in fetched["error"], fetched
    assert called["state"] == "failed" and called["error"].startswith("http request refused")
    if "LISTENER" not in callback:
        assert "cloud metadata address" in fetched["error"] + called["error"]
    await asyncio.sleep(0.3)
    assert lab.listener.connections == []


# Cloud metadata in every spelling that reaches it: refused even where the operator opened
# every address to runbook steps.
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://192.0.0.192/opc/v1/instance/",
    "http://168.63.129.16/machine?comp=goalstate",
    "http://169.254.170.2/v2/credentials/",
    "http://[fe80::a9fe:a9fe]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::6464:64c8]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://2852039166/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://0251.0376.0251.0376/latest/meta-data/",
    "http://169.254.43518/latest/meta-data/",
]


@pytest.mark.parametrize("http_allow", [["0.0.0.0/0", "::/0"]])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the guard reads no table
async def test_no_label_reaches_cloud_metadata_even_when_every_address_is_allowed(
    lab: Lab,
) -> None:
    await lab.fire(
        *(
            alert("Callback", labels={"callback": url, "token": "x", "n": str(number)})
            for number, url in enumerate(METADATA)
        )
    )

    async def all_ended() -> list[dict[str, Any]] | None:
        found = await lab.executions("callback")
        if len(found) < len(METADATA) or any(e["state"] not in ENDED for e in found):
            return None
        return found

    for execution in await eventually(all_ended, within=30, what="every callback run ended"):
        record = await lab.record(execution["id"])
        fetched, called = record["steps"]
        assert fetched["state"] == called["state"] == "failed", record
        assert called["error"].startswith("http request refused"), called
        for step in (fetched, called):
            assert "cloud metadata address" in step["error"], step


async def test_a_url_set_by_hand_stays_on_the_allow_list(lab: Lab) -> None:
    """A responder may choose the URL the runbook lets them choose, and only within
    ``automation.http_allow``: through the API and Slack alike, refused before anything runs."""
    elsewhere = [
        f"{lab.listener.url}/steal",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        f"{lab.target.url.replace('127.0.0.1', 'localhost')}/health",  # a name it does not list
    ]
    for url in elsewhere:
        resp = await lab.client.post(
            "/api/v1/runbooks/probe/execute",
            json={"trigger_context": {"url": url}},
            headers=RESPONDER_H,
        )
        assert resp.status == 400, (url, await resp.text())
        answer = await resp.json()
        assert answer["field"] == "params.url", answer
        assert "automation.http_allow" in answer["error"], answer
        reply = await lab.slack_answer(f"run probe url={url}", ALICE)
        assert "params.url" in reply and "automation.http_allow" in reply, reply
    assert await lab.executions("probe") == []
    # Within the list it runs, and reaches only the service it names.
    resp = await lab.client.post(
        "/api/v1/runbooks/probe/execute",
        json={"trigger_context": {"url": f"{lab.target.url}/other"}},
        headers=RESPONDER_H,
    )
    assert resp.status == 202, await resp.text()
    assert (await lab.ended((await resp.json())["id"]))["state"] == "succeeded"
    assert [r["path"] for r in lab.target.requests] == ["/other"]
    await asyncio.sleep(0.3)
    assert lab.listener.connections == []
