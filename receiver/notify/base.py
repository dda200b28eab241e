"""What every channel implements and what it is given.

A channel sends one ``Notice`` to one target and returns a ``Delivery``. It never retries and
never sleeps: the durable job that called it does the waiting, so an outage loses nothing and a
worker is never tied up. What went wrong is said with the errors below, which the job runner
maps to "try again later" (with or without counting an attempt) or "dead-letter now".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from receiver.errors import FirebreakError
from receiver.grafana_webhook import NO_GRAFANA_LINKS, GrafanaLinks


class NoticeKind(StrEnum):
    FIRING = "firing"  # alerts need someone: a tier of an escalation policy reached them
    RESOLVED = "resolved"  # alerts that were notified have ended (by Alertmanager or a person)
    DIGEST = "digest"  # what the channel's rate limit held back, summed up in one message
    # Alerts that were notified have been acknowledged; only channels that follow
    # acknowledgements get these (see ``follows_acknowledgements``).
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class NoticeAlert:
    """One alert as a notice shows it."""

    id: int
    fingerprint: str
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    # When Firebreak first saw it; None where a notice is made up (drills, tests).
    first_seen_at: datetime | None = None
    # A Grafana-managed alert's dashboard and panel links and values.
    grafana: GrafanaLinks = NO_GRAFANA_LINKS


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send. ``idempotency_key`` is stable across retries of the same send:
    a channel that can de-duplicate (a receiver of signed webhooks, PagerDuty's dedup_key,
    an SMTP Message-ID) passes it on."""

    kind: NoticeKind
    idempotency_key: str
    alerts: tuple[NoticeAlert, ...]
    group_key: str = ""
    route: str = ""
    escalation_policy: str = ""
    tier: int | None = None  # 0-based tier index for FIRING notices
    repeat: int = 0  # how many times the policy has started over
    suppressed: int = 0  # for DIGEST: notices the rate limit held back
    drill: bool = False
    message: str = ""  # a runbook's own words (a notify step), shown above the alerts
    references: Sequence[str] = field(default_factory=tuple)  # earlier deliveries, to thread
    # Earlier attempts that may have gone out: failed, ended in doubt (cut off at shutdown, the
    # answer lost as the breaker opened), or cut off by a crash. 0: nothing to look for.
    attempt: int = 0
    # For a page to one person (a tier's person, schedule or team entry): their id in
    # ``people``, and their address on this channel (a PagerDuty user id...).
    person: str = ""
    contact: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the far side said: a reference to thread later messages to (message id, ts, key).
    ``alert_references``: where each alert of the notice went on its own, for a channel that
    sends one thing per alert (a PagerDuty dedup_key each); recorded in place of ``reference``
    for the alerts it names."""

    reference: str | None = None
    alert_references: Mapping[int, str] = field(default_factory=dict)


class ChannelError(FirebreakError):
    """The send failed and may work later (5xx, timeout, connection refused): retry with
    backoff, counting an attempt and a circuit-breaker failure."""


class ChannelThrottled(ChannelError):
    """The far side asked us to slow down (HTTP 429): wait ``retry_after`` seconds; this is
    neither a failed attempt nor a breaker failure. ``sent``: part of the notice went out
    before the throttle (a message posted, its follow-up held back), so the send that tries
    again must look for it first."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, sent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.sent = sent


class ChannelRejected(ChannelError):
    """The far side refused this notice for good (HTTP 4xx other than 429, bad address):
    retrying cannot help, so the job is dead-lettered with the reason."""


class Channel(Protocol):
    """A configured channel (``channels.<name>`` in firebreak.yml)."""

    name: str
    kind: str

    async def send(self, notice: Notice, target: str) -> Delivery:
        """Deliver ``notice`` to ``target`` (an address, a URL path, a channel id...; the
        channel's own default when empty). Raises a ``ChannelError`` subclass on failure."""
        ...

    async def close(self) -> None:
        """Release sessions and connections."""
        ...


def follows_acknowledgements(channel: Channel) -> bool:
    """Whether ``channel`` wants ACKNOWLEDGED notices (say, to acknowledge a PagerDuty incident).
    A channel opts in with a class attribute ``follows_acknowledgements = True``; the others
    never see them."""
    return bool(getattr(channel, "follows_acknowledgements", False))
