"""Graphs in Slack, through the application's durable jobs: a real Prometheus holding a known
hour, the official Slack client against the wire-level fake (files.getUploadURLExternal, the
upload URL, files.completeUploadExternal), and a hand-moved clock standing at the end of that
hour."""

from __future__ import annotations

import asyncio
import io
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.slack import CHANNEL, Message, SlackFake
from tests.graphs.conftest import HOUR_END, JUMP, ScriptedPrometheus, unused_url
from tests.graphs.test_grapher import red_columns
from tests.payloads import alert, webhook
from tests.slack_helpers import BOT_TOKEN, slack_config

pytestmark = pytest.mark.e2e

HOOK = auth(WEBHOOK_TOKEN)
EXPRESSION = 'errors_ratio{job="api"}'
FILENAME = re.compile(r"HighErrorRatio-graph-[0-9a-f]{16}\.png")

Start = Callable[..., Awaitable[TestClient[Any, Any]]]


def generator(expression: str = EXPRESSION, host: str = "http://prometheus.internal:9090") -> str:
    return f"{host}/graph?g0.expr={urllib.parse.quote(expression, safe='')}&g0.tab=1"


def firing(url: str | None = None, name: str = "HighErrorRatio") -> dict[str, Any]:
    one = alert(
        name,
        starts_at=JUMP.isoformat().replace("+00:00", "Z"),
        labels={"instance": "b", "job": "api"},
    )
    one["generatorURL"] = generator() if url is None else url
    return webhook(one, group_key=f'{{}}:{{alertname="{name}"}}')


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(HOUR_END)


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Any],
    sqlite_url: str,
    make_config: Callable[..., Any],
    slack: SlackFake,
    clock: ManualClock,
) -> Start:
    async def run(prometheus_url: str, graphs: str = "", owner: str = "a") -> TestClient[Any, Any]:
        extra = f"graphs: {{prometheus_url: '{prometheus_url}', timeout: 2s{graphs}}}\n"
        extra += "shutdown_grace: 1s"
        config = make_config(sqlite_url, slack_config(slack, tier2_after="5m", extra=extra))
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(
                config,
                clock=clock,
                monotonic=clock.monotonic,
                registry=CollectorRegistry(),
                owner=owner,
            )
        )
        clock.watch(client.app)
        return client

    return run


