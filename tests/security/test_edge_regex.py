"""Regexes that would freeze the server: a viewer's ``=~`` matcher runs RE2 (linear in the label
value), anchored as Alertmanager anchors it, wherever matchers come from — the API's
``match[]``, the console's filter, Slack's ``/firebreak alerts``. ``/health``, polled all the
while, answers throughout and the event loop is never held; what RE2 refuses is a 400 (or a
reply) naming the field.

The labels are sized so that a backtracking engine takes from a fraction of a second to
seconds on each (``(a+)+$`` over 22 ``a`` and a ``!``: 2**22 paths; ``.*x.*y`` over the
40 000-character label), which fails the bar within the test instead of hanging it for the
hours a 40-character label would take; RE2 takes microseconds on each.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.automation.conftest import runbooks
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import VIEWER, command, slack_config

LABELS = {
    "x": "a" * 22 + "!",
    "y": "a" * 28 + "!",
    "z": "x" * 40_000,
}
# Each matches no alert, after exploring every way through the label for a backtracking engine.
PATHOLOGICAL = [
    'x=~"(a+)+$"',
    'x=~"(a|a)+$"',
    'y=~"(a|aa)+$"',
    'x=~"(a*)*b"',
    'z=~".*x.*y"',
]
# Not RE2 (nor Alertmanager): refused with what is wrong.
REFUSED = {
    'x=~"(a)\\\\1"': "invalid escape sequence",
    'x=~"(?=a)a"': "invalid perl operator",
    'x=~"(?<!b)a"': "invalid",
    'x=~"\\\\pL{1000}"': "too large",
}
HEALTH_BAR = 0.5  # seconds: a behaviour bar, not a benchmark (a loaded CI machine answers in ms)
TICK = 0.01


class HealthWatch:
    """While the patterns run: polls ``/health`` (which must answer 200 throughout), and ticks
    every 10 ms on the event loop the server and the client share, keeping how late each tick
    woke. A pattern that held the loop shows as a late tick however the polls fall; how long
    ``/health`` took is not the measure, as it waits on the database (a loaded PostgreSQL on a
    busy machine once took 1.9 s to answer its checks, with the loop free)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.answers = 0
        self.lags: list[float] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def slow(self) -> list[float]:
        """How late the loop woke, where it was late by the bar or more."""
        return [round(lag, 3) for lag in self.lags if lag >= HEALTH_BAR]

    async def __aenter__(self) -> HealthWatch:
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._tick())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _poll(self) -> None:
        while not self._stop.is_set():
            resp = await self._client.get("/health")
            assert resp.status == 200
            await resp.read()
            self.answers += 1
            await asyncio.sleep(TICK)

    async def _tick(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            await asyncio.sleep(TICK)
            self.lags.append(time.monotonic() - started - TICK)


async def _api(client: Any, matcher: str) -> Any:
    return await client.get(
        "/api/v1/alerts", params={"match[]": "{" + matcher + "}"}, headers=auth(VIEWER_TOKEN)
    )


async def test_pathological_regexes_never_stall_the_server(
    aiohttp_client: Any, db_url: str, make_config: Any, slack: SlackFake
) -> None:
    config = make_config(db_url, slack_config(slack, tier2_after="1h"))
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    for fired in (alert("DiskFull"), alert("HighLatency"), alert("Hostile", labels=LABELS)):
        resp = await client.post("/webhook", json=webhook(fired), headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200
    login = await client.post(
        "/console/login", data={"token": VIEWER_TOKEN, "next": "/"}, allow_redirects=False
    )
    assert login.status == 303

    async with HealthWatch(client) as health:
        for number, matcher in enumerate(PATHOLOGICAL):
            resp = await _api(client, matcher)
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["alerts"] == []
            page = await client.get("/", params={"match[]": "{" + matcher + "}"})
            assert page.status == 200
            assert "Hostile" not in await page.text()
            reply = await command(client, slack, f"alerts {matcher}", VIEWER, name=str(number))
            assert reply.status == 200
        # What does match still matches, anchored at both ends as in Alertmanager.
        resp = await _api(client, 'x=~"(a+)+!", z=~"(x+x+)+"')
        [found] = (await resp.json())["alerts"]
        assert found["labels"]["alertname"] == "Hostile"
        resp = await _api(client, 'x=~"a+"')
        assert (await resp.json())["alerts"] == []
        await eventually(lambda: len(slack.responses) == len(PATHOLOGICAL), what="Slack replies")
        for matcher, reason in REFUSED.items():
            resp = await _api(client, matcher)
            assert resp.status == 400
            body = await resp.json()
            assert body["field"] == "match[]"
            assert "invalid regular expression" in body["error"] and reason in body["error"]
            page = await client.get("/", params={"match[]": "{" + matcher + "}"})
            assert page.status == 400
            text = html.unescape(await page.text())
            assert "match[]: invalid regular expression" in text and reason in text
        # A command that does not parse is answered at once, in Slack's acknowledgement.
        reply = await command(client, slack, f"alerts {next(iter(REFUSED))}", VIEWER)
        assert reply.status == 200
        refusal = (await reply.json())["text"]

    for answer in slack.responses[: len(PATHOLOGICAL)]:
        assert answer["text"].startswith("No firing alerts matching"), answer
    assert "invalid regular expression" in refusal and "invalid escape sequence" in refusal
    assert health.answers >= 5
    assert not health.slow(), f"the loop was held {health.slow()} s while the patterns ran"


NAIVE = """
id: naive
title: A param pattern written without a thought for backtracking
match: 'alertname="Naive"'
params:
  service: {from: labels.service, pattern: '([a-z0-9]+-?)+'}
steps:
  - id: pause
    wait: {duration: 1s}
"""


async def test_a_runbook_param_pattern_never_stalls_the_server(
    aiohttp_client: Any, sqlite_url: str, make_config: Any
) -> None:
    """A runbook's ``pattern:`` is checked against a label before the first step: RE2 too, so
    a label made for a backtracking engine fails the run naming the param while ``/health``
    stays fast. (``([a-z0-9]+-?)+`` over 25 letters and a ``!`` takes Python's ``re`` seconds,
    which fails the bar without hanging the test; 40 letters would take it hours.)"""
    app = create_app(
        make_config(sqlite_url, "automation: {mode: live}\n"),
        registry=CollectorRegistry(),
        runbooks=runbooks(NAIVE),
    )
    client = await aiohttp_client(app)
    async with HealthWatch(client) as health:
        hostile = alert("Naive", labels={"service": "a" * 25 + "!"})
        resp = await client.post("/webhook", json=webhook(hostile), headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200

        async def ended() -> dict[str, Any] | None:
            found = await client.get("/api/v1/executions", headers=auth(VIEWER_TOKEN))
            listed = (await found.json())["executions"]
            return listed[0] if listed and listed[0]["state"] == "failed" else None

        failed = await eventually(ended, what="the run failed on its param")
        await asyncio.sleep(0.1)  # a few more answers of /health after it
    assert failed["error"].startswith("params.service: expected a value matching"), failed
    assert health.answers >= 3
    assert not health.slow(), f"the loop was held {health.slow()} s while the pattern ran"
