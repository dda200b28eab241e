"""The Reports page: the figures of ``/api/v1/reports`` over the fixed data set of
``tests/report_data.py``, as ``tests/api/test_reports.py`` works them out by hand, read with
the API's parameters — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from tests.cases import by_first, each_case
from tests.conftest import STORES, VIEWER_TOKEN
from tests.console.conftest import Start, login
from tests.report_data import READS_THE_DATA_SET, served_data_set


class _Tables(HTMLParser):
    """Every table of a page: its rows as the text of their cells, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


Rows = dict[str, list[str]]


def tables(html: str) -> tuple[Rows, Rows, Rows]:
    """The response rows by ``"group severity"`` (and the overall row), the noisiest alerts
    by name and the runbooks by id: each row's other cells."""
    parser = _Tables()
    parser.feed(html)
    response, noise, runbooks = parser.tables[:3]  # the on-call tables follow
    return (
        # 9 figures after the group and severity, or after "Overall" spanning both
        {" ".join(cells[:-9]): cells[-9:] for cells in response if len(cells) >= 10},
        {cells[0]: cells[1:] for cells in noise},
        {cells[0]: cells[1:] for cells in runbooks},
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STORES)
async def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_schema: Path
) -> AsyncIterator[TestClient[Any, Any]]:
    """The data set served once for the module's tests, which only read it, logged in as a
    viewer."""
    where = tmp_path_factory.mktemp("reports")
    async with served_data_set(request.param, where, sqlite_schema) as client:
        await login(client, VIEWER_TOKEN)
        yield client


async def page(client: TestClient[Any, Any], query: str) -> tuple[Rows, Rows, Rows]:
    resp = await client.get(f"/console/reports?{query}")
    assert resp.status == 200, await resp.text()
    return tables(await resp.text())


async def test_the_page_needs_a_login_and_shows_an_empty_window(start: Start) -> None:
    client = await start()
    resp = await client.get("/console/reports?since=30d", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/console/login?next=/console/reports?since%3D30d"
    await login(client, VIEWER_TOKEN)
    resp = await client.get("/console/reports")
    assert resp.status == 200
    text = await resp.text()
    assert 'href="/console/reports" aria-current="page"' in text
    assert "No alert started in this window." in text and "No runbook ran in this window." in text
    response, noise, _ = tables(text)
    none = ["0", "0", "0", "—", "—", "0", "—", "—", "—"]
    assert response["Overall (each occurrence once)"] == none
    assert list(noise) == ["Alert", "No alert started in this window."]


@READS_THE_DATA_SET
async def test_a_viewer_reads_the_figures_worked_out_by_hand(
    reports: TestClient[Any, Any],
) -> None:
    found, noise, runbooks = await page(reports, "since=1d")
    #                  alerts paged | MTTA count median p90 | MTTR count median p90 | within 5m
    assert found["database-oncall critical"] == [
        *("3", "3"),
        *("3", "5m", "10m"),
        *("3", "40m", "1h"),
        "66.7% (2 of 3)",
    ]
    assert found["database-oncall warning"] == [
        *("1", "1"),
        *("0", "—", "—"),
        *("0", "—", "—"),
        "0% (0 of 1)",
    ]
    assert found["low-urgency critical"] == [*("1", "0"), *("0", "—", "—"), *("1", "5m", "5m"), "—"]
    assert found["Overall (each occurrence once)"] == [
        *("16", "5"),
        *("4", "4m 30s", "10m"),
        *("14", "7m 30s", "1h 30m"),
        "60% (3 of 5)",
    ]
    # occurrences, flapping, auto-resolved, never acted on, co-firing, median duration
    flappy = noise["Flappy"]
    assert flappy[1:7] == ["3", "2", "3", "3", "0", "2m"]
    assert "raise for: (or set keep_firing_for:) on the alerting rule" in flappy[7]
    assert "2 of 3 occurrences fired again within 1h of the previous one resolving" in flappy[7]
    assert noise["ApiErrors"][5] == "2 (Upstream)"
    assert "add an inhibition rule: Upstream inhibits ApiErrors" in noise["ApiErrors"][7]
    assert noise["DiskFull"][7] == "no change suggested"
    # runs, automatic, outcomes, success ratio, median run, resolved without a page, saved
    assert runbooks["restart-service"] == [
        *("3", "2", "1 succeeded 1 failed 1 cancelled"),
        *("50%", "1m", "1", "35m"),
    ]
    assert runbooks["clear-cache"] == [
        *("3", "2", "2 succeeded 1 unfinished"),
        *("100%", "30s", "1", "0s (1 no baseline)"),
    ]


@READS_THE_DATA_SET
async def test_the_form_takes_the_api_parameters_and_empty_fields_are_defaults(
    reports: TestClient[Any, Any],
) -> None:
    resp = await reports.get(
        "/console/reports",
        params={"since": "1d", "until": "", "by": "label:team", "ack_target": "10m", "limit": "2"},
    )
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    assert "Within 10m" in text and "2 of 9 alert names" in text
    found, noise, _ = tables(text)
    # Within 10m: 120, 300 and 600 -> 3 of 3 for db critical; overall 4 of 5
    assert found["db critical"][-1] == "100% (3 of 3)"
    assert found["Overall (each occurrence once)"][-1] == "80% (4 of 5)"
    assert list(noise)[1:] == ["Flappy", "ApiErrors"]  # after the header row
    assert 'name="ack_target" size="5" value="10m"' in text  # the form keeps what was asked


BAD_PARAMETERS = [
    ("since=yesterday", "since"),
    ("since=1d&until=2d", "since"),
    ("until=soon", "until"),
    ("ack_target=8d", "ack_target"),
    ("by=team", "by"),
    ("limit=0", "limit"),
    ("flap_window=often", "flap_window"),
]


async def test_a_bad_parameter_is_400_naming_it_above_the_form(start: Start) -> None:
    client = await start()
    await login(client, VIEWER_TOKEN)

    async def check(case: tuple[str, str]) -> None:
        query, field = case
        resp = await client.get(f"/console/reports?{query}")
        assert resp.status == 400 and resp.content_type == "text/html"
        text = await resp.text()
        assert f'<p class="problem" role="alert">{field}: expected' in text
        assert 'action="/console/reports"' in text and "Noisiest alerts" not in text

    await each_case(by_first(BAD_PARAMETERS), check)
