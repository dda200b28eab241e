"""The reports against figures worked out by hand on one fixed data set, on SQLite and
PostgreSQL.

The data set is built through the public paths: Alertmanager webhooks with fixed startsAt and
endsAt, acknowledgements and a resolve through the API at times set on a controllable clock,
and routing and paging done by the job runner. Runbook executions are inserted as rows: the
executor stamps them with the time it runs them, which cannot lie in the past.

Every alert, 2026-11-23 unless said, times UTC (ack and end relative to the start):

route database-oncall (team=db, pages at once)
  D1  DiskFull{instance=db1}   critical  08:00  acked 08:02 (120s)  ended 08:30 (1800s)
  D2  DiskFull{instance=db2}   critical  09:00  acked 09:10 (600s)  ended 10:00 (3600s)
  D3  SlowQuery                warning   10:00  never acked          still firing
  R2  HighErrorRate            critical  11:00  acked 11:05 (300s)  ended 11:40 (2400s)
  old DiskFull{instance=db1}   critical  2026-11-20 08:00-09:00 (outside every window)
route web-oncall (team=web, pages at once)
  W1  HighLatency              critical  08:00  acked 08:04 (240s)  resolved by hand 08:20 (1200s)
route low-urgency (team=quiet, first tier after 12h: never paged here); all arrive resolved
  R1  HighErrorRate            critical  10:00-10:05 (300s)
  U   Upstream{service=api}    warning   09:00, still firing
  A1  ApiErrors{service=api,instance=a}  warning  09:05-09:15 (600s)  (Upstream firing)
  A2  ApiErrors{service=api,instance=b}  warning  09:20-09:25 (300s)  (Upstream firing)
  Q1  QueueLag{instance=a}     warning   08:00-09:30 (5400s)
  Q2  QueueLag{instance=b}     warning   10:00-11:30 (5400s)
  B1  Blip{instance=a}         warning   08:10-08:12 (120s)
  B2  Blip{instance=b}         warning   11:00-11:04 (240s)
  F   Flappy (one fingerprint) warning   09:00-09:03 (180s), 09:10-09:12 (120s), 09:30-09:31 (60s)

The clock stands at 12:00 when the reports are read; ``since=1d`` covers all but the old alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select

from receiver.app import create_app
from receiver.store import tables
from receiver.typedefs import STORE
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
VIEW = auth(VIEWER_TOKEN)
DAY = "2026-11-23"

CONFIG = """
escalation_policies:
  now: {tiers: [{after: 0s, notify: [log]}]}
  later: {tiers: [{after: 12h, notify: [log]}]}
routes:
  - {name: database-oncall, match: ['team="db"'], escalation_policy: now}
  - {name: web-oncall, match: ['team="web"'], escalation_policy: now}
  - {name: low-urgency, match: ['team="quiet"'], escalation_policy: later}
