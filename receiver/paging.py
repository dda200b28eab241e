"""Paging people: the ``person:``, ``schedule:`` and ``team:`` entries of an escalation tier.

When a tier fires, each such entry is resolved to person ids at the tier's due time, and each
person is sent a notice through every contact method they have an address for and ``paging``
names a channel for (a Slack direct message, an email, a PagerDuty event). What was resolved is
frozen into the ``notify`` jobs the tier's commit enqueues, under keys per alert, tier, person
and contact, so a retried or restarted escalation pages the same people, once. The ``pages``
rows written in that commit are the record of who was paged, when and by which tier.

An entry that reaches nobody (a schedule with nobody on call, a person with no contact
method) is a gap: a tier that names people but pages none of them falls through to the next
tier at once (``receiver.escalation``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from receiver.config import Config, NotifyTarget, PersonConfig, TierConfig
from receiver.errors import NotFound
from receiver.model import EventKind, NewJob, Page
from receiver.notify.base import Channel, NoticeKind
from receiver.people import People
from receiver.reactions import ids_key
from receiver.schedules import Schedules
from receiver.store.pages import page_row

_NOBODY = "nobody on call"
# How each contact kind is shown in history: "alice paged ... by Slack DM, email".
_CONTACT_NAMES = {"slack": "Slack DM", "email": "email", "pagerduty": "PagerDuty"}


@dataclass(frozen=True, slots=True)
class Paged:
    """A person a tier's entry resolved to, and the entry (``schedule:payments``)."""

    person: str
    via: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """A tier's people entries resolved at one moment: who is paged, and the entries that
    reached nobody (with why)."""

    paged: tuple[Paged, ...] = ()
    gaps: tuple[tuple[str, str], ...] = ()  # (entry, why)
    unstaffed: tuple[str, ...] = ()  # the schedules with nobody on call

    @property
    def falls_through(self) -> bool:
        """Whether the tier names people but pages none of them."""
        return bool(self.gaps) and not self.paged


@dataclass(frozen=True, slots=True)
class Reach:
    """What paging a tier's people adds to the tier's commit."""

    jobs: list[NewJob] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Escalating:
    """The escalation a tier belongs to, as the notify jobs and pages record it."""

    alert_ids: Sequence[int]
    group_key: str
    route: str
    policy: str
    tier: int
    repeat: int


class Paging:
    """Resolves a tier's people entries and builds the notices that page them."""

    def __init__(
        self, config: Config, channels: Mapping[str, Channel], schedules: Schedules
    ) -> None:
        self._people = People(config.people, teams=config.teams)
        self._schedules = schedules
        self._contacts = {
            kind: name for kind, name in config.paging.channels().items() if name in channels
        }

    def contacts(self, person: PersonConfig) -> list[tuple[str, str, str]]:
        """``(kind, channel, address)`` for each way ``person`` can be paged."""
        addresses = {
            "slack": person.slack_user_id,
            "email": person.email,
            "pagerduty": person.pagerduty_user,
        }
        return [
            (kind, channel, address)
            for kind, channel in self._contacts.items()
            if (address := addresses[kind])
        ]

    async def resolve(self, tier: TierConfig, at: datetime) -> Resolved:
        """The people ``tier``'s entries page at ``at``, each once (the first entry that
        names them), in the tier's order."""
        paged: dict[str, Paged] = {}
        gaps: list[tuple[str, str]] = []
        unstaffed: list[str] = []
        for entry in tier.notify:
            people = entry.people
            if people is None:
                continue
            ids, why = await self._who(entry, at)
            reachable = [i for i in ids if self._reachable(i)]
            if not reachable:
                gaps.append((str(entry), why if not ids else "nobody with a contact method"))
            if entry.schedule and not ids and why == _NOBODY:
                unstaffed.append(entry.schedule)
            for person in reachable:
                paged.setdefault(person, Paged(person, str(entry)))
        return Resolved(tuple(paged.values()), tuple(gaps), tuple(unstaffed))

    async def _who(self, entry: NotifyTarget, at: datetime) -> tuple[tuple[str, ...], str]:
        """The person ids an entry names at ``at``, or none and why: a person; whoever a
        schedule has on call then (overrides included); every member of a team."""
        if entry.person:
            found = self._people.get(entry.person) is not None
            return ((entry.person,), "") if found else ((), "no such person")
        if entry.schedule:
            try:
                return await self._schedules.who(entry.schedule, at), _NOBODY
            except NotFound:  # removed by a reload since the chain was frozen
                return (), "no such schedule"
        if entry.team:
            if self._people.team(entry.team) is None:
                return (), "no such team"
            return tuple(p.id for p in self._people.members(entry.team)), "no members"
        return (), f"{entry} is not configured"

    def _reachable(self, person_id: str) -> bool:
        person = self._people.get(person_id)
        return person is not None and bool(self.contacts(person))

    def reach(self, escalating: Escalating, resolved: Resolved, now: datetime) -> Reach:
        """A notify job per person paged and contact method, a ``pages`` row and a history
        row per alert and person."""
        reach = Reach()
        e = escalating
        for paged in resolved.paged:
            person = self._people.get(paged.person)
            if person is None:
                continue
            contacts = self.contacts(person)
            for kind, channel, target in contacts:
                reach.jobs.append(_page_job(e, paged, kind, channel, target, now))
            kinds = tuple(kind for kind, _, _ in contacts)
            for alert_id in e.alert_ids:
                page = Page(
                    alert_id,
                    paged.person,
                    now,
                    e.policy,
                    e.route,
                    e.tier,
                    e.repeat,
                    paged.via,
                    kinds,
                )
                reach.pages.append(page_row(page))
                reach.events.append(_paged_event(page, person))
        return reach


def _page_job(
    e: Escalating, paged: Paged, kind: str, channel: str, address: str, now: datetime
) -> NewJob:
    """The firing notice that pages one person through one contact method. A PagerDuty
    event goes to the channel's own routing key with the person in it: Events API v2 has no
    assignee (docs/escalation.md "Paging people")."""
    target = "" if kind == "pagerduty" else address
    return NewJob(
        kind="notify",
        payload={
            "notice": NoticeKind.FIRING.value,
            "alert_ids": list(e.alert_ids),
            "channel": channel,
            "target": target,
            "route": e.route,
            "policy": e.policy,
            "tier": e.tier,
            "repeat": e.repeat,
            "group_key": e.group_key,
            "person": paged.person,
            "via": paged.via,
            "contact": address,
        },
        due_at=now,
        idempotency_key=f"page:{e.route}:{e.repeat}:{e.tier}:{paged.person}:{kind}:"
        f"{ids_key(e.alert_ids)}",
        coalesce_key=f"page:{e.group_key}:{e.policy}:{e.tier}:{paged.person}:{kind}",
    )


def _paged_event(page: Page, person: PersonConfig) -> dict[str, Any]:
    how = ", ".join(_CONTACT_NAMES[kind] for kind in page.contacts)
    who = f"{person.name} ({person.id})" if person.name else person.id
    note = f"paged {who} by {page.policy} tier {page.tier + 1}"
    if page.repeat:
        note += f", repeat {page.repeat}"
    return {
        "alert_id": page.alert_id,
        "kind": EventKind.PAGED.value,
        "at": page.paged_at,
        "actor": "firebreak",
        "note": f"{note}, through {page.via}: {how}",
        "request_id": None,
    }


def gap_note(resolved: Resolved) -> str:
    """What a history row says of the entries of a tier that reached nobody."""
    return "; ".join(f"{entry} reached nobody ({why})" for entry, why in resolved.gaps)
