"""The reports against figures worked out by hand on one fixed data set (``tests/report_data.py``
describes it, alert by alert), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.cases import by_first, each_case
from tests.conftest import STORES, VIEWER_TOKEN, auth
from tests.report_data import READS_THE_DATA_SET, served_data_set

VIEW = auth(VIEWER_TOKEN)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STORES)
async def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_schema: Path
) -> AsyncIterator[Any]:
    """The application with the data set in its store, the clock at 12:00: built once for the
    module's tests, which only read it (``READS_THE_DATA_SET``)."""
    where = tmp_path_factory.mktemp("reports")
    async with served_data_set(request.param, where, sqlite_schema) as client:
        yield client


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


@READS_THE_DATA_SET
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


@READS_THE_DATA_SET
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


@READS_THE_DATA_SET
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


@READS_THE_DATA_SET
async def test_noise_lists_the_noisiest_alerts_with_suggestions(reports: Any) -> None:
    body = await get(reports, "/api/v1/reports/noise?since=1d")
    assert body["flap_window_seconds"] == 3600 and body["inhibit_equal"] == ["service"]
    assert body["total_alertnames"] == 9
    assert body["alerts"] == NOISE


@READS_THE_DATA_SET
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


@READS_THE_DATA_SET
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


@READS_THE_DATA_SET
async def test_an_empty_window_has_no_figures(reports: Any) -> None:
    window = "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z"
    response = await get(reports, f"/api/v1/reports/response?{window}")
    assert response["groups"] == []
    assert response["overall"] == figures(0, 0, 0, 0, NONE, NONE, 0, 0, None)
    noise = await get(reports, f"/api/v1/reports/noise?{window}")
    assert (noise["alerts"], noise["total_alertnames"]) == ([], 0)
    runbooks = await get(reports, f"/api/v1/reports/runbooks?{window}")
    assert (runbooks["runbooks"], runbooks["time_saved_seconds"]) == ([], 0)


BAD_PARAMETERS = [
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
]


async def test_bad_parameters_are_400_naming_the_field(client: Any) -> None:
    async def check(case: tuple[str, str]) -> None:
        query, field = case
        resp = await client.get(f"/api/v1/reports/{query}", headers=VIEW)
        assert resp.status == 400
        body = await resp.json()
        assert body["field"] == field and body["error"].startswith(f"{field}: expected"), body

    await each_case(by_first(BAD_PARAMETERS), check)


@pytest.mark.parametrize("report", ["response", "noise", "runbooks"])
async def test_reports_need_a_token_and_a_viewer_may_read(client: Any, report: str) -> None:
    assert (await client.get(f"/api/v1/reports/{report}")).status == 401
    resp = await client.get(f"/api/v1/reports/{report}", headers=auth("not-a-token"))
    assert resp.status == 401
    assert (await client.get(f"/api/v1/reports/{report}", headers=VIEW)).status == 200
