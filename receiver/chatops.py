"""What people do about alerts from chat besides acknowledge, resolve and snooze (those are
``AlertActions``): list the firing ones, silence them through Alertmanager, and keep in an
alert's history what someone tried that changed nothing — an action refused for want of a
role, a Run button pressed while the runbook still runs for the alert.

The Slack transport (``receiver.slack``) parses, authorises and answers; the store reads and
writes behind those answers are here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from receiver.alertmanager_api import AlertmanagerClient, api_matcher
from receiver.durations import format_duration
from receiver.errors import NotFound
from receiver.matchers import Matcher, MatchOp, format_matchers
from receiver.model import Actor, Alert, AlertQuery, AlertStatus, Clock, EventKind
from receiver.store import Store

__all__ = ["ChatOps", "Silenced", "api_matcher"]

# Firing alerts a new silence writes into the history of; a wider silence is still created.
_NOTED: Final = 100


@dataclass(frozen=True, slots=True)
class Silenced:
    """A silence created in Alertmanager, and how many firing alerts it covers (each has it
    in its history)."""

    silence_id: str
    ends_at: datetime
    covered: int


class ChatOps:
    """The store and Alertmanager behind the chat commands and buttons."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        alertmanager: Callable[[], AlertmanagerClient | None] = lambda: None,
    ) -> None:
        """``alertmanager``: the client of the configuration in force (a reload may add,
        move or remove it), None without one."""
        self._store = store
        self._clock = clock
        self._alertmanager = alertmanager

    async def firing(
        self, matchers: Sequence[Matcher], scanned: int
    ) -> tuple[Sequence[Alert], bool]:
        """Firing alerts that match ``matchers`` (all without), last received first, at most
        ``scanned`` of them; True when there are more."""
        page = await self._store.list_alerts(
            AlertQuery(
                status=AlertStatus.FIRING,
                matchers=(tuple(matchers),) if matchers else (),
                limit=scanned,
            )
        )
        return page.alerts, page.next_cursor is not None

    async def matchers_of(self, alert_id: int) -> tuple[Matcher, ...]:
        """An alert's labels as equality matchers: a silence of exactly that alert."""
        alert = await self._store.get_alert(alert_id)
        return tuple(Matcher(k, MatchOp.EQ, v) for k, v in sorted(alert.labels.items()))

    async def silence(
        self,
        matchers: tuple[Matcher, ...],
        duration: timedelta,
        actor: Actor,
        created_by: str,
        comment: str,
    ) -> Silenced | None:
        """Create a silence in Alertmanager from now for ``duration`` and note it in the
        history of the firing alerts it covers; None when no Alertmanager is configured."""
        alertmanager = self._alertmanager()
        if alertmanager is None:
            return None
        now = self._clock()
        silence_id = await alertmanager.create_silence(
            [api_matcher(m) for m in matchers], now, now + duration, created_by, comment
        )
        text = f"silence {silence_id} for {format_duration(duration)}: {format_matchers(matchers)}"
        page = await self._store.list_alerts(
            AlertQuery(status=AlertStatus.FIRING, matchers=(matchers,), limit=_NOTED)
        )
        for alert in page.alerts:
            await self._store.add_event(alert.id, EventKind.SILENCED, actor, text, None, now)
        return Silenced(silence_id, now + duration, len(page.alerts))

    async def refused(
        self, alert_ids: Sequence[int], actor: Actor, action: str, needed: str, has: str
    ) -> None:
        """Note in each alert's history that ``actor`` was refused ``action`` (needing the
        ``needed`` role, having ``has``)."""
        now = self._clock()
        for alert_id in alert_ids:
            with contextlib.suppress(NotFound):  # a button on a message about a purged alert
                await self._store.add_event(
                    alert_id,
                    EventKind.REFUSED,
                    actor,
                    f"{action} refused: needs {needed}, has {has}",
                    None,
                    now,
                )

    async def pressed_while_running(
        self, alert_id: int, actor: Actor, runbook: str, execution_id: int
    ) -> None:
        """Note in the alert's history that a Run button of ``runbook`` started nothing: its
        execution ``execution_id`` for the alert has not ended."""
        await self._store.add_event(
            alert_id,
            EventKind.RUNBOOK,
            actor,
            f"run {runbook} pressed: execution {execution_id} has not ended; nothing started",
            None,
            self._clock(),
        )
