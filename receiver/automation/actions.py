"""How a ``python`` step calls its action: the function registered under its name in the
``firebreak.actions`` entry point group (Firebreak's own, or a team's package).

The action is called with the step's ``args`` (rendered from the runbook, so from an alert only
where the runbook says) as keyword arguments. An action that declares a keyword parameter named
``firebreak`` also gets an ``ActionContext``: what Firebreak hands it from its configuration and
the execution's own record, which no alert and no run by hand can choose — the guarded HTTP
client of ``http`` steps, its settings under ``automation.actions.<name>``, Firebreak's job
queue. Where a request goes, which file is written, which credential is sent: an action takes
those from its context, never from ``args``.

    async def purge_cdn(paths: list[str], *, firebreak: ActionContext) -> dict[str, int]:
        zone = firebreak.settings["zone"]
        headers = {"Authorization": f"Bearer {firebreak.settings['api_token']}"}
        async with firebreak.http.post(f"https://cdn.example.com/zones/{zone}/purge",
                                       json={"paths": paths}, headers=headers) as response:
            return {"status": response.status}

An action may be a coroutine function or a plain one, and returns what the step records as
its output (JSON; redacted and bounded like any step's).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from receiver.model import Clock, system_clock

if TYPE_CHECKING:
    from receiver.automation.guards import GuardedHttp
    from receiver.deadletters import DeadLetters

CONTEXT_ARG = "firebreak"


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What Firebreak hands an action besides its ``args``."""

    execution_id: int
    step: str
    key: str  # the step execution's idempotency key: send it where the far side dedupes
    http: GuardedHttp  # automation.http_allow, checked at connect; redirects not followed
    settings: Mapping[str, Any] = field(default_factory=dict)  # automation.actions.<name>
    dead_letters: DeadLetters | None = None  # Firebreak's own dead-lettered jobs
    clock: Clock = system_clock
    monotonic: Callable[[], float] = time.monotonic  # what a wait's seconds are counted by

    def now(self) -> datetime:
        return self.clock()


def wants_context(function: Callable[..., Any]) -> bool:
    """Whether the action declares the ``firebreak`` keyword parameter."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    found = parameters.get(CONTEXT_ARG)
    return found is not None and found.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


async def call_action(
    function: Callable[..., Any], args: Mapping[str, Any], context: ActionContext
) -> Any:
    """Call an action with a step's ``args`` (and its context, if it asks for it)."""
    if CONTEXT_ARG in args:
        raise TypeError(
            f"args.{CONTEXT_ARG} is Firebreak's own; an action gets it, no step sets it"
        )
    kwargs = dict(args)
    if wants_context(function):
        kwargs[CONTEXT_ARG] = context
    result = function(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
