"""The values the on-call engine speaks in: overrides people make, and shifts it works out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Source = Literal["layer", "override", "ical"]


@dataclass(frozen=True, slots=True)
class Override:
    """``person`` is on call for ``schedule`` from ``start`` to ``end``, whatever the layers
    say; where two overlap, the one made later wins."""

    id: int
    schedule: str
    person: str
    start: datetime
    end: datetime
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Shift:
    """``people`` on call from ``start`` to ``end``, and what put them there: a layer (its
    index in the schedule), an override (its id) or the schedule's calendar."""

    people: tuple[str, ...]
    start: datetime
    end: datetime
    source: Source
    layer: int | None = None
    override: int | None = None

    @property
    def marker(self) -> str:
        """``layer:N``, ``override:ID`` or ``ical``: what put this shift there."""
        if self.source == "layer":
            return f"layer:{self.layer}"
        if self.source == "override":
            return f"override:{self.override}"
        return "ical"


@dataclass(frozen=True, slots=True)
class Gap:
    """Nobody is on call from ``start`` to ``end``."""

    start: datetime
    end: datetime
