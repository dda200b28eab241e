"""Graphs drawn from a real Prometheus holding one known hour, and from Prometheus gone wrong.

The picture is checked as a user would see it: a PNG of the documented size that decodes, and
the pixels of the line that marks the alert's start where that moment falls on the time axis.
"""

from __future__ import annotations

import asyncio
import io
import urllib.parse
from datetime import timedelta

import aiohttp
import numpy
import pytest
from aiohttp import web
from PIL import Image

from receiver.graphs import Graph, Grapher, GraphUnavailable, NoGraph
from receiver.graphs.grapher import QUERIES_AT_ONCE
from receiver.graphs.render import DPI, HEIGHT_INCHES, WIDTH_INCHES
from tests.conftest import eventually
from tests.graphs.conftest import (
    HOUR_END,
    HOUR_START,
    JUMP,
    MANY,
    ScriptedPrometheus,
    graphs_config,
    unused_url,
)

pytestmark = pytest.mark.e2e

ALERT = {"alertname": "HighErrorRatio", "instance": "b", "job": "api", "severity": "page"}


def generator(expression: str, host: str = "http://prometheus.internal:9090") -> str:
    return f"{host}/graph?g0.expr={urllib.parse.quote(expression, safe='')}&g0.tab=1"


async def draw(grapher: Grapher, expression: str, **kwargs: object) -> Graph:
    return await grapher.graph(
        kwargs.pop("url", generator(expression)),
        labels=kwargs.pop("labels", ALERT),  # type: ignore[arg-type]
        starts_at=kwargs.pop("starts_at", JUMP),  # type: ignore[arg-type]
        now=HOUR_END,
    )


def image(graph: Graph) -> Image.Image:
    picture = Image.open(io.BytesIO(graph.png))
    picture.load()
    return picture


def red_columns(picture: Image.Image) -> list[int]:
    """The x of each pixel column holding the start marker's red in at least 20 pixels."""
    rgb = numpy.asarray(picture.convert("RGB")).astype(int)
    red = (rgb[:, :, 0] > 180) & (rgb[:, :, 1] < 90) & (rgb[:, :, 2] < 90)
    return [int(x) for x in numpy.flatnonzero(red.sum(axis=0) >= 20)]


