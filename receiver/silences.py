"""Alertmanager silences through its v2 API (``POST /api/v2/silences``).

The request body is Alertmanager's ``postableSilence``: ``matchers`` (each ``name``, ``value``,
``isRegex``, ``isEqual``), ``startsAt``, ``endsAt``, ``createdBy`` and ``comment``; the answer is
``{"silenceID": "..."}``. Alertmanager refuses a silence without a comment or matchers with 400
and says why in the body, which is passed on to the person who asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import aiohttp

from receiver.alertmanager import format_rfc3339
from receiver.errors import FirebreakError
from receiver.matchers import Matcher, MatchOp

__all__ = ["AlertmanagerSilences", "SilenceError", "silence_body"]

_TIMEOUT: Final = aiohttp.ClientTimeout(total=2.5)  # a Slack command waits on it
_ERROR_CHARS: Final = 300


class SilenceError(FirebreakError):
    """Alertmanager could not be reached or refused the silence; the message says which."""


def silence_body(
    matchers: Sequence[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
) -> dict[str, object]:
    """The ``postableSilence`` document for ``matchers`` between the two times."""
    return {
        "matchers": [
            {
                "name": m.name,
                "value": m.value,
                "isRegex": m.op in (MatchOp.RE, MatchOp.NRE),
                "isEqual": m.op in (MatchOp.EQ, MatchOp.RE),
            }
            for m in matchers
        ],
        "startsAt": format_rfc3339(starts_at),
        "endsAt": format_rfc3339(ends_at),
        "createdBy": created_by,
        "comment": comment,
    }


class AlertmanagerSilences:
    """Creates silences on one Alertmanager (``slack.alertmanager_url``)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self._url = url.rstrip("/") + "/api/v2/silences"
        self._session = session

    async def create(
        self,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """The new silence's id."""
        body = silence_body(matchers, starts_at, ends_at, created_by, comment)
        try:
            async with self._session.post(self._url, json=body, timeout=_TIMEOUT) as response:
                text = (await response.text())[:_ERROR_CHARS]
                if response.status != 200:
                    detail = " ".join(text.split())
                    raise SilenceError(
                        f"Alertmanager refused the silence (HTTP {response.status}): {detail}"
                    )
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SilenceError(
                f"Alertmanager is unreachable: {exc or type(exc).__name__}"
            ) from None
        silence_id = document.get("silenceID") if isinstance(document, dict) else None
        if not isinstance(silence_id, str):
            raise SilenceError("Alertmanager answered without a silenceID")
        return silence_id
