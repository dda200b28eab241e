"""The ``log`` channel: each notice becomes one structured log line.

Useful as a first channel (nothing to set up), as a fallback that can never fail, and in drills.
The line goes through the normal ``firebreak`` logging setup, so it is JSON or ``key=value``
like every other line. Its fields: ``channel``, ``kind``, ``idempotency_key``, ``alert_count``,
``alertnames`` (comma-separated), ``tier`` (counted from 1, as the console and ``routes test``
count; none for notices other than firing), ``target``, ``drill``, ``suppressed``. Firing
notices log at WARNING (something needs a person), the others at INFO.
"""

from __future__ import annotations

import logging

from receiver.notify.base import Delivery, Notice, NoticeKind
from receiver.notify.render import alertnames

__all__ = ["LogChannel"]


class LogChannel:
    """Writes one log line per notice; the delivery reference is the idempotency key."""

    kind = "log"

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        """``logger`` defaults to ``firebreak.notify``."""
        self.name = name
        self._logger = logger if logger is not None else logging.getLogger("firebreak.notify")

    async def send(self, notice: Notice, target: str) -> Delivery:
        level = logging.WARNING if notice.kind is NoticeKind.FIRING else logging.INFO
        names = alertnames(notice.alerts)
        self._logger.log(
            level,
            "%s notice: %d alert(s)%s",
            notice.kind.value,
            len(notice.alerts),
            " [drill]" if notice.drill else "",
            extra={
                "channel": self.name,
                "kind": notice.kind.value,
                "idempotency_key": notice.idempotency_key,
                "alert_count": len(notice.alerts),
                "alertnames": ",".join(names),
                # People count tiers from one; Notice.tier is the policy's 0-based index.
                "tier": None if notice.tier is None else notice.tier + 1,
                "target": target,
                "drill": notice.drill,
                "suppressed": notice.suppressed,
                **({"message": notice.message} if notice.message else {}),
            },
        )
        return Delivery(reference=notice.idempotency_key)

    async def close(self) -> None:
        """Nothing to release: the logger belongs to the logging setup."""
