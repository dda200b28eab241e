"""The picture: an expression's series over a time range, the alert's start marked, as PNG.

Drawn on matplotlib's Agg canvas through its object API (a ``Figure`` of its own, never
``pyplot``): no display, no global state, so it may run in a worker thread. Every text that
came from outside (labels, the title) is shown as plain text — never read as mathtext, whose
``$…$`` would otherwise parse it — without control characters, and shortened.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from receiver.graphs.prometheus import Series

# Small enough for a Slack thread and an e-mail, wide enough for an hour at a glance.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 3.2, 100
_LEGEND_CHARS = 70  # one series' labels in the legend
_TITLE_CHARS = 110
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
)
_MARK_COLOUR = "#d62728"
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.0}
# Larger values overflow the axis' arithmetic (its margins pass the largest float): not drawn.
_PLOTTABLE = 1e300
_TICKS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def plain(text: str, limit: int) -> str:
    """``text`` on one line, control and format characters replaced, at most ``limit``
    characters (an ellipsis marks a cut)."""
    cleaned = "".join(
        " " if unicodedata.category(c)[0] in ("C", "Z") and c != " " else c for c in text
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def legend_label(labels: Mapping[str, str]) -> str:
    """A series as Prometheus writes it: ``name{a="1", b="2"}``."""
    name = labels.get("__name__", "")
    pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return plain(f"{name}{{{pairs}}}" if pairs or not name else name, _LEGEND_CHARS)


def render_png(
    series: Sequence[Series],
    *,
    start: datetime,
    end: datetime,
    started_at: datetime | None,
    title: str,
    omitted: int = 0,
    step_seconds: float = 0.0,
) -> bytes:
    """The series from ``start`` to ``end`` as a PNG; a dashed line where the alert started
    (an arrow at the left edge when it started earlier). Points further apart than two steps
    are not joined: a gap in the data stays a gap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, one in enumerate(series):
        times, values = _with_gaps(one.points, step_seconds)
        axes.plot(
            times,
            values,
            linewidth=1.3,
            color=_COLOURS[index % len(_COLOURS)],
            label=legend_label(one.labels),
        )
    left, right = start.timestamp(), end.timestamp()
    axes.set_xlim(left, right)
    if started_at is not None and start <= started_at <= end:
        axes.axvline(started_at.timestamp(), color=_MARK_COLOUR, linestyle="--", linewidth=1.2)
        axes.annotate(
            "alert started",
            xy=(started_at.timestamp(), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color=_MARK_COLOUR,
            fontsize=8,
            bbox=_LABEL_BOX,
        )
    elif started_at is not None and started_at < start:
        axes.annotate(
            "◀ alert started earlier",
            xy=(0.0, 1.0),
            xycoords="axes fraction",
            xytext=(3, -12),
            textcoords="offset points",
            color=_MARK_COLOUR,
            fontsize=8,
            bbox=_LABEL_BOX,
        )
    if not any(one.points for one in series):
        axes.text(
            0.5, 0.5, "no data in this range", transform=axes.transAxes, ha="center", va="center"
        )
    # Ticks on whole minutes of UTC (multiples of the tick from the epoch are), as HH:MM.
    axes.xaxis.set_major_locator(MultipleLocator(_tick_seconds(right - left)))
    axes.xaxis.set_major_formatter(FuncFormatter(_clock))
    axes.set_xlabel("UTC", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.grid(True, linewidth=0.4, alpha=0.6)
    axes.set_title(plain(title, _TITLE_CHARS), fontsize=9, loc="left", parse_math=False)
    if series:
        legend = axes.legend(
            fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.18), ncols=2, frameon=False
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    if omitted:
        figure.text(
            0.99, 0.01, f"{omitted} more series not shown", ha="right", va="bottom", fontsize=7
        )
    out = io.BytesIO()
    # No Software/date metadata: the same data draws the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _tick_seconds(span: float) -> float:
    """The tick spacing that gives four to eight ticks across ``span`` seconds."""
    for tick in _TICKS:
        if span / tick <= 8:
            return tick
    return span / 6


def _clock(seconds: float, _position: object = None) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%H:%M" if moment.second == 0 else "%H:%M:%S")


def _with_gaps(
    points: Sequence[tuple[float, float]], step_seconds: float
) -> tuple[list[float], list[float]]:
    """The points as times and values, a NaN between two further apart than two steps (and in
    place of infinities and of values too large to scale an axis to), which matplotlib leaves
    unjoined."""
    times: list[float] = []
    values: list[float] = []
    previous: float | None = None
    for at, value in points:
        if previous is not None and step_seconds > 0 and at - previous > 2 * step_seconds:
            times.append((at + previous) / 2)
            values.append(math.nan)
        times.append(at)
        values.append(value if abs(value) <= _PLOTTABLE else math.nan)
        previous = at
    return times, values
