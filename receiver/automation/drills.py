"""Drills: a synthetic alert injected through the whole pipeline — webhook, routing,
escalation (its notifications marked as a drill), the runbook's execution — with each stage's
time from the injection held against a budget, like the source's two-minute emergency drills.

Only a person starts a drill (the API, the CLI), and what the drill is — its runbook, whether
it is live, who asked — is recorded in the store before its alert is injected. The alert
carries ``firebreak_drill=<drill id>`` (a new random id, so a new occurrence every time);
routing finds the record by that id and starts only the runbook being drilled, as a ``drill``
execution, a dry run unless the record says live. A live drill passes the kill switch, the
breaker, concurrency and approval gates like any run that changes things. A ``firebreak_drill``
label on any other alert names no record with its labels: it is an ordinary label.
``replay`` takes a stored alert's labels and annotations instead, to try a runbook on a real
past incident. The drill alert is resolved at the end, through the webhook too.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.automation.definitions import RunbookConfig
from receiver.automation.service import AutomationService
from receiver.errors import InvalidInput
from receiver.matchers import MatchOp, parse_matchers
from receiver.model import DRILL_LABEL, FINAL_STATES, AlertQuery, Clock, EventKind
from receiver.store import Store
from receiver.store.drills import DrillSQL

Inject = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DrillBudget:
    """Seconds from the injection by which each stage must be reached."""

    webhook: float = 1.0
    routed: float = 10.0
    notified: float = 30.0
    execution_started: float = 15.0
    first_step_started: float = 20.0
    finished: float = 120.0

    def of(self, stage: str) -> float:
        return float(getattr(self, stage))


STAGES = ("webhook", "routed", "notified", "execution_started", "first_step_started", "finished")


@dataclass(slots=True)
class DrillReport:
    drill_id: str
    runbook: str
    live: bool
    budget: DrillBudget
    alert_id: int | None = None
    execution_id: int | None = None
    execution_state: str | None = None
    reached: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(
            stage in self.reached and self.reached[stage] <= self.budget.of(stage)
            for stage in STAGES
        ) and self.execution_state not in ("failed", "rolled_back", "cancelled", "skipped")

    def as_json(self) -> dict[str, Any]:
        return {
            "drill_id": self.drill_id,
            "runbook": self.runbook,
            "live": self.live,
            "alert_id": self.alert_id,
            "execution_id": self.execution_id,
            "execution_state": self.execution_state,
            "ok": self.ok,
            "stages": [
                {
                    "stage": stage,
                    "seconds": round(self.reached[stage], 3) if stage in self.reached else None,
                    "budget_seconds": self.budget.of(stage),
                    "ok": stage in self.reached and self.reached[stage] <= self.budget.of(stage),
                }
                for stage in STAGES
            ],
        }


def drill_labels(
    runbook: RunbookConfig,
    given: Mapping[str, str],
    drill_id: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The synthetic alert's labels: ``base`` (a replayed alert's), the runbook's equality
    matchers, ``given``; a matcher nothing satisfies asks for a label to be given. The
    ``firebreak_drill`` labels are Firebreak's own: given ones are refused, a replayed
    alert's dropped."""
    for name in given:
        if name.startswith(DRILL_LABEL):
            raise InvalidInput(
                f"labels.{name}",
                f"{DRILL_LABEL} labels are Firebreak's own; whether a drill is live is the "
                "request's live flag",
            )
    labels = {k: v for k, v in (base or {}).items() if not k.startswith(DRILL_LABEL)}
    matchers = runbook.matchers()
    for m in matchers:
        if m.name in given or m.matches({**labels, **given}):
            continue
        if m.op is not MatchOp.EQ:
            raise InvalidInput(f"labels.{m.name}", f"give a value: the runbook matches {m} on it")
        labels[m.name] = m.value
    labels.update(given)
    labels.setdefault("alertname", f"Drill-{runbook.id}")
    labels[DRILL_LABEL] = drill_id
    if not all(m.matches(labels) for m in matchers):
        raise InvalidInput("labels", f"the drill alert would not match runbook {runbook.id}")
    return labels