async def test_the_hour_of_an_expression_is_drawn_with_the_alerts_start_marked(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    graph = await draw(grapher, 'errors_ratio{job="api"} > 0.005')
    assert (graph.start, graph.end) == (HOUR_START, HOUR_END)
    assert (graph.expression, graph.series, graph.omitted) == (
        'errors_ratio{job="api"} > 0.005',
        2,
        0,
    )
    picture = image(graph)
    assert picture.format == "PNG"
    assert picture.size == (int(WIDTH_INCHES * DPI), int(HEIGHT_INCHES * DPI))
    assert len(graph.png) < graph_limit()
    # The marker stands two thirds of the way along the plot (40 minutes of 60): one column,
    # right of the middle of the picture.
    columns = red_columns(picture)
    assert columns, "no start marker drawn"
    assert picture.size[0] * 0.55 < sum(columns) / len(columns) < picture.size[0] * 0.85


def graph_limit() -> int:
    return graphs_config("http://p").max_image_bytes


async def test_the_same_data_draws_the_same_picture(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    first = await draw(grapher, "errors_ratio")
    again = await draw(grapher, "errors_ratio")
    assert first.png == again.png


async def test_an_alert_that_started_before_the_range_is_said_to_have(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    inside = await draw(grapher, "errors_ratio", starts_at=JUMP)
    before = await draw(grapher, "errors_ratio", starts_at=HOUR_START - timedelta(hours=3))
    assert not red_columns(image(before))  # no line: an arrow at the left edge says so
    assert before.png != inside.png


async def test_the_alerts_own_series_and_the_highest_are_drawn_first_the_rest_counted(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus, max_series=4), session)
    graph = await draw(grapher, "many_series", labels={"alertname": "Many", "i": "03"})
    assert (graph.series, graph.omitted) == (4, MANY - 4)
    matrix = await grapher._query.matrix(  # what was chosen, in order
        "many_series", HOUR_START, HOUR_END, {"i": "03"}
    )
    assert [s.labels["i"] for s in matrix.series] == ["03", "29", "28", "27"]


async def test_a_hole_in_the_data_is_drawn(prometheus: str, session: aiohttp.ClientSession) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    graph = await draw(grapher, "gappy", labels={"alertname": "Gappy"})
    assert graph.series == 1


async def test_an_expression_that_finds_nothing_is_drawn_empty(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    graph = await draw(grapher, "absent_metric_of_nobody")
    assert (graph.series, graph.omitted) == (0, 0)
    assert image(graph).size == (800, 320)


async def test_the_generator_urls_host_is_never_asked(
    prometheus: str, session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    graph = await draw(grapher, "errors_ratio", url=generator("errors_ratio", host=scripted.url))
    assert graph.series == 2
    assert scripted.requests == []


@pytest.mark.parametrize(
    "expression",
    [
        'errors_ratio{job="api"} or vector(1)) # "; rm -rf /',
        "errors_ratio\x00",
        "}{" * 50,
    ],
)
async def test_a_hostile_expression_is_one_query_prometheus_refuses_with_its_words(
    prometheus: str, session: aiohttp.ClientSession, expression: str
) -> None:
    grapher = Grapher(graphs_config(prometheus), session)
    with pytest.raises(NoGraph) as info:
        await draw(grapher, expression)
    assert not isinstance(info.value, GraphUnavailable)
    assert str(info.value).startswith("Prometheus refused the query (400): ")
    assert "parse error" in str(info.value)


async def test_a_hostile_expression_is_sent_as_one_value(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    grapher = Grapher(graphs_config(scripted.url), session)
    hostile = "up&query=evil&step=0.001 or vector(1)#&timeout=1h\r\nX-Header: 1"
    graph = await draw(grapher, hostile)
    assert graph.series == 0
    (request,) = scripted.requests
    assert request["path"] == "/api/v1/query_range"
    assert request["query"] == hostile
    assert (request["step"], request["timeout"]) == ("15", "5s")


async def test_a_huge_expression_is_not_sent(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    grapher = Grapher(graphs_config(scripted.url, max_expression_chars=100), session)
    with pytest.raises(NoGraph, match=r"longer than graphs.max_expression_chars \(100\)"):
        await draw(grapher, "up or " * 100 + "up")
    assert scripted.requests == []


# A glyph the font lacks is drawn as a box, with a warning matplotlib gives once per glyph.
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "$\\frac{1}{0}$ $x^{y^{z^{w}}}$ $\\sqrt{\\sqrt{\\sqrt{2}}}$"},
        {"alertname": "x" * 100_000},
        {"alertname": "line\nbreak\rcarriage\x1b[31mred\u202eright-to-left\u2028"},
        {"alertname": "日本語 ✓ 🔥 ﷽"},
    ],
)
async def test_hostile_labels_are_drawn_as_plain_text(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus, labels: dict[str, str]
) -> None:
    value = labels["alertname"]

    async def answer(request: web.Request) -> web.Response:
        series = {"metric": {"__name__": "m", "label": value}, "values": [[1767261600, "1"]]}
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": [series]}}
        )

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url), session)
    graph = await draw(grapher, "m", labels=labels)
    assert image(graph).size == (800, 320)


async def test_prometheus_out_of_reach_is_unavailable_in_a_sentence(
    session: aiohttp.ClientSession,
) -> None:
    grapher = Grapher(graphs_config(unused_url()), session)
    with pytest.raises(GraphUnavailable, match=r"^Prometheus could not be reached \("):
        await draw(grapher, "up")


async def test_a_slow_prometheus_is_given_up_on_after_the_timeout(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    async def answer(request: web.Request) -> web.Response:
        await scripted.released.wait()
        return web.json_response({})

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url, timeout=timedelta(milliseconds=200)), session)
    with pytest.raises(GraphUnavailable, match=r"^Prometheus did not answer within 0.2s$"):
        await asyncio.wait_for(draw(grapher, "up"), timeout=10)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_prometheus_in_trouble_is_unavailable(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus, status: int
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "error": "too many queries"}, status=status)

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url), session)
    with pytest.raises(GraphUnavailable, match=f"^Prometheus answered {status}: too many queries$"):
        await draw(grapher, "up")


