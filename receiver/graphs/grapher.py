"""An alert's graph: its expression asked of Prometheus, drawn off the event loop, bounded."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from receiver.config import GraphsConfig
from receiver.graphs.expression import expression_of
from receiver.graphs.prometheus import NoGraph, RangeQuery
from receiver.graphs.render import render_png

QUERIES_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class Graph:
    """A drawn graph: the PNG, the expression it shows and over what range."""

    png: bytes
    expression: str
    start: datetime
    end: datetime
    series: int  # drawn
    omitted: int  # given by Prometheus but not drawn


class Grapher:
    """Draws alerts' graphs from the configured Prometheus, one drawing at a time."""

    def __init__(self, config: GraphsConfig, session: aiohttp.ClientSession) -> None:
        self._config = config
        self._query = RangeQuery(config, session)
        # Drawing is CPU work in a worker thread: one at a time keeps a burst of alerts from
        # taking every core from the event loop's thread.
        self._drawing = asyncio.Semaphore(1)
        # Queries at once: a burst of alerts (or of console page loads) waits its turn rather
        # than piling range queries onto Prometheus.
        self._asking = asyncio.Semaphore(QUERIES_AT_ONCE)

    async def graph(
        self,
        generator_url: object,
        *,
        labels: Mapping[str, str],
        starts_at: datetime | None,
        now: datetime,
    ) -> Graph:
        """The graph of the alert's expression over ``graphs.range`` up to ``now``; raises
        ``NoGraph`` (``GraphUnavailable`` when Prometheus could not answer) with the reason."""
        expression = expression_of(generator_url)
        if expression is None:
            raise NoGraph("the alert's generatorURL carries no expression (g0.expr)")
        start = now - self._config.range
        async with self._asking:
            matrix = await self._query.matrix(expression, start, now, labels)
        title = f"{labels.get('alertname', 'alert')}: {expression}"
        draw = functools.partial(
            render_png,
            matrix.series,
            start=start,
            end=now,
            started_at=starts_at,
            title=title,
            omitted=matrix.omitted,
            step_seconds=self._query.step().total_seconds(),
        )
        async with self._drawing:
            png = await asyncio.get_running_loop().run_in_executor(None, draw)
        if len(png) > self._config.max_image_bytes:
            raise NoGraph(
                f"the graph is larger than graphs.max_image_bytes ({self._config.max_image_bytes})"
            )
        return Graph(png, expression, start, now, len(matrix.series), matrix.omitted)
