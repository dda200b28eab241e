"""Links a notice carries back to Firebreak: the console page of each alert and, when
acknowledge links are configured, a signed link to acknowledge it (see docs/teams.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from receiver.acklinks import LinkSigner
from receiver.notify.base import Notice, NoticeAlert

__all__ = ["AckLinker", "NoticeLinks"]


@dataclass(frozen=True, slots=True)
class NoticeLinks:
    """Where a person goes from a notice. Channels that show links (Teams, e-mail) take one."""

    # Firebreak as people reach it (notifications.external_url); None: no console links.
    external_url: str | None = None
    # A signed acknowledge link for ``alert`` of ``notice`` (bound to the notice's person, else
    # the channel); None when acknowledge links are not configured.
    acknowledge: Callable[[Notice, NoticeAlert], str | None] | None = None

    def console(self, alert: NoticeAlert) -> str | None:
        """The console page of ``alert``."""
        if not self.external_url:
            return None
        return f"{self.external_url.rstrip('/')}/console/alerts/{alert.id}"

    def acknowledge_url(self, notice: Notice, alert: NoticeAlert) -> str | None:
        """The acknowledge link of ``alert``, for a firing notice only."""
        if self.acknowledge is None or notice.kind.value != "firing":
            return None
        return self.acknowledge(notice, alert)


@dataclass(frozen=True, slots=True)
class AckLinker:
    """Makes a channel's acknowledge links: bound to the notice's person when it pages one,
    else to the channel, valid for ``ttl`` from when the notice is rendered."""

    signer: LinkSigner
    external_url: str
    channel: str
    ttl: timedelta
    clock: Callable[[], datetime]

    def __call__(self, notice: Notice, alert: NoticeAlert) -> str | None:
        actor = f"person:{notice.person}" if notice.person else f"channel:{self.channel}"
        try:
            token = self.signer.token(alert.id, actor, self.clock() + self.ttl)
        except ValueError:  # a name a link cannot carry: no link rather than a wrong one
            return None
        return f"{self.external_url.rstrip('/')}/ack/{token}"