def _matrix(result: str) -> bytes:
    return b'{"status": "success", "data": {"resultType": "matrix", "result": %s}}' % (
        result.encode()
    )


GARBAGE = [
    b"<html>not json</html>",
    b"[1, 2, 3]",
    b'{"status": "success"}',
    b'{"status": "success", "data": {"resultType": "vector", "result": []}}',
    _matrix("{}"),
    _matrix("[7]"),
    _matrix('[{"metric": {"a": 1}, "values": []}]'),
    _matrix('[{"metric": {}, "values": {}}]'),
    _matrix('[{"metric": {}, "values": [[1, 2]]}]'),
    _matrix('[{"metric": {}, "values": [["1", "2"]]}]'),
    _matrix('[{"metric": {}, "values": [[true, "2"]]}]'),
    _matrix('[{"metric": {}, "values": [[1, "two"]]}]'),
    _matrix('[{"metric": {}, "values": [[1]]}]'),
    b"[" * 100_000 + b"]" * 100_000,
]


@pytest.mark.parametrize("body", GARBAGE)
async def test_garbage_from_prometheus_is_no_graph_with_a_reason(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus, body: bytes
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url), session)
    with pytest.raises(NoGraph, match=r"^Prometheus") as info:
        await draw(grapher, "up")
    assert not isinstance(info.value, GraphUnavailable)


async def test_a_huge_answer_is_cut_off_unread(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no length to refuse it by up front
        await response.prepare(request)
        await response.write(b'{"status": "success", "data": {"resultType": "matrix", "result": [')
        for i in range(2000):  # far more than the limit; the client stops reading early
            await response.write(b'{"metric": {"i": "%d"}, "values": [[1, "1"]]},' % i * 10)
        await response.write(b"{}]}}")
        return response

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url, max_response_bytes=64 * 1024), session)
    with pytest.raises(NoGraph, match=r"larger than graphs.max_response_bytes \(65536\)"):
        await draw(grapher, "up")


async def test_a_huge_matrix_is_drawn_within_its_bounds(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    start = int(HOUR_START.timestamp())

    async def answer(request: web.Request) -> web.Response:
        # 100 series of 1000 points: more than was asked for, in both directions.
        values = [[start + i, str(i % 97)] for i in range(1000)]
        result = [{"metric": {"i": str(n)}, "values": values} for n in range(100)]
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    scripted.answer = answer
    config = graphs_config(
        scripted.url, max_response_bytes=64 * 1024 * 1024, timeout=timedelta(seconds=60)
    )
    grapher = Grapher(config, session)
    graph = await draw(grapher, "up")
    assert (graph.series, graph.omitted) == (config.max_series, 100 - config.max_series)
    matrix = await grapher._query.matrix("up", HOUR_START, HOUR_END, {})
    assert {len(s.points) for s in matrix.series} == {config.points + 1}


async def test_a_picture_larger_than_allowed_is_not_given(
    prometheus: str, session: aiohttp.ClientSession
) -> None:
    grapher = Grapher(graphs_config(prometheus, max_image_bytes=1000), session)
    with pytest.raises(NoGraph, match=r"larger than graphs.max_image_bytes \(1000\)"):
        await draw(grapher, "errors_ratio")


async def test_a_burst_of_graphs_asks_prometheus_a_few_at_a_time(
    session: aiohttp.ClientSession, scripted: ScriptedPrometheus
) -> None:
    asking = {"now": 0, "most": 0}

    async def answer(request: web.Request) -> web.Response:
        asking["now"] += 1
        asking["most"] = max(asking["most"], asking["now"])
        await scripted.released.wait()
        asking["now"] -= 1
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": []}}
        )

    scripted.answer = answer
    grapher = Grapher(graphs_config(scripted.url, timeout=timedelta(seconds=30)), session)
    burst = [asyncio.create_task(draw(grapher, f"up{{i='{i}'}}")) for i in range(10)]
    await eventually(lambda: len(scripted.requests) == QUERIES_AT_ONCE, what="the first few")
    assert asking["most"] == QUERIES_AT_ONCE
    scripted.released.set()
    drawn = await asyncio.wait_for(asyncio.gather(*burst), timeout=60)
    assert len(drawn) == 10 and len(scripted.requests) == 10
    assert asking["most"] == QUERIES_AT_ONCE