notifications: {group_window: 100ms}
jobs: {workers: 2, lease: 5s, poll_interval: 100ms}
"""


class Clock:
    def __init__(self) -> None:
        self.now = at("12:00")

    def __call__(self) -> datetime:
        return self.now


def at(hhmm: str, day: str = DAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def rfc(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00Z"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class DataSet:
    """Posts the alerts above and acts on them at the times they say."""

    def __init__(self, client: Any, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.ids: dict[str, int] = {}
        self._payloads: dict[str, dict[str, Any]] = {}

    async def _exists(self, column: Any, alert_id: int) -> bool:
        async with self.client.app[STORE].connection() as conn:
            found = await conn.execute(select(func.count()).where(column == alert_id))
            return int(found.scalar_one()) > 0

    async def _send(self, payload: dict[str, Any]) -> None:
        group = f'{{}}:{{alertname="{payload["labels"]["alertname"]}"}}'
        resp = await self.client.post(
            "/webhook", json=webhook(payload, group_key=group), headers=HOOK
        )
        assert resp.status == 200, await resp.text()

    async def post(
        self,
        key: str,
        name: str,
        start: str,
        *,
        end: str | None = None,
        labels: dict[str, str],
        day: str = DAY,
    ) -> None:
        """One occurrence, firing (and paged where its route pages) or already resolved;
        waits until the job runner has routed it and sent its page."""
        firing = end is None
        payload = alert(
            name,
            status="firing" if firing else "resolved",
            starts_at=rfc(start, day),
            ends_at=None if end is None else rfc(end, day),
            labels=labels,
        )
        await self._send(payload)
        found = await self.client.app[STORE].find_occurrence(payload["fingerprint"], at(start, day))
        assert found is not None
        self.ids[key] = found
        self._payloads[key] = payload
        await eventually(lambda: self._exists(tables.alert_routes.c.alert_id, found))
        if firing and labels["team"] in ("db", "web"):
            await eventually(lambda: self._exists(tables.notifications.c.alert_id, found))

    async def end(self, key: str, end: str) -> None:
        """Alertmanager says the occurrence ended at ``end``."""
        self.clock.now = at(end)
        await self._send(dict(self._payloads[key], status="resolved", endsAt=rfc(end)))

    async def act(self, key: str, action: str, hhmm: str) -> None:
        """A responder acknowledges or resolves it through the API at ``hhmm``."""
        self.clock.now = at(hhmm)
        resp = await self.client.post(
            f"/api/v1/alerts/{self.ids[key]}/{action}", headers=auth(RESPONDER_TOKEN)
        )
        assert resp.status == 200, await resp.text()

    async def execution(
        self,
        runbook: str,
        state: str,
        created: str,
        finished: str | None,
        *,
        trigger: str = "auto",
        alert_key: str | None = None,
        dry_run: bool = False,
        day: str = DAY,
    ) -> None:
        created_at = datetime.fromisoformat(f"{day}T{created}+00:00")
        finished_at = datetime.fromisoformat(f"{day}T{finished}+00:00") if finished else None
        async with self.client.app[STORE].transaction() as conn:
            await conn.execute(
                insert(tables.executions).values(
                    runbook=runbook,
                    alert_id=self.ids[alert_key] if alert_key else None,
                    trigger=trigger,
                    dry_run=dry_run,
                    state=state,
                    actor="firebreak" if trigger == "auto" else "api:bob",
                    params={},
                    trigger_context={},
                    start_key=f"{runbook}:{created}:{day}:{trigger}:{dry_run}",
                    phase="run",
                    position=0,
                    created_at=created_at,
                    updated_at=finished_at or created_at,
                    finished_at=finished_at,
                )
            )


def team(name: str, **more: str) -> dict[str, str]:
    return {"team": name, **more}


@pytest.fixture
async def reports(aiohttp_client: Any, db_url: str, make_config: Any) -> Any:
    """The application with the data set in its store, the clock at 12:00."""
    clock = Clock()
    app = create_app(make_config(db_url, CONFIG), clock=clock, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    data = DataSet(client, clock)
    db = team("db", service="disk")

    await data.post(
        "old", "DiskFull", "08:00", end="09:00", labels={**db, "instance": "db1"}, day="2026-11-20"
    )
    clock.now = at("08:00")
    await data.post("D1", "DiskFull", "08:00", labels={**db, "instance": "db1"})
    await data.post("W1", "HighLatency", "08:00", labels=team("web", service="web"))
    await data.act("D1", "acknowledge", "08:02")
    await data.act("W1", "acknowledge", "08:04")
    await data.act("W1", "resolve", "08:20")
    await data.end("D1", "08:30")
    clock.now = at("09:00")
    await data.post("D2", "DiskFull", "09:00", labels={**db, "instance": "db2"})
    await data.act("D2", "acknowledge", "09:10")
    await data.end("D2", "10:00")
    clock.now = at("10:00")
    await data.post(
        "D3", "SlowQuery", "10:00", labels=team("db", service="sql", severity="warning")
    )
    clock.now = at("11:00")
    await data.post("R2", "HighErrorRate", "11:00", labels=team("db", service="checkout"))
    await data.act("R2", "acknowledge", "11:05")
    await data.end("R2", "11:40")

    clock.now = at("12:00")
    quiet = team("quiet", severity="warning")
    await data.post(
        "R1", "HighErrorRate", "10:00", end="10:05", labels=team("quiet", service="checkout")
    )
    await data.post("U", "Upstream", "09:00", labels={**quiet, "service": "api"})
    api = {**quiet, "service": "api"}
    await data.post("A1", "ApiErrors", "09:05", end="09:15", labels={**api, "instance": "a"})
    await data.post("A2", "ApiErrors", "09:20", end="09:25", labels={**api, "instance": "b"})
    queue = {**quiet, "service": "queue"}
    await data.post("Q1", "QueueLag", "08:00", end="09:30", labels={**queue, "instance": "a"})
    await data.post("Q2", "QueueLag", "10:00", end="11:30", labels={**queue, "instance": "b"})
    blip = {**quiet, "service": "blip"}
    await data.post("B1", "Blip", "08:10", end="08:12", labels={**blip, "instance": "a"})
    await data.post("B2", "Blip", "11:00", end="11:04", labels={**blip, "instance": "b"})
    flappy = {**quiet, "service": "flappy"}
    await data.post("F1", "Flappy", "09:00", end="09:03", labels=flappy)
    await data.post("F2", "Flappy", "09:10", end="09:12", labels=flappy)
    await data.post("F3", "Flappy", "09:30", end="09:31", labels=flappy)

    await data.execution("restart-service", "succeeded", "10:01:00", "10:03:00", alert_key="R1")
    await data.execution("restart-service", "failed", "11:01:00", "11:02:00", alert_key="R2")
    await data.execution("restart-service", "cancelled", "11:30:00", "11:31:00", trigger="manual")
    await data.execution("clear-cache", "succeeded", "09:00:00", "09:00:30", trigger="manual")
    await data.execution("clear-cache", "succeeded", "08:10:30", "08:11:00", alert_key="B1")
    await data.execution("clear-cache", "running", "11:50:00", None)
    await data.execution("clear-cache", "succeeded", "11:51:00", "11:52:00", trigger="drill")
    await data.execution("clear-cache", "succeeded", "11:53:00", "11:54:00", dry_run=True)
    await data.execution("clear-cache", "failed", "08:00:00", "08:01:00", day="2026-11-20")
    return client


async def get(client: Any, path: str, headers: dict[str, str] = VIEW) -> Any:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def durations(count: int, mean: float | None, median: float | None, p90: float | None) -> Any:
    return {"count": count, "mean_seconds": mean, "median_seconds": median, "p90_seconds": p90}


NONE = durations(0, None, None, None)


def figures(
    alerts: int,
    paged: int,
    acknowledged: int,
    resolved: int,
    mtta: Any,
    mttr: Any,
    eligible: int,
    within: int,
    share: float | None,
) -> dict[str, Any]:
    return {
        "alerts": alerts,
        "paged": paged,
        "acknowledged": acknowledged,
        "resolved": resolved,
        "mtta": mtta,
        "mttr": mttr,
        "ack_target_eligible": eligible,
        "ack_within_target": within,
        "ack_within_target_share": share,
    }


# database-oncall, critical: D1, D2, R2.
#   MTTA over 120, 600, 300: mean 1020/3 = 340, median 300, p90 = rank ceil(0.9*3) = 3rd = 600
#   MTTR over 1800, 3600, 2400: mean 7800/3 = 2600, median 2400, p90 3600
#   within 5m (300s): 120 and 300, not 600 -> 2 of 3 paged = 0.6667
DB_CRITICAL = figures(
    3,
    3,
    3,
    3,
    durations(3, 340.0, 300.0, 600.0),
    durations(3, 2600.0, 2400.0, 3600.0),
    3,
    2,
    0.6667,
)
# database-oncall, warning: D3, paged, nobody acknowledged it yet -> 0 of 1
DB_WARNING = figures(1, 1, 0, 0, NONE, NONE, 1, 0, 0.0)
# low-urgency, critical: R1 ended after 300s, never paged nor acknowledged: no share
QUIET_CRITICAL = figures(1, 0, 0, 1, NONE, durations(1, 300.0, 300.0, 300.0), 0, 0, None)
# low-urgency, warning: 10 occurrences, Upstream still firing; MTTR over the 9 that ended,
#   sorted 60 120 120 180 240 300 600 5400 5400: sum 12420, mean 1380, median (5th) 240,
#   p90 = rank ceil(8.1) = 9th = 5400
QUIET_WARNING = figures(10, 0, 0, 9, NONE, durations(9, 1380.0, 240.0, 5400.0), 0, 0, None)
# web-oncall, critical: W1 acknowledged after 240s, resolved by hand after 1200s
WEB_CRITICAL = figures(
    1, 1, 1, 1, durations(1, 240.0, 240.0, 240.0), durations(1, 1200.0, 1200.0, 1200.0), 1, 1, 1.0
)
# Overall, 16 occurrences (the old one is outside the window):
#   paged D1 D2 D3 R2 W1 = 5; MTTA over 120 240 300 600: mean 1260/4 = 315,
#   median (240+300)/2 = 270, p90 = rank ceil(3.6) = 4th = 600; within 5m: 3 of 5 = 0.6
#   MTTR over 14: 60 120 120 180 240 300 300 600 1200 1800 2400 3600 5400 5400, sum 21720,
#   mean 21720/14 = 1551.4286, median (300+600)/2 = 450, p90 = rank ceil(12.6) = 13th = 5400
OVERALL = figures(
    16,
    5,
    4,
    14,
    durations(4, 315.0, 270.0, 600.0),
    durations(14, 1551.429, 450.0, 5400.0),
    5,
    3,
    0.6,
)


async def test_response_by_route_and_severity_matches_the_hand_figures(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/response?since=1d")
    assert body["window"] == {"since": "2026-11-22T12:00:00Z", "until": "2026-11-23T12:00:00Z"}
    assert body["by"] == "route" and body["ack_target_seconds"] == 300
    assert body["groups"] == [
        {"group": "database-oncall", "severity": "critical", **DB_CRITICAL},
        {"group": "database-oncall", "severity": "warning", **DB_WARNING},
        {"group": "low-urgency", "severity": "critical", **QUIET_CRITICAL},
        {"group": "low-urgency", "severity": "warning", **QUIET_WARNING},
        {"group": "web-oncall", "severity": "critical", **WEB_CRITICAL},
    ]
    assert body["overall"] == OVERALL


async def test_response_by_team_label_with_another_target(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/response?since=1d&by=label:team&ack_target=10m")
    assert body["by"] == "label:team" and body["ack_target_seconds"] == 600
    assert [(g["group"], g["severity"]) for g in body["groups"]] == [
        ("db", "critical"),
        ("db", "warning"),
        ("quiet", "critical"),
        ("quiet", "warning"),
        ("web", "critical"),
    ]
    # Within 10m: 120, 300 and 600 -> 3 of 3 for db critical; overall 4 of 5 = 0.8
    db = body["groups"][0]
    assert (db["ack_within_target"], db["ack_within_target_share"]) == (3, 1.0)
    overall = body["overall"]
    assert (overall["ack_within_target"], overall["ack_within_target_share"]) == (4, 0.8)


async def test_response_until_cuts_the_window(reports: Any) -> None:
    # 08:00 to 09:00 holds D1, W1, Q1 and B1; Q1 and B1 ended by themselves unpaged.
    # MTTR over 1800 1200 5400 120: mean 8520/4 = 2130, median (1200+1800)/2 = 1500, p90 5400
    body = await get(
        reports, "/api/v1/reports/response?since=2026-11-23T08:00:00Z&until=2026-11-23T09:00:00Z"
    )
    overall = body["overall"]
    assert (overall["alerts"], overall["paged"], overall["acknowledged"]) == (4, 2, 2)
    assert overall["mttr"] == durations(4, 2130.0, 1500.0, 5400.0)
    # MTTA over 120 and 240, both within 5m
    assert overall["mtta"] == durations(2, 180.0, 180.0, 240.0)
    assert overall["ack_within_target_share"] == 1.0


def item(
    alertname: str,
    severities: list[str],
    counts: tuple[int, int, int, int, int, int, int, int],
    cofiring_with: str | None,
    median: float | None,
    suggestion: tuple[str | None, str, str],
) -> dict[str, Any]:
    names = (
        "occurrences fingerprints flapping auto_resolved never_acted_on paged still_firing cofiring"
    )
    action, text, reason = suggestion
    return {
        "alertname": alertname,
        "severities": severities,
        **dict(zip(names.split(), counts, strict=True)),
        "cofiring_with": cofiring_with,
        "median_duration_seconds": median,
        "suggestion": {"action": action, "text": text, "reason": reason},
    }


RAISE_FOR = "raise `for:` on the alerting rule so short blips do not fire"
NOTHING = (None, "no change suggested", "")
#                            occ  fps flap auto never paged firing cofiring
NOISE = [
    # Fired again 7m and 18m after the previous one ended: 2 flaps of 3 (>= 25%, >= 2).
    # Durations 180 120 60: median 120.
    item(
        "Flappy",
        ["warning"],
        (3, 1, 2, 3, 3, 0, 0, 0),
        None,
        120.0,
        (
            "raise_for",
            "raise `for:` (or set `keep_firing_for:`) on the alerting rule",
            "2 of 3 occurrences fired again within 1h of the previous one resolving",
        ),
    ),
    # Both started while Upstream (same service=api) was firing: 2 of 2 (>= 50%).
    # Durations 600 300: median 450.
    item(
        "ApiErrors",
        ["warning"],
        (2, 2, 0, 2, 2, 0, 0, 2),
        "Upstream",
        450.0,
        (
            "add_inhibition",
            "add an inhibition rule: Upstream inhibits ApiErrors, equal: [service]",
            "2 of 2 occurrences started while another alert, most often Upstream, was "
            "already firing with the same service",
        ),
    ),
    # Both ended by themselves after 120 and 240s: median 180s = 3m <= 10m.
    item(
        "Blip",
        ["warning"],
        (2, 2, 0, 2, 2, 0, 0, 0),
        None,
        180.0,
        (
            "raise_for",
            RAISE_FOR,
            "2 of 2 occurrences resolved by themselves after a median of 3m, with nobody acting",
        ),
    ),
    # Both acknowledged: nothing to suggest. Durations 1800 3600: median 2700.
    item("DiskFull", ["critical"], (2, 2, 0, 0, 0, 2, 0, 0), None, 2700.0, NOTHING),
    # R1 ended by itself (its runbook ran automatically, not a person), R2 was acknowledged:
    # 1 of 2 is no pattern. Durations 300 2400: median 1350.
    item("HighErrorRate", ["critical"], (2, 2, 0, 1, 1, 1, 0, 0), None, 1350.0, NOTHING),
    # Nobody acted on 2 of 2 (>= 80%); they lasted 90m each, too long for `for:` to help.
    item(
        "QueueLag",
        ["warning"],
        (2, 2, 0, 2, 2, 0, 0, 0),
        None,
        5400.0,
        (
            "tune_threshold",
            "tune the threshold, or send it as a ticket rather than a page",
            "nobody acted on 2 of 2 occurrences",
        ),
    ),
    item("HighLatency", ["critical"], (1, 1, 0, 0, 0, 1, 0, 0), None, 1200.0, NOTHING),
    item("SlowQuery", ["warning"], (1, 1, 0, 0, 1, 1, 1, 0), None, None, NOTHING),
    item("Upstream", ["warning"], (1, 1, 0, 0, 1, 0, 1, 0), None, None, NOTHING),
]


async def test_noise_lists_the_noisiest_alerts_with_suggestions(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/noise?since=1d")
    assert body["flap_window_seconds"] == 3600 and body["inhibit_equal"] == ["service"]
    assert body["total_alertnames"] == 9
    assert body["alerts"] == NOISE


async def test_noise_with_a_shorter_flap_window_and_a_limit(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/noise?since=1d&flap_window=5m&limit=2")
    assert body["total_alertnames"] == 9
    flappy, api_errors = body["alerts"]
    assert api_errors == NOISE[1]
    # Gaps of 7m and 18m are no flaps within 5m; all 3 ended by themselves, median 120s = 2m.
    assert flappy["flapping"] == 0
    assert flappy["suggestion"] == {
        "action": "raise_for",
        "text": RAISE_FOR,
        "reason": "3 of 3 occurrences resolved by themselves after a median of 2m, "
        "with nobody acting",
    }


async def test_runbooks_outcomes_and_time_saved(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/runbooks?since=1d")
    assert body["runbooks"] == [
        # Manual success (30s), automatic success for B1 (30s), one still running; the drill,
        # the dry run and the run of 2026-11-20 are not counted. 2 of 2 ended succeeded.
        # B1 ended by itself unpaged after the run started, but no Blip was ever paged to
        # compare with: no time saved, 1 without a baseline.
        {
            "runbook": "clear-cache",
            "runs": 3,
            "automatic": 2,
            "succeeded": 2,
            "failed": 0,
            "rolled_back": 0,
            "cancelled": 0,
            "skipped": 0,
            "unfinished": 1,
            "success_ratio": 1.0,
            "median_run_seconds": 30.0,
            "resolved_without_page": 1,
            "time_saved_seconds": 0.0,
            "without_baseline": 1,
        },
        # Succeeded for R1, failed for R2, a manual run cancelled: 1 of (1 + 1) = 0.5.
        # Run times 120 60 60: median 60. R1 resolved unpaged in 300s; the paged
        # HighErrorRate (R2) took 2400s: 2400 - 300 = 2100s saved.
        {
            "runbook": "restart-service",
            "runs": 3,
            "automatic": 2,
            "succeeded": 1,
            "failed": 1,
            "rolled_back": 0,
            "cancelled": 1,
            "skipped": 0,
            "unfinished": 0,
            "success_ratio": 0.5,
            "median_run_seconds": 60.0,
            "resolved_without_page": 1,
            "time_saved_seconds": 2100.0,
            "without_baseline": 0,
        },
    ]
    assert body["time_saved_seconds"] == 2100.0


async def test_an_empty_window_has_no_figures(reports: Any) -> None:
    window = "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z"
    response = await get(reports, f"/api/v1/reports/response?{window}")
    assert response["groups"] == []
    assert response["overall"] == figures(0, 0, 0, 0, NONE, NONE, 0, 0, None)
    noise = await get(reports, f"/api/v1/reports/noise?{window}")
    assert (noise["alerts"], noise["total_alertnames"]) == ([], 0)
    runbooks = await get(reports, f"/api/v1/reports/runbooks?{window}")
    assert (runbooks["runbooks"], runbooks["time_saved_seconds"]) == ([], 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("response?since=yesterday", "since"),
        ("response?since=1d&until=2d", "since"),
        ("response?until=soon", "until"),
        ("response?since=99999y", "since"),
        ("response?ack_target=0s", "ack_target"),
        ("response?ack_target=8d", "ack_target"),
        ("response?by=team", "by"),
        ("response?by=label:a-b", "by"),
        ("noise?limit=0", "limit"),
        ("noise?limit=1001", "limit"),
        ("noise?flap_window=often", "flap_window"),
        ("noise?inhibit_equal=service,", "inhibit_equal"),
        ("runbooks?since=2026-13-01T00:00:00Z", "since"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(client: Any, query: str, field: str) -> None:
    resp = await client.get(f"/api/v1/reports/{query}", headers=VIEW)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == field and body["error"].startswith(f"{field}: expected"), body


@pytest.mark.parametrize("report", ["response", "noise", "runbooks"])
async def test_reports_need_a_token_and_a_viewer_may_read(client: Any, report: str) -> None:
    assert (await client.get(f"/api/v1/reports/{report}")).status == 401
    resp = await client.get(f"/api/v1/reports/{report}", headers=auth("not-a-token"))
    assert resp.status == 401
    assert (await client.get(f"/api/v1/reports/{report}", headers=VIEW)).status == 200
