"""PagerDuty on loopback, over HTTPS: the Events API v2 and signed v3 webhooks back.

The server's certificate comes from a throw-away ``trustme`` CA; ``write_ca(path)`` saves that CA
for the client to trust (the ``pagerduty`` channel's ``ca_file``), and ``base_url`` is what the
client is pointed at instead of ``https://events.pagerduty.com``.

``POST /v2/enqueue`` validates an event as PagerDuty documents it and answers with its shapes:

* ``202 {"status": "success", "message": "Event processed", "dedup_key": ...}``;
* ``400 {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.

Events are applied as PagerDuty applies them: a ``trigger`` whose ``dedup_key`` names an open
incident of the same routing key only adds to it, otherwise it opens a new incident; an
``acknowledge`` or ``resolve`` applies to the open incident or is dropped. ``script(429, 503,
Reply(500, accept=True))`` answers the next requests with those statuses instead (``accept``:
the event is applied all the same, as when PagerDuty took it but the answer was lost).

``send_webhook(url, "incident.acknowledged", incident)`` posts a v3 webhook about an incident,
signed like PagerDuty signs: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>`` for each secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import threading
import uuid
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import trustme
from aiohttp import web

SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer to the next enqueue request."""

    status: int  # 202: answer as PagerDuty would, only later
    accept: bool = False  # apply the event anyway (the answer is what goes wrong)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    hold: asyncio.Event | None = None  # answer only once this is set


@dataclass
class Incident:
    """An incident the fake opened: PagerDuty's incident fields and what happened to it."""

    id: str
    number: int
    routing_key: str
    incident_key: str  # the dedup_key of the trigger that opened it
    title: str
    status: str = "triggered"  # triggered, acknowledged, resolved
    triggers: int = 1
    actions: list[str] = field(default_factory=lambda: ["trigger"])

    def data(self) -> dict[str, Any]:
        """The ``incident`` object of a v3 webhook."""
        return {
            "id": self.id,
            "type": "incident",
            "self": f"https://api.pagerduty.com/incidents/{self.id}",
            "html_url": f"https://acme.pagerduty.com/incidents/{self.id}",
            "number": self.number,
            "status": self.status,
            "incident_key": self.incident_key,
            "created_at": "2026-11-23T08:00:05Z",
            "title": self.title,
            "service": {"id": "PSERVIC", "type": "service_reference", "summary": "Checkout"},
            "assignees": [{"id": "PUSER01", "type": "user_reference", "summary": "Dana Ops"}],
            "urgency": "high",
            "resolve_reason": None,
        }


def _invalid(*errors: str) -> web.Response:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}
    return web.json_response(body, status=400)


