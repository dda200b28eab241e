"""Prometheus' range query (``GET /api/v1/query_range``) for a graph, bounded in time and size.

Every failure becomes one of two errors whose message is a sentence a note can show:
``GraphUnavailable`` when Prometheus could not answer (unreachable, too slow, a server error),
``NoGraph`` when it answered and there is nothing to draw (a refused expression, an answer that
is not a range query's, one larger than allowed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson

from receiver.config import GraphsConfig
from receiver.errors import FirebreakError
from receiver.upstream import Upstream

__all__ = ["GraphUnavailable", "Matrix", "NoGraph", "RangeQuery", "Series", "parse_matrix"]

# Characters of Prometheus' own words kept in a note.
_ANSWER_CHARS = 200


class NoGraph(FirebreakError):
    """There is nothing to draw for this alert; the message says why, in one sentence."""


class GraphUnavailable(NoGraph):
    """Prometheus could not be asked (unreachable, too slow, a server error): later may work."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range query: its labels and its (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def peak(self) -> float:
        """The highest finite value, or -inf for a series with none."""
        return max((v for _t, v in self.points if math.isfinite(v)), default=-math.inf)


@dataclass(frozen=True, slots=True)
class Matrix:
    """The series a query gave (the ones to draw) and how many more it gave."""

    series: tuple[Series, ...]
    omitted: int = 0


class RangeQuery:
    """Asks the configured Prometheus for an expression over a time range."""

    def __init__(self, config: GraphsConfig, session: aiohttp.ClientSession) -> None:
        self._url = config.prometheus_url.rstrip("/") + "/api/v1/query_range"
        self._config = config
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=config.timeout.total_seconds())
        self._upstream = Upstream.of(
            bearer_token=config.bearer_token, basic_auth=config.basic_auth, ca_file=config.ca_file
        )

    def step(self) -> timedelta:
        """The query's resolution: the range over the configured points, whole seconds."""
        seconds = math.ceil(self._config.range.total_seconds() / self._config.points)
        return timedelta(seconds=max(1, seconds))

    async def matrix(
        self, expression: str, start: datetime, end: datetime, prefer: Mapping[str, str]
    ) -> Matrix:
        """The series of ``expression`` from ``start`` to ``end``; at most
        ``graphs.max_series`` of them, those whose labels ``prefer`` holds first, then the
        highest."""
        if len(expression) > self._config.max_expression_chars:
            raise NoGraph(
                f"the expression is longer than graphs.max_expression_chars "
                f"({self._config.max_expression_chars})"
            )
        params = {
            "query": expression,
            "start": _stamp(start),
            "end": _stamp(end),
            "step": str(int(self.step().total_seconds())),
            "timeout": f"{self._config.timeout.total_seconds():g}s",
        }
        status, body = await self._get(params)
        answer = _json(body)
        if status >= 500 or status == 429:
            raise GraphUnavailable(f"Prometheus answered {status}{_error_of(answer)}")
        if status >= 300 or not isinstance(answer, dict) or answer.get("status") != "success":
            raise NoGraph(f"Prometheus refused the query ({status}){_error_of(answer)}")
        return parse_matrix(answer, self._config.max_series, self._config.points, prefer)

    async def _get(self, params: Mapping[str, str]) -> tuple[int, bytes]:
        limit = self._config.max_response_bytes
        try:
            async with self._session.get(
                self._url,
                params=params,
                headers=self._upstream.headers,
                auth=self._upstream.auth,
                timeout=self._timeout,
                ssl=self._upstream.ssl,
                allow_redirects=False,
            ) as resp:
                if resp.content_length is not None and resp.content_length > limit:
                    raise NoGraph(_too_large(limit))
                body = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > limit:
                        raise NoGraph(_too_large(limit))
                return resp.status, bytes(body)
        except TimeoutError as exc:
            seconds = f"{self._config.timeout.total_seconds():g}s"
            raise GraphUnavailable(f"Prometheus did not answer within {seconds}") from exc
        except aiohttp.ClientError as exc:
            raise GraphUnavailable(
                f"Prometheus could not be reached ({type(exc).__name__})"
            ) from exc


def parse_matrix(
    answer: Mapping[str, Any], max_series: int, max_points: int, prefer: Mapping[str, str]
) -> Matrix:
    """A range query's ``data`` as series, checked: a matrix of ``{metric, values}`` whose
    values are ``[seconds, "number"]``. At most ``max_series`` series (those whose labels
    ``prefer`` holds first, then the highest peaks) of at most ``max_points`` + 1 points."""
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise NoGraph("Prometheus' answer is not a range query result (a matrix)")
    result = data.get("result")
    if not isinstance(result, list):
        raise NoGraph("Prometheus' answer has no list of series")
    series = [_series(item) for item in result]
    ranked = sorted(series, key=lambda s: (not _held_by(s.labels, prefer), -s.peak))
    kept = tuple(Series(s.labels, s.points[-(max_points + 1) :]) for s in ranked[:max_series])
    return Matrix(kept, omitted=len(series) - len(kept))


def _series(item: object) -> Series:
    if not isinstance(item, dict):
        raise NoGraph("Prometheus' answer has a series that is not an object")
    metric, values = item.get("metric", {}), item.get("values")
    if not isinstance(metric, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
    ):
        raise NoGraph("Prometheus' answer has a series whose labels are not strings")
    if not isinstance(values, list):
        raise NoGraph("Prometheus' answer has a series without a list of values")
    points: list[tuple[float, float]] = []
    for value in values:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int | float)
            or isinstance(value[0], bool)
            or not math.isfinite(value[0])
            or not isinstance(value[1], str)
        ):
            raise NoGraph('Prometheus\' answer has a value that is not [seconds, "number"]')
        try:
            number = float(value[1])
        except ValueError:
            raise NoGraph("Prometheus' answer has a value that is not a number") from None
        points.append((float(value[0]), number))
    return Series(metric, tuple(points))


def _held_by(labels: Mapping[str, str], prefer: Mapping[str, str]) -> bool:
    """Whether the series is the alert's own: every one of its labels the alert has too."""
    return bool(prefer) and all(prefer.get(k) == v for k, v in labels.items() if k != "__name__")


def _stamp(moment: datetime) -> str:
    return f"{moment.timestamp():.3f}"


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _error_of(answer: object) -> str:
    """Prometheus' own words about a failed query, shortened, or nothing."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return ": " + str(answer["error"])[:_ANSWER_CHARS]
    return ""


def _too_large(limit: int) -> str:
    return f"Prometheus' answer is larger than graphs.max_response_bytes ({limit})"
