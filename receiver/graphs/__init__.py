"""Graphs of an alert's expression: the ``g0.expr`` of its ``generatorURL`` asked of the
configured Prometheus (``query_range``) over the last hour and drawn as a small PNG, with the
alert's start marked (docs/graphs.md).

- ``expression``: the expression in a generator URL, and nothing else of it;
- ``prometheus``: the range query, bounded in time and bytes, its answer checked at the edge;
- ``render``: the picture (matplotlib's Agg canvas, no display, no global state);
- ``grapher``: the three together, the drawing off the event loop.

The Prometheus asked is always ``graphs.prometheus_url``: a generator URL's host, like every
label, is data and picks nothing.
"""

from __future__ import annotations

from receiver.graphs.expression import expression_of
from receiver.graphs.grapher import Graph, Grapher
from receiver.graphs.prometheus import GraphUnavailable, NoGraph, Series

__all__ = ["Graph", "GraphUnavailable", "Grapher", "NoGraph", "Series", "expression_of"]