def _problems(event: Any) -> list[str]:
    """What PagerDuty would say is wrong with an event."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    problems = []
    if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
        problems.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        problems.append("'dedup_key' must be a string of at most 255 characters")
    if action != "trigger" and not key:
        problems.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "'payload' is missing or not an object"]
        for name in ("summary", "source"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                problems.append(f"'payload.{name}' is missing or blank")
        if len(str(payload.get("summary", ""))) > 1024:
            problems.append("'payload.summary' is longer than 1024 characters")
        if payload.get("severity") not in SEVERITIES:
            problems.append("'payload.severity' is invalid (must be one of critical, error, ...)")
    return problems


class FakePagerDuty:
    """Listens on 127.0.0.1 on a free port over HTTPS."""

    def __init__(self, routing_keys: tuple[str, ...] = ()) -> None:
        """``routing_keys``: the integration keys that exist (any key when empty)."""
        self.routing_keys = routing_keys
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.requests: list[dict[str, Any]] = []  # every enqueue body, as received
        self.answers: list[int] = []  # the status each one got
        self.incidents: list[Incident] = []
        self._script: deque[Reply | None] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- control --------------------------------------------------------------------------------

    def script(self, *replies: Reply | int | None) -> None:
        """Answer the next requests so; ``None`` answers one as PagerDuty would."""
        self._script.extend(Reply(r) if isinstance(r, int) else r for r in replies)

    def write_ca(self, path: Path) -> str:
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents if i.status != "resolved"]

    def incident(self, dedup_key: str) -> Incident:
        found = [i for i in self.incidents if i.incident_key == dedup_key]
        assert len(found) == 1, f"{len(found)} incidents for {dedup_key}"
        return found[0]

    # -- Events API -----------------------------------------------------------------------------

    async def _enqueue(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            event = json.loads(raw)
        except ValueError:
            return self._answer(_invalid("Event object is not valid JSON"))
        self.requests.append(event)
        reply = self._script.popleft() if self._script else None
        if reply is not None and reply.delay:
            await asyncio.sleep(reply.delay)
        if reply is not None and reply.hold is not None:
            await reply.hold.wait()
        if reply is not None and reply.status == 202:
            reply = None
        if reply is not None and not reply.accept:
            return self._answer(self._scripted(reply))
        problems = _problems(event)
        if not problems and self.routing_keys and event["routing_key"] not in self.routing_keys:
            problems = ["Invalid routing key"]
        if problems:
            return self._answer(_invalid(*problems))
        key = event.get("dedup_key") or uuid.uuid4().hex
        self._apply(event, key)
        if reply is not None:
            return self._answer(self._scripted(reply))
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return self._answer(web.json_response(body, status=202))

    def _answer(self, response: web.Response) -> web.Response:
        self.answers.append(response.status)
        return response

    def _scripted(self, reply: Reply) -> web.Response:
        if reply.status == 429:
            body = {"status": "throttle event", "message": "Requests for this service are "
                    "arriving too quickly.  Please retry later."}  # fmt: skip
        elif reply.status == 400:
            return _invalid("'payload.summary' is missing or blank")
        else:
            body = {"status": "error", "message": "Internal Server Error"}
        return web.json_response(body, status=reply.status, headers=reply.headers)

    def _apply(self, event: dict[str, Any], key: str) -> None:
        routing_key, action = event["routing_key"], event["event_action"]
        open_one = next(
            (
                i
                for i in self.incidents
                if i.incident_key == key and i.routing_key == routing_key and i.status != "resolved"
            ),
            None,
        )
        if action == "trigger":
            if open_one is None:
                number = len(self.incidents) + 1
                title = event["payload"]["summary"]
                self.incidents.append(Incident(f"Q{number:06d}", number, routing_key, key, title))
            else:
                open_one.triggers += 1
                open_one.actions.append("trigger")
        elif open_one is not None:  # acknowledge / resolve: dropped without an open incident
            open_one.actions.append(action)
            if action == "resolve":
                open_one.status = "resolved"
            elif open_one.status == "triggered":
                open_one.status = "acknowledged"

    # -- webhooks v3 ----------------------------------------------------------------------------

    @staticmethod
    def sign(secret: str, body: bytes) -> str:
        return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    @staticmethod
    def webhook_body(
        event_type: str,
        incident: Incident,
        agent: str | None = "Dana Ops",
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> bytes:
        """A v3 webhook body: a new event id and the current time unless given."""
        when = occurred_at if occurred_at is not None else datetime.now(UTC)
        event = {
            "event": {
                "id": event_id or uuid.uuid4().hex,
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "agent": None
                if agent is None
                else {"id": "PUSER01", "type": "user_reference", "summary": agent},
                "client": None,
                "data": incident.data(),
            }
        }
        return json.dumps(event).encode()

    async def send_webhook(
        self,
        url: str,
        event_type: str,
        incident: Incident,
        secrets: tuple[str, ...],
        *,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> tuple[int, Any]:
        """Change the incident as the event says, then tell ``url``; returns the answer's
        status and JSON. ``signature`` replaces the header (forgeries); ``body`` the body."""
        if event_type == "incident.acknowledged":
            incident.status = "acknowledged"
        elif event_type == "incident.resolved":
            incident.status = "resolved"
        body = body if body is not None else self.webhook_body(event_type, incident)
        if signature is None:
            signature = ",".join(self.sign(secret, body) for secret in secrets)
        header = signature
        headers = {"Content-Type": "application/json", "User-Agent": "PagerDuty-Webhook/V3.0"}
        if header:
            headers["X-PagerDuty-Signature"] = header
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    # -- lifetime -------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"https://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakePagerDuty:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def channel_yaml(fake: FakePagerDuty, ca_file: str, routing_key: str, throttle_wait: str) -> str:
    """A ``channels:`` entry ``pd`` of firebreak.yml that pages ``fake`` (trusting its CA),
    with room for bursts and short waits, so a test sees retries within seconds."""
    return f"""
  pd:
    type: pagerduty
    pagerduty:
      routing_keys: {{default: "{routing_key}"}}
      api_url: "{fake.base_url}"
      ca_file: "{ca_file}"
      timeout: 5s
      throttle_wait: {throttle_wait}
    rate_limit: {{per_minute: 600, burst: 100}}
    breaker: {{failure_threshold: 10, open_cooldown: 1s, half_open_probe_count: 1}}"""


class ThreadedFakePagerDuty:
    """The fake on an event loop of its own, in a thread, for tests that are not async (the
    end-to-end tests drive real processes from plain functions)::

        with ThreadedFakePagerDuty(routing_keys=(KEY,)) as pagerduty:
            pagerduty.fake.script(429)
            pagerduty.call(pagerduty.fake.send_webhook(...))
    """

    def __init__(self, routing_keys: tuple[str, ...] = ()) -> None:
        self.fake = FakePagerDuty(routing_keys)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-pagerduty", daemon=True
        )

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run ``coroutine`` on the fake's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __enter__(self) -> ThreadedFakePagerDuty:
        self._thread.start()
        self.call(self.fake.start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.call(self.fake.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
