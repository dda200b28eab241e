"""Escalation through durable jobs, observed where a user would: the requests a real webhook
receiver got, the alert's history, and the jobs API. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, event, func, select

from receiver.app import create_app
from receiver.model import NewJob
from receiver.store import tables
from receiver.typedefs import RUNNER, STORE
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.conftest import eventually as poll
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)


def escalation_config(
    url: str,
    *,
    tier2_after: str = "30s",
    rate: str = "600",
    burst: int = 100,
    threshold: int = 5,
    cooldown: str = "60s",
    group_window: str = "1s",
    repeat: int = 0,
    # Long enough that a loaded machine does not time a delivery out after the fake got it
    # (a retry then repeats the notice, as a webhook channel may); tests of timeouts pass less.
    timeout: str = "5s",
    lease: str = "2s",
) -> str:
    return f"""
channels:
  hook:
    type: webhook
    webhook: {{url: "{url}", timeout: {timeout}}}
    rate_limit: {{per_minute: {rate}, burst: {burst}}}
    breaker: {{failure_threshold: {threshold}, open_cooldown: {cooldown}, half_open_probe_count: 1}}
escalation_policies:
  oncall:
    repeat: {repeat}
    tiers:
      - {{after: 0s, notify: [{{channel: hook, target: ""}}]}}
      - {{after: {tier2_after}, notify: [{{channel: hook, target: "{url}?tier=2"}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: {group_window}}}
jobs: {{workers: 4, lease: {lease}, max_attempts: 6, backoff_initial: 100ms, backoff_max: 400ms,
        poll_interval: 200ms}}
"""


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within: float = 10.0, client: Any = None
) -> None:
    """``tests.conftest.eventually``; when it gives up, says where the jobs stand."""
    try:
        await poll(check, within)
    except AssertionError as exc:
        if client is None:
            raise
        resp = await client.get("/api/v1/jobs?limit=50", headers=auth(VIEWER_TOKEN))
        jobs = (await resp.json())["jobs"]
        detail = ", ".join(
            f"{j['kind']}/{j['state']}/{j['outcome']}/{j['attempts']}/{j['last_error']}"
            for j in jobs
        )
        raise AssertionError(f"{exc}; jobs: {detail}") from None


@pytest.fixture
def start(aiohttp_client: Any, db_url: str, make_config: Any) -> Callable[..., Any]:
    """Start an application instance on the test's database with escalation settings (on
    ``clock``, which then watches it, when one is given)."""

    async def run(
        receiver: WebhookReceiver,
        owner: str = "a",
        clock: ManualClock | None = None,
        **settings: Any,
    ) -> Any:
        config = make_config(db_url, escalation_config(receiver.url, **settings))
        if clock is None:
            return await aiohttp_client(
                create_app(config, registry=CollectorRegistry(), owner=owner)
            )
        app = create_app(
            config,
            clock=clock,
            monotonic=clock.monotonic,
            registry=CollectorRegistry(),
            owner=owner,
        )
        client = await aiohttp_client(app)
        clock.watch(app)
        return client

    return run


async def waiting_jobs(client: Any, kind: str) -> int:
    """How many jobs of ``kind`` wait, pending or running, in one read of the store (two API
    reads, one per state, could count a job that moved between them twice, or not at all)."""
    async with client.app[STORE].connection() as conn:
        result = await conn.execute(
            select(func.count()).where(
                tables.jobs.c.kind == kind, tables.jobs.c.state.in_(("pending", "running"))
            )
        )
        return int(result.scalar_one())


def bodies(receiver: WebhookReceiver, kind: str | None = None) -> list[dict[str, Any]]:
    found = [receiver.json(i) for i in range(len(receiver.requests))]
    return [b for b in found if kind is None or b["kind"] == kind]


async def test_a_firing_alert_is_notified_once_with_its_history(
    receiver: WebhookReceiver, start: Any
) -> None:
    client = await start(receiver)
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await eventually(lambda: len(receiver.requests) == 1)
    body = receiver.json()
    assert body["kind"] == "firing"
    assert body["escalation_policy"] == "oncall" and body["tier"] == 0
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["A"]
    key = receiver.requests[0].headers["X-Firebreak-Idempotency-Key"]
    assert key.startswith("notify:")
    alert_id = body["alerts"][0]["id"]
    detail = await (
        await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    ).json()
    await eventually(lambda: True)
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[:2] == ["fired", "escalated"]


async def test_acknowledge_stops_the_next_tier_and_resolve_sends_a_resolved_notice(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver, clock=manual_clock, tier2_after="60s", group_window="0s")
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(receiver.requests) == 1
    alert_id = receiver.json()["alerts"][0]["id"]
    ack = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    assert ack.status == 200
    await manual_clock.advance(timedelta(minutes=5))  # well past tier 2's due time
    assert len(receiver.requests) == 1
    await client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=auth(RESPONDER_TOKEN))
    await manual_clock.settle()
    assert len(receiver.requests) == 2
    assert receiver.json()["kind"] == "resolved"
    assert receiver.requests[1].path == "/hook"  # the same target that was paged


async def test_unacknowledged_alert_reaches_the_next_tier_on_time(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver, clock=manual_clock, tier2_after="60s", group_window="0s")
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert [r.path for r in receiver.requests] == ["/hook"]
    await manual_clock.advance(timedelta(seconds=59))
    assert len(receiver.requests) == 1  # not before the tier's delay
    await manual_clock.advance(timedelta(seconds=1))
    assert [r.path for r in receiver.requests] == ["/hook", "/hook?tier=2"]  # at it, exactly
    # Resolved by Alertmanager: both paged targets hear of it.
    await client.post("/webhook", json=webhook(alert("A", status="resolved")), headers=HOOK)
    await manual_clock.settle()
    assert len(bodies(receiver, "resolved")) == 2
    assert sorted(r.path for r in receiver.requests[2:]) == ["/hook", "/hook?tier=2"]


async def test_restart_between_tiers_fires_every_tier_once_on_time(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    settings: dict[str, Any] = {"clock": manual_clock, "tier2_after": "60s", "group_window": "0s"}
    first = await start(receiver, owner="first", **settings)
    await first.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(receiver.requests) == 1
    await manual_clock.advance(timedelta(seconds=30))
    manual_clock.forget(first.app)
    await first.close()  # the process stops between tiers
    second = await start(receiver, owner="second", **settings)
    await manual_clock.advance(timedelta(seconds=29))
    assert len(receiver.requests) == 1  # the restart neither hurried nor repeated anything
    await manual_clock.advance(timedelta(seconds=1))
    assert len(receiver.requests) == 2  # tier 2 on time, 60 s after tier 1
    await manual_clock.advance(timedelta(minutes=5))
    assert len(receiver.requests) == 2
    assert receiver.requests[1].path == "/hook?tier=2"
    keys = [r.headers["X-Firebreak-Idempotency-Key"] for r in receiver.requests]
    assert len(set(keys)) == 2
    await second.close()


async def test_snooze_puts_off_the_next_tier(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(receiver, clock=manual_clock, tier2_after="60s", group_window="0s")
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(receiver.requests) == 1
    alert_id = receiver.json()["alerts"][0]["id"]
    resp = await client.post(
        f"/api/v1/alerts/{alert_id}/snooze", json={"for": "5m"}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    assert (await resp.json())["snoozed_until"] is not None
    await manual_clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert len(receiver.requests) == 1  # tier 2 was due at 60 s: put off by the snooze
    await manual_clock.advance(timedelta(seconds=1))
    assert len(receiver.requests) == 2
    bad = await client.post(
        f"/api/v1/alerts/{alert_id}/snooze", json={"for": "soon"}, headers=auth(RESPONDER_TOKEN)
    )
    assert bad.status == 400 and (await bad.json())["field"] == "for"


async def test_failing_channel_recovers_and_delivers_each_notification_once_in_order(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # Two 500s open the breaker; while it is open nothing is attempted; then it recovers.
    receiver.script(500, 500, Reply.timeout(3), 500, 500)
    client = await start(
        receiver,
        clock=manual_clock,
        tier2_after="1h",
        threshold=2,
        cooldown="1s",
        group_window="0s",
        timeout="1s",  # shorter than the third answer's 3 s
    )
    for i in range(3):
        await client.post("/webhook", json=webhook(alert(f"A{i}"), group_key=f"g{i}"), headers=HOOK)
    await manual_clock.advance(timedelta(minutes=1))
    assert len(receiver.requests[5:]) >= 3
    for i in range(3):
        await client.post(
            "/webhook",
            json=webhook(alert(f"A{i}", status="resolved"), group_key=f"g{i}"),
            headers=HOOK,
        )
    await manual_clock.advance(timedelta(minutes=1))
    assert len(bodies(receiver, "resolved")) == 3
    delivered = receiver.requests[5:]  # the scripted failures took the first five
    firing = Counter(
        r.headers["X-Firebreak-Idempotency-Key"]
        for r in delivered
        if receiver.json(receiver.requests.index(r))["kind"] == "firing"
    )
    assert sorted(firing.values()) == [1, 1, 1]
    # Per alert, firing before resolved.
    order: dict[str, list[str]] = {}
    for r in delivered:
        body = receiver.json(receiver.requests.index(r))
        order.setdefault(body["alerts"][0]["labels"]["alertname"], []).append(body["kind"])
    assert order == {f"A{i}": ["firing", "resolved"] for i in range(3)}
    # While open, the breaker spared the channel: attempts = scripted failures + deliveries.
    assert len(receiver.requests) == 5 + 6


async def test_rejected_notification_is_dead_lettered_and_an_admin_can_retry_it(
    receiver: WebhookReceiver, start: Any
) -> None:
    receiver.script(Reply(400, body=b"bad payload"))
    client = await start(receiver)
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)

    async def dead() -> list[Any]:
        resp = await client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
        return list((await resp.json())["jobs"])

    await eventually(lambda: _nonempty(dead()))
    (job,) = await dead()
    assert job["kind"] == "notify" and "bad payload" in job["last_error"]
    assert job["started_at"] is not None and job["started_at"] <= job["finished_at"]
    assert (
        await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(RESPONDER_TOKEN))
    ).status == 403
    retried = await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(ADMIN_TOKEN))
    assert retried.status == 200
    await eventually(lambda: len(receiver.requests) == 2)
    assert (
        receiver.requests[0].headers["X-Firebreak-Idempotency-Key"]
        == (receiver.requests[1].headers["X-Firebreak-Idempotency-Key"])
    )
    assert await dead() == []
    again = await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(ADMIN_TOKEN))
    assert again.status == 409
    metrics = await (await client.get("/metrics")).text()
    assert "firebreak_jobs_dead_lettered_total 1.0" in metrics


async def _nonempty(pending: Awaitable[list[Any]]) -> bool:
    return bool(await pending)


async def test_storm_is_grouped_rate_limited_and_digested_with_every_alert_accounted_for(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # 30 a minute with a burst of 3: three messages at once, then one every two seconds.
    client = await start(
        receiver, clock=manual_clock, tier2_after="1h", rate="30", burst=3, group_window="2s"
    )
    started = manual_clock.monotonic()
    for group in range(10):
        alerts = [alert(f"Storm{group}", labels={"pod": f"p{i}"}) for i in range(50)]
        resp = await client.post(
            "/webhook", json=webhook(*alerts, group_key=f"storm{group}"), headers=HOOK
        )
        assert resp.status == 200

    def accounted() -> int:
        """Alerts named in firing messages plus those a digest counted as held back."""
        return sum(len(b["alerts"]) for b in bodies(receiver, "firing")) + sum(
            b["suppressed"] for b in bodies(receiver, "digest")
        )

    while accounted() < 500:
        await manual_clock.advance(timedelta(seconds=1))
        assert manual_clock.monotonic() - started < 60, "not every alert accounted for"
    elapsed = manual_clock.monotonic() - started
    kinds = Counter(b["kind"] for b in bodies(receiver))
    assert kinds["digest"] >= 1
    # Never more than the bucket allowed: the burst, then one per two seconds.
    assert len(receiver.requests) <= 3 + int(elapsed / 2) + 1
    # One message per group: no group was split across firing messages.
    firing_groups = [b["group_key"] for b in bodies(receiver, "firing")]
    assert len(firing_groups) == len(set(firing_groups))
    await manual_clock.advance(timedelta(minutes=5))
    assert accounted() == 500  # and nothing counted twice


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_instances_on_one_database_never_send_twice(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    a = await start(receiver, owner="a", clock=manual_clock, group_window="0s")
    b = await start(receiver, owner="b", clock=manual_clock, group_window="0s")
    posts = [
        (a if i % 2 else b).post(
            "/webhook", json=webhook(alert(f"X{i}"), group_key=f"x{i}"), headers=HOOK
        )
        for i in range(40)
    ]
    assert {r.status for r in await asyncio.gather(*posts)} == {200}
    # An HA pair: both instances also receive every group once more.
    again = [
        (b if i % 2 else a).post(
            "/webhook", json=webhook(alert(f"X{i}"), group_key=f"x{i}"), headers=HOOK
        )
        for i in range(40)
    ]
    assert {r.status for r in await asyncio.gather(*again)} == {200}
    await manual_clock.settle(within=20)  # nothing left to run in either instance
    keys = Counter(r.headers["X-Firebreak-Idempotency-Key"] for r in receiver.requests)
    assert len(keys) == 40
    assert set(keys.values()) == {1}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_send_longer_than_the_lease_is_not_taken_over_while_it_runs(
    receiver: WebhookReceiver, start: Any
) -> None:
    # The channel answers after 5 s, two and a half leases: the runner sending renews its
    # lease (every third of one), so neither it nor the other instance claims the job again
    # and sends a second time. A lease of 2 s, not 1: on a busy machine a renewal a second
    # late let the other instance take a 1 s lease over (as it should, once it has run out).
    receiver.script(Reply(200, delay=5.0))
    a = await start(receiver, owner="a", timeout="10s", lease="2s")
    b = await start(receiver, owner="b", timeout="10s", lease="2s")
    resp = await a.post("/webhook", json=webhook(alert("Slow")), headers=HOOK)
    assert resp.status == 200

    async def sent() -> bool:
        resp = await b.get("/api/v1/jobs?kind=notify", headers=auth(VIEWER_TOKEN))
        return [(j["state"], j["outcome"]) for j in (await resp.json())["jobs"]] == [
            ("done", "sent")
        ]

    await eventually(sent, within=15, client=b)
    assert len(receiver.requests) == 1
    resp = await b.get("/api/v1/jobs?kind=notify", headers=auth(VIEWER_TOKEN))
    (job,) = (await resp.json())["jobs"]
    assert job["attempts"] == 0 and job["last_error"] is None


async def test_an_outage_longer_than_max_attempts_probes_dead_letters_nothing(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    # One job, so it is the half-open probe every time: ten failed probes, and max_attempts
    # is 6. Only failures while the breaker stays closed may spend attempts.
    receiver.script(*[503] * 10)
    client = await start(
        receiver, clock=manual_clock, tier2_after="1h", threshold=1, cooldown="200ms"
    )
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.advance(timedelta(minutes=1))
    assert len(receiver.requests) == 11
    resp = await client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
    assert (await resp.json())["jobs"] == []
    assert len({r.headers["X-Firebreak-Idempotency-Key"] for r in receiver.requests}) == 1
    await manual_clock.advance(timedelta(minutes=10))
    assert len(receiver.requests) == 11  # delivered once, not again


async def test_notifications_claimed_together_read_their_alerts_in_one_query(
    receiver: WebhookReceiver, aiohttp_client: Any, db_url: str, make_config: Any
) -> None:
    """The many small notification jobs do not each read their alert: the runner reads the
    alerts of all those it claims in a turn at once, and each goes out with its own."""
    config = make_config(
        db_url,
        f"""
channels:
  hook: {{type: webhook, webhook: {{url: "{receiver.url}", timeout: 5s}}}}
escalation_policies:
  later: {{tiers: [{{after: 1h, notify: [hook]}}]}}
routes: [{{name: all, escalation_policy: later}}]
notifications: {{group_window: 0s}}
jobs: {{workers: 4}}
""",
    )
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    names = [f"Alert{i}" for i in range(8)]
    started = datetime.now(UTC).isoformat()  # the policy's first tier is an hour from now
    for name in names:
        resp = await client.post(
            "/webhook", json=webhook(alert(name, starts_at=started)), headers=HOOK
        )
        assert resp.status == 200

    async def routed() -> bool:
        return await waiting_jobs(client, "route") == 0

    await eventually(routed)
    store = client.app[STORE]
    async with store.connection() as conn:
        rows = (await conn.execute(select(tables.alerts.c.id, tables.alerts.c.labels))).all()
    ids = {row.labels["alertname"]: row.id for row in rows}
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "annotations" in statement:
            reads.append(statement)

    # Every engine's: the reads run in the runner's turn, on SQLite on the writer's own one.
    event.listen(Engine, "before_cursor_execute", count)
    now = datetime.now(UTC)
    jobs = [
        NewJob(
            kind="notify",
            payload={
                "notice": "firing",
                "alert_ids": [ids[name]],
                "channel": "hook",
                "target": "",
                "group_key": name,
            },
            due_at=now,
            idempotency_key=f"test:{name}",
        )
        for name in names
    ]
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, jobs, now)
    client.app[RUNNER].wake()
    await eventually(lambda: len(receiver.requests) >= len(names), client=client)
    event.remove(Engine, "before_cursor_execute", count)
    sent = sorted(b["alerts"][0]["labels"]["alertname"] for b in bodies(receiver))
    assert sent == names  # each notification carries its own alert, once
    # Four workers: the first turn claims four jobs with one read; the other four follow in
    # at most four more turns. One read per job would be eight.
    assert 1 <= len(reads) < len(names)


async def test_an_alert_is_routed_and_its_notification_claimed_in_one_turn(
    receiver: WebhookReceiver, start: Any
) -> None:
    """Routing runs in the runner's loop, not a task of its own: the turn that records the
    route job claims, in the same transaction, the notification the route enqueued."""
    client = await start(receiver)
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await eventually(lambda: len(receiver.requests) == 1)
    async with client.app[STORE].connection() as conn:
        rows = {
            row.kind: row
            for row in await conn.execute(
                select(
                    tables.jobs.c.kind, tables.jobs.c.started_at, tables.jobs.c.finished_at
                ).where(tables.jobs.c.kind.in_(("route", "notify")))
            )
        }
    route, notify = rows["route"], rows["notify"]
    assert route.started_at <= route.finished_at == notify.started_at


async def test_a_route_job_reads_its_alerts_in_the_turn_that_claims_it(
    receiver: WebhookReceiver, start: Any
) -> None:
    """The route job runs in the runner's loop on its alerts' states read in the transaction
    that claimed it (one read for every route job the turn claims), not by a read of its own
    through the async driver once the turn is over."""
    client = await start(receiver)
    # What each database connection ran, in order, its commits included.
    ran: dict[int, list[str]] = {}

    def statement(conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        ran.setdefault(id(conn.connection.dbapi_connection), []).append(" ".join(text.split()))

    def commit(conn: Any) -> None:
        ran.setdefault(id(conn.connection.dbapi_connection), []).append("COMMIT")

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    try:
        resp = await client.post("/webhook", json=webhook(alert("A"), alert("B")), headers=HOOK)
        assert resp.status == 200
        await eventually(lambda: len(receiver.requests) == 1)
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "commit", commit)
    states = "SELECT alerts.id, alerts.status, alerts.acknowledged_at"
    reads = []
    for statements in ran.values():
        for at, text in enumerate(statements):
            if text.startswith(states) and "alerts.labels" in text:
                since = statements[:at]
                last_commit = max((i for i, s in enumerate(since) if s == "COMMIT"), default=-1)
                reads.append(since[last_commit + 1 :])
    assert len(reads) == 1, reads
    # In the same transaction as the claim that leased the route job.
    assert any(s.startswith("UPDATE jobs SET state=") and "RETURNING" in s for s in reads[0])


async def test_a_notice_joins_the_digest_waiting_for_its_channel_rather_than_take_its_token(
    receiver: WebhookReceiver, start: Any, manual_clock: ManualClock
) -> None:
    """What the rate limit held back goes out first: a notice claimed in the same turn as the
    digest waiting for its channel and target (as under a steady stream of alerts, where one is
    always due) joins the digest rather than taking the token it waited for, which would send
    the digest round to wait for the next one, and again."""
    # 30 a minute, a burst of 1: a token every two seconds.
    client = await start(receiver, clock=manual_clock, tier2_after="1h", rate="30", burst=1)
    for name in ("A", "B"):
        resp = await client.post(
            "/webhook", json=webhook(alert(name), group_key=name), headers=HOOK
        )
        assert resp.status == 200
        await manual_clock.settle()
    assert [b["kind"] for b in bodies(receiver)] == ["firing"]  # A's took the token
    store = client.app[STORE]
    async with store.connection() as conn:
        (digest,) = await store.jobs.list_jobs(conn, None, "digest", 10, None)  # B's, held
        rows = await conn.execute(select(tables.alerts.c.id, tables.alerts.c.alertname))
        ids = {name: alert_id for alert_id, name in rows}
    # Another notice to the same channel and target, due with the digest: claimed together.
    again = NewJob(
        kind="notify",
        payload={
            "notice": "firing",
            "alert_ids": [ids["A"]],
            "channel": "hook",
            "target": "",
            "group_key": "A-again",
        },
        due_at=digest.due_at,
        idempotency_key="test:A-again",
    )
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, [again], manual_clock())
    await manual_clock.advance(timedelta(seconds=2))
    sent = [(b["kind"], [a["labels"]["alertname"] for a in b["alerts"]]) for b in bodies(receiver)]
    assert sent == [("firing", ["A"]), ("digest", ["B"])]
    await manual_clock.advance(timedelta(seconds=2))
    sent = [(b["kind"], [a["labels"]["alertname"] for a in b["alerts"]]) for b in bodies(receiver)]
    assert sent == [("firing", ["A"]), ("digest", ["B"]), ("digest", ["A"])]
    async with store.connection() as conn:
        claims = (
            await conn.execute(select(tables.jobs.c.claims).where(tables.jobs.c.id == digest.id))
        ).scalar_one()
    assert claims == 2  # taken as B's notice, held back; taken as the digest, sent
