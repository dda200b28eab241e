"""What a new alert sets off: one ``route`` job reads its alerts once and collects escalation,
Grafana's annotation and the runbook start from every reaction, committed as one; a reaction
that fails half way leaves nothing behind, and the job's second run enqueues each once."""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.alertmanager import parse_webhook_body
from receiver.automation.executor import Executor
from receiver.automation.steps import StepEnvironment
from receiver.breaker import BreakerRegistry
from receiver.config import Config
from receiver.escalation import Escalation
from receiver.grafana import Annotator
from receiver.ingest import outbox
from receiver.job_handlers import JobContext
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.model import Notification
from receiver.notify.log import LogChannel
from receiver.ratelimit import RateLimiters
from receiver.reactions import Reacted, Reaction, Reactions
from receiver.schedules import Schedules
from receiver.store import Store, open_store, tables
from receiver.store.ingest import ReceivedWebhook
from receiver.store.store import AlertState
from receiver.typedefs import STORE
from tests.automation.conftest import PAUSE, executions, finished, runbooks
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook
from tests.statements import store_engines


def reactions_config(channel_url: str, grafana_url: str) -> str:
    return f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{channel_url}"}}}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: ""}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
grafana: {{url: "{grafana_url}", token: "glsa_token"}}
"""


def _is_state_read(statement: str) -> bool:
    """The read of alert states with their labels (what the route and resolve jobs decide
    on); other reads of alerts carry their annotations or no labels."""
    found = statement.lstrip().upper()
    return (
        found.startswith("SELECT")
        and "SNOOZED_UNTIL" in found
        and "LABELS" in found
        and "ANNOTATIONS" not in found
    )


async def test_a_new_alert_escalates_is_annotated_and_starts_its_runbook_from_one_read(
    start: Any,
) -> None:
    async with (
        WebhookReceiver() as channel,
        WebhookReceiver(path="/api/annotations") as grafana,
    ):
        client = await start(PAUSE, extra=reactions_config(channel.url, grafana.base_url))
        store = client.app[STORE]
        reads: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if _is_state_read(statement):
                reads.append(statement)

        engines = store_engines(store)
        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        try:
            body = webhook(alert("DiskFull", annotations={"summary": "disk 91% full"}))
            posted = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
            assert posted.status == 200
            (execution,) = await eventually(lambda: executions(client))
            assert (await finished(client, execution["id"]))["state"] == "succeeded"
            await eventually(lambda: len(channel.requests) == 1, what="the page")

            def fired() -> list[str]:
                texts = [grafana.json(i)["text"] for i in range(len(grafana.requests))]
                return [t for t in texts if t.startswith("alert")]

            assert await eventually(fired) == ["alert fired: DiskFull: disk 91% full"]
            assert len(reads) == 1  # escalation, Grafana and automation: one read between them

            alert_id = execution["alert_id"]
            resolved = await client.post(
                f"/api/v1/alerts/{alert_id}/resolve", headers=auth(RESPONDER_TOKEN)
            )
            assert resolved.status == 200
            await eventually(lambda: len(channel.requests) == 2, what="the resolved notice")
            await eventually(lambda: len(fired()) == 2, what="the resolved annotation")
            assert fired()[1] == "alert resolved: DiskFull: disk 91% full"
            assert channel.json(1)["kind"] == "resolved"
            assert len(reads) == 2  # and one for the resolve job
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)


class Failing:
    """A reaction, joined between the others, that fails until it is let through."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        self.calls += 1
        if self.failing:
            raise RuntimeError("the process died here")
        return Reacted()

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        return Reacted()


@pytest.fixture
async def stored(
    db_url: str, make_config: Callable[..., Config]
) -> AsyncIterator[tuple[Config, Store]]:
    config = make_config(db_url, reactions_config("http://127.0.0.1:9/hook", "http://127.0.0.1:9"))
    async with open_store(config.database) as store:
        yield config, store


async def _jobs(store: Store) -> list[Any]:
    async with store.connection() as conn:
        statement = select(
            tables.jobs.c.kind,
            tables.jobs.c.state,
            tables.jobs.c.attempts,
            tables.jobs.c.last_error,
            tables.jobs.c.idempotency_key,
        ).order_by(tables.jobs.c.id)
        return list((await conn.execute(statement)).all())


async def _nowhere(notification: Notification) -> None:
    raise AssertionError(f"nothing here raises an alert of Firebreak's own: {notification}")


async def test_a_reaction_failing_half_way_neither_loses_nor_doubles(
    stored: tuple[Config, Store],
) -> None:
    config, store = stored
    metrics = Metrics(CollectorRegistry())
    failing = Failing()
    async with aiohttp.ClientSession() as session:
        assert config.grafana is not None
        chain: list[Reaction] = [
            Escalation(
                config,
                store,
                {"hook": LogChannel("hook")},
                BreakerRegistry(),
                RateLimiters({}),
                metrics,
                schedules=Schedules(config, store, lambda: datetime.now(UTC)),
                submit=_nowhere,
            ),
            failing,
            Annotator(config.grafana, session, store),
            Executor(runbooks(PAUSE), store, metrics, StepEnvironment(http=session)),
        ]
        runner = JobRunner(
            store,
            Reactions(store, chain).handlers(),  # the jobs the route job enqueues stay queued
            metrics,
            lambda: datetime.now(UTC),
            RunnerSettings(
                owner="a",
                max_attempts=10,
                backoff_initial=timedelta(milliseconds=50),
                backoff_max=timedelta(milliseconds=50),
                poll_interval=timedelta(milliseconds=50),
            ),
        )
        body = webhook(alert("DiskFull"), alert("DiskFull", labels={"instance": "b"}))
        notification = parse_webhook_body(json.dumps(body).encode())
        now = datetime.now(UTC)
        await store.ingest(
            [ReceivedWebhook(notification, None, now)],
            now,
            outbox=functools.partial(outbox, fetch_truncated=False),
        )
        runner.start()
        try:
            await eventually(lambda: failing.calls >= 2, what="the route job run again")
            # Escalation had decided before the failure; none of it was committed.
            (route,) = await _jobs(store)
            assert route.kind == "route" and route.state in ("pending", "running")
            assert route.attempts >= 1 and "the process died here" in route.last_error

            failing.failing = False

            async def routed() -> bool:
                return any(j.kind == "route" and j.state == "done" for j in await _jobs(store))

            await eventually(routed)
        finally:
            await runner.stop()
    jobs = await _jobs(store)
    assert Counter(j.kind for j in jobs) == {
        "route": 1,
        "notify": 1,  # the page to the one tier's target, for both alerts
        "annotate": 1,
        "runbook_start": 2,  # one per alert
    }
    assert len({j.idempotency_key for j in jobs}) == len(jobs)
