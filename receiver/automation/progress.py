"""What an execution tells the people watching its alert: it started (or was held back), a
step ended, a step waits for approval, it ended. The executor hands each to an injected hook in
the transaction that made it happen, so the jobs the hook returns (the Slack message's thread
and update) are as durable as the transition itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from receiver.model import Execution, NewJob

__all__ = ["Progress", "ProgressHook"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One event of an execution that has an alert."""

    execution: Execution
    event: Literal["created", "step", "waiting_approval", "ended"]
    state: str  # the execution's state; for ``step``, the step's
    key: str  # unique among the execution's events: what keys the jobs made of it
    step: str | None = None
    detail: str | None = None  # an error, a refusal, who may approve
    message: str | None = None  # what an approval asks


ProgressHook = Callable[[Progress, datetime], list[NewJob]]