async def graph_jobs(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/jobs?kind=graph", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    jobs: list[dict[str, Any]] = (await resp.json())["jobs"]
    return jobs


def the_message(slack: SlackFake) -> Message:
    [message] = slack.top_messages(CHANNEL)
    return message


async def test_the_first_message_gets_the_graph_in_its_thread(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(prometheus)
    assert (await client.post("/webhook", json=firing(), headers=HOOK)).status == 200
    await clock.advance(timedelta(seconds=1))

    message = the_message(slack)
    [(reply, shared)] = slack.shared_files(CHANNEL, message.ts)
    assert FILENAME.fullmatch(shared.filename), shared.filename
    assert shared.title == "HighErrorRatio: the last hour"
    assert reply.text == (
        f":chart_with_upwards_trend: The last hour of `{EXPRESSION}`; "
        "the dashed line is when it started."
    )
    assert shared.content is not None
    picture = Image.open(io.BytesIO(shared.content))
    assert (picture.format, picture.size) == ("PNG", (800, 320))
    assert red_columns(picture), "the alert's start is marked"
    methods = [c.method for c in slack.called()]
    assert methods[methods.index("chat.postMessage") :][:3] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    # Paced behind the message (one post a second per channel), the graph waited; a run
    # merely deferred asks nothing of Slack's rate-limited reads.
    assert slack.called("conversations.replies") == []
    [job] = await graph_jobs(client)
    assert (job["state"], job["attempts"]) == ("done", 0)

    # The next tier replies in the same thread: the message has its graph already.
    await clock.advance(timedelta(minutes=5))
    assert any("Escalated" in m.text for m in slack.thread(CHANNEL, message.ts))
    assert len(slack.shared_files(CHANNEL, message.ts)) == 1
    assert len(await graph_jobs(client)) == 1


async def test_the_generator_urls_host_is_never_asked(
    start: Start,
    prometheus: str,
    slack: SlackFake,
    clock: ManualClock,
    scripted: ScriptedPrometheus,
) -> None:
    client = await start(prometheus)
    await client.post("/webhook", json=firing(generator(host=scripted.url)), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    assert len(slack.shared_files(CHANNEL, the_message(slack).ts)) == 1
    assert scripted.requests == []


async def test_an_alert_from_elsewhere_gets_no_graph_and_no_note(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(prometheus)
    url = "http://grafana:3000/alerting/grafana/abc/view"
    await client.post("/webhook", json=firing(url), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    assert slack.thread(CHANNEL, the_message(slack).ts) == []
    assert await graph_jobs(client) == []
    assert not slack.called("files.getUploadURLExternal", "conversations.replies")


async def test_prometheus_out_of_reach_is_said_in_the_thread_once(
    start: Start, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(unused_url())
    await client.post("/webhook", json=firing(), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    message = the_message(slack)
    [note] = slack.thread(CHANNEL, message.ts)
    assert (
        note.text == ":warning: No graph: Prometheus could not be reached (ClientConnectorError)."
    )
    assert not slack.called("files.getUploadURLExternal")
    [job] = await graph_jobs(client)
    assert job["state"] == "done"
    await clock.advance(timedelta(minutes=10))
    assert len([m for m in slack.thread(CHANNEL, message.ts) if "No graph" in m.text]) == 1


async def test_a_note_whose_answer_was_lost_is_not_posted_twice(
    start: Start, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(unused_url())
    slack.lose_answer("chat.postMessage", where=lambda args: "thread_ts" in args)
    await client.post("/webhook", json=firing(), headers=HOOK)
    await clock.advance(timedelta(seconds=5))  # past the retry's backoff
    [note] = slack.thread(CHANNEL, the_message(slack).ts)
    assert note.text.startswith(":warning: No graph: Prometheus could not be reached")
    [job] = await graph_jobs(client)
    assert (job["state"], job["attempts"]) == ("done", 1)


async def test_a_hostile_expression_is_shown_as_text_and_drawn_as_one_query(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    # Valid PromQL whose label value holds Slack markup: Prometheus finds nothing for it.
    hostile = 'errors_ratio{job="<!here> `x` & <http://evil.example|click>"}'
    client = await start(prometheus)
    await client.post("/webhook", json=firing(generator(hostile)), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    [(reply, shared)] = slack.shared_files(CHANNEL, the_message(slack).ts)
    assert "<!here>" not in reply.text and "<http" not in reply.text
    assert "&lt;!here&gt; \u02cbx\u02cb &amp; &lt;http://evil.example|click&gt;" in reply.text
    assert shared.content is not None


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        (
            "up or " * 1000 + "up",
            ":grey_question: No graph: the expression is longer than "
            "graphs.max_expression_chars (4096).",
        ),
        ("sum(<!channel>)", ":grey_question: No graph: Prometheus refused the query (400): "),
    ],
)
async def test_an_expression_that_cannot_be_graphed_is_said_escaped(
    start: Start,
    prometheus: str,
    slack: SlackFake,
    clock: ManualClock,
    expression: str,
    said: str,
) -> None:
    client = await start(prometheus)
    await client.post("/webhook", json=firing(generator(expression)), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    [note] = slack.thread(CHANNEL, the_message(slack).ts)
    assert note.text.startswith(said), note.text
    assert "<!channel>" not in note.text
    assert not slack.called("files.getUploadURLExternal")


async def test_an_upload_whose_answer_was_lost_is_not_shared_twice(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(prometheus)
    slack.lose_answer("files.completeUploadExternal")
    await client.post("/webhook", json=firing(), headers=HOOK)
    await clock.advance(timedelta(seconds=5))  # past the retry's backoff
    assert len(slack.shared_files(CHANNEL, the_message(slack).ts)) == 1
    [job] = await graph_jobs(client)
    assert (job["state"], job["attempts"]) == ("done", 1)
    assert len(slack.called("files.completeUploadExternal")) == 0  # the one call answered 500
    assert len(slack.called("conversations.replies")) == 1  # the retry looked, and found it


async def test_a_graph_held_back_by_slack_asks_nothing_before_it_is_shared(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    client = await start(prometheus)
    slack.rate_limit("files.getUploadURLExternal", retry_after=3)  # refused: nothing shared
    await client.post("/webhook", json=firing(), headers=HOOK)
    await clock.advance(timedelta(seconds=1))
    message = the_message(slack)
    assert slack.shared_files(CHANNEL, message.ts) == []
    [job] = await graph_jobs(client)
    assert (job["state"], job["attempts"], job["outcome"]) == ("pending", 0, None)
    await clock.advance(timedelta(seconds=3))  # Retry-After waited out
    assert len(slack.shared_files(CHANNEL, message.ts)) == 1
    [job] = await graph_jobs(client)
    assert (job["state"], job["attempts"]) == ("done", 0)
    assert slack.called("conversations.replies") == []


async def test_a_restart_mid_upload_neither_loses_nor_doubles_the_graph(
    start: Start, prometheus: str, slack: SlackFake, clock: ManualClock
) -> None:
    first = await start(prometheus, owner="first")
    slack.hold("files.completeUploadExternal")  # shared at Slack; the answer never comes back
    await first.post("/webhook", json=firing(), headers=HOOK)
    moving = asyncio.create_task(clock.advance(timedelta(seconds=1)))
    await eventually(lambda: slack.top_messages(CHANNEL), what="the message posted")
    await eventually(
        lambda: slack.shared_files(CHANNEL, the_message(slack).ts), what="the graph shared"
    )
    clock.forget(first.app)  # the clock stops waiting for a runner that is stuck
    await moving
    await first.close()  # the graph job is cut off and its lease handed back
    slack.released.set()

    second = await start(prometheus, owner="second")
    await clock.advance(timedelta(seconds=1))
    assert len(slack.shared_files(CHANNEL, the_message(slack).ts)) == 1
    [job] = await graph_jobs(second)
    # No attempt failed and no lease ran out: the run cut off with its upload out left the
    # job in doubt, and the run after the restart looked in the thread (once) for the graph.
    assert (job["state"], job["attempts"]) == ("done", 0)
    assert len(slack.called("conversations.replies")) == 1
