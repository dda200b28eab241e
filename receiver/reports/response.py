"""Response times: MTTA, MTTR and acknowledgements within a target, by route (or a label)
and severity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from receiver.reports.common import Durations, Window, ratio, seconds, summarise
from receiver.store import Store
from receiver.store.reports import ResponseRow, response_rows

DEFAULT_ACK_TARGET = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ResponseFigures:
    alerts: int
    paged: int
    acknowledged: int
    resolved: int
    mtta: Durations
    mttr: Durations
    ack_target_eligible: int  # paged or acknowledged
    ack_within_target: int
    ack_within_target_share: float | None


@dataclass(frozen=True, slots=True)
class ResponseGroup:
    group: str  # the route (or the label's value)
    severity: str
    figures: ResponseFigures


@dataclass(frozen=True, slots=True)
class ResponseReport:
    window: Window
    by: str  # "route", or "label:NAME"
    ack_target: timedelta
    groups: tuple[ResponseGroup, ...]
    overall: ResponseFigures  # every occurrence once, whatever routes it took


async def response_report(
    store: Store,
    window: Window,
    *,
    ack_target: timedelta = DEFAULT_ACK_TARGET,
    by_label: str | None = None,
) -> ResponseReport:
    """MTTA, MTTR and acknowledgements within ``ack_target``, by route (or by the value of
    the label ``by_label``) and severity."""
    async with store.connection() as conn:
        rows = await response_rows(conn, window.since, window.until, by_label)
    keyed: dict[tuple[str, str], list[ResponseRow]] = defaultdict(list)
    distinct: dict[int, ResponseRow] = {}
    for row in rows:
        keyed[(row.group, row.severity)].append(row)
        distinct.setdefault(row.alert_id, row)
    return ResponseReport(
        window=window,
        by="route" if by_label is None else f"label:{by_label}",
        ack_target=ack_target,
        groups=tuple(
            ResponseGroup(group, severity, _response_figures(found, ack_target))
            for (group, severity), found in sorted(keyed.items())
        ),
        overall=_response_figures(distinct.values(), ack_target),
    )


def _response_figures(rows: Iterable[ResponseRow], ack_target: timedelta) -> ResponseFigures:
    rows = list(rows)
    to_ack = [
        seconds(r.acknowledged_at - r.starts_at) for r in rows if r.acknowledged_at is not None
    ]
    to_resolve = [seconds(r.ends_at - r.starts_at) for r in rows if r.ends_at is not None]
    eligible = sum(1 for r in rows if r.paged or r.acknowledged_at is not None)
    within = sum(1 for s in to_ack if s <= ack_target.total_seconds())
    return ResponseFigures(
        alerts=len(rows),
        paged=sum(1 for r in rows if r.paged),
        acknowledged=len(to_ack),
        resolved=len(to_resolve),
        mtta=summarise(to_ack),
        mttr=summarise(to_resolve),
        ack_target_eligible=eligible,
        ack_within_target=within,
        ack_within_target_share=ratio(within, eligible),
    )