def drill_webhook(
    labels: Mapping[str, str], annotations: Mapping[str, str], starts_at: datetime, resolved: bool
) -> dict[str, Any]:
    """An Alertmanager v4 webhook with the one synthetic alert."""
    fingerprint = hashlib.sha256(
        "\x00".join(f"{k}\x00{v}" for k, v in sorted(labels.items())).encode()
    ).hexdigest()[:16]
    status = "resolved" if resolved else "firing"
    return {
        "version": "4",
        "groupKey": f'{{}}:{{{DRILL_LABEL}="{labels[DRILL_LABEL]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "firebreak-drill",
        "groupLabels": {DRILL_LABEL: labels[DRILL_LABEL]},
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": "",
        "alerts": [
            {
                "status": status,
                "labels": dict(labels),
                "annotations": dict(annotations),
                "startsAt": format_rfc3339(starts_at),
                "endsAt": format_rfc3339(starts_at + timedelta(seconds=1))
                if resolved
                else "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint,
            }
        ],
    }


class Drills:
    def __init__(
        self,
        service: AutomationService,
        store: Store,
        clock: Clock,
        inject: Inject,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._store = store
        self._clock = clock
        self._inject = inject
        self._monotonic = monotonic  # what each stage's seconds and the budget are counted by
        self._sql = DrillSQL()

    async def run(
        self,
        runbook_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        replay_alert_id: int | None = None,
        live: bool = False,
        budget: DrillBudget | None = None,
        actor: str = "firebreak",
    ) -> DrillReport:
        """Record, inject, follow and report. ``actor`` (who asked; a live drill is an
        admin's) is the execution's actor and the synthetic alert's ``drilled_by``."""
        runbook = self._service.runbook(runbook_id)
        base: Mapping[str, str] = {}
        annotations: dict[str, str] = {"summary": f"firebreak drill of {runbook_id}"}
        if replay_alert_id is not None:
            past = await self._store.get_alert(replay_alert_id)
            base, annotations = past.labels, {**past.annotations}
        annotations["drilled_by"] = actor
        # Unguessable: nobody can label an alert with a drill's id before it exists.
        drill_id = secrets.token_hex(16)
        all_labels = drill_labels(runbook, labels or {}, drill_id, base)
        report = DrillReport(drill_id, runbook_id, live, budget or DrillBudget())
        started_at = self._clock()
        # Recorded before anything is injected: routing reads the drill from here.
        async with self._store.transaction() as conn:
            await self._sql.register(
                conn, drill_id, runbook.id, live, actor, all_labels, started_at
            )
        began = self._monotonic()
        await self._inject(drill_webhook(all_labels, annotations, started_at, resolved=False))
        report.reached["webhook"] = self._monotonic() - began
        try:
            await self._follow(report, began)
        finally:
            await self._inject(drill_webhook(all_labels, annotations, started_at, resolved=True))
            async with self._store.transaction() as conn:
                await self._sql.finish(conn, drill_id, self._clock())
        return report

    async def _follow(self, report: DrillReport, began: float) -> None:
        """Poll the store until every stage is reached or the last budget is spent."""
        deadline = began + report.budget.finished
        query = AlertQuery(
            matchers=(parse_matchers(f'{DRILL_LABEL}="{report.drill_id}"', field="drill"),),
            limit=1,
        )
        while self._monotonic() < deadline and "finished" not in report.reached:
            elapsed = self._monotonic() - began
            await self._look(report, query, elapsed)
            await asyncio.sleep(0.05)

    async def _look(self, report: DrillReport, query: AlertQuery, elapsed: float) -> None:
        reached = report.reached
        if report.alert_id is None:
            page = await self._store.list_alerts(query)
            if not page.alerts:
                return
            report.alert_id = page.alerts[0].id
        if "routed" not in reached:
            events = await self._store.alert_events(report.alert_id)
            if any(e.kind in (EventKind.ESCALATED, EventKind.RUNBOOK) for e in events):
                reached["routed"] = elapsed
        if "notified" not in reached and await self._store.sent_notifications(report.alert_id):
            reached["notified"] = elapsed
        if report.execution_id is None:
            found = await self._service.list_executions(alert_id=report.alert_id, limit=1)
            if found:
                report.execution_id = found[0].id
                reached["execution_started"] = elapsed
        if report.execution_id is not None:
            record = await self._service.status(report.execution_id)
            report.execution_state = record.execution.state
            if "first_step_started" not in reached and any(
                s.started_at is not None or s.state not in ("pending",) for s in record.steps
            ):
                reached["first_step_started"] = elapsed
            if record.execution.state in FINAL_STATES:
                reached.setdefault("first_step_started", elapsed)
                reached["finished"] = elapsed
