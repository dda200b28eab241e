"""A client of Alertmanager's v2 HTTP API: the alerts it holds, its status, and silences.

Only what Firebreak asks of Alertmanager lives here; every answer is turned into domain values
(``AlertSnapshot``) at this edge, and every failure into ``AlertmanagerUnavailable`` (try again
later) or ``AlertmanagerRejected`` (the request itself was refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.config import AlertmanagerConfig
from receiver.errors import FirebreakError
from receiver.matchers import Matcher, MatchOp
from receiver.model import AlertSnapshot, AlertStatus
from receiver.upstream import Upstream


class AlertmanagerUnavailable(FirebreakError):
    """Alertmanager could not be reached or answered with a server error: try again later."""


class AlertmanagerRejected(FirebreakError):
    """Alertmanager refused the request (4xx): retrying the same request cannot help."""


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """One alert Alertmanager holds, and whether it is notified (not silenced or inhibited)."""

    snapshot: AlertSnapshot
    state: str  # active, suppressed or unprocessed
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlertGroup:
    labels: Mapping[str, str]
    receiver: str
    alerts: tuple[ActiveAlert, ...]


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence Alertmanager holds: its id, its comment and its state (active, pending or
    expired)."""

    id: str
    comment: str
    state: str
    # What it silences and until when, as Alertmanager gave them (``api_matcher``'s shape).
    matchers: tuple[Mapping[str, object], ...] = ()
    ends_at: str = ""
    created_by: str = ""


class AlertmanagerClient:
    """Alertmanager's ``/api/v2``; one shared HTTP session, closed by whoever made it."""

    def __init__(self, config: AlertmanagerConfig, session: aiohttp.ClientSession) -> None:
        self._base = config.url.rstrip("/") + "/api/v2"
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=config.timeout.total_seconds())
        self._upstream = Upstream.of(
            bearer_token=config.bearer_token, basic_auth=config.basic_auth, ca_file=config.ca_file
        )

    async def _request(
        self, method: str, path: str, *, params: Any = None, body: Any = None
    ) -> Any:
        try:
            async with self._session.request(
                method,
                self._base + path,
                params=params,
                json=body,
                headers=self._upstream.headers,
                auth=self._upstream.auth,
                timeout=self._timeout,
                ssl=self._upstream.ssl,
                allow_redirects=False,
            ) as resp:
                text = await resp.text()
                if resp.status >= 500 or resp.status in (408, 429):
                    raise AlertmanagerUnavailable(f"{method} {path}: HTTP {resp.status}")
                if resp.status >= 300:
                    raise AlertmanagerRejected(
                        f"{method} {path}: HTTP {resp.status}: {text.strip()[:300]}"
                    )
                return await resp.json(content_type=None) if text else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertmanagerUnavailable(
                f"{method} {path}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from None
        except ValueError as exc:  # a body that is not JSON
            raise AlertmanagerUnavailable(f"{method} {path}: unreadable answer: {exc}") from None

    async def uptime(self, now: datetime) -> timedelta:
        """How long Alertmanager has been running (``GET /status``)."""
        status = await self._request("GET", "/status")
        try:
            return now - parse_rfc3339(status["uptime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AlertmanagerUnavailable(f"GET /status: unexpected answer: {exc}") from None

    async def alerts(self, receiver: str | None = None) -> list[ActiveAlert]:
        """Every alert Alertmanager holds (active, silenced, inhibited and unprocessed),
        optionally only those routed to ``receiver``."""
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        if receiver is not None:
            params["receiver"] = f"^(?:{_regex_literal(receiver)})$"
        return [
            _active_alert(raw)
            for raw in _list(await self._request("GET", "/alerts", params=params))
        ]

    async def groups(self, receiver: str) -> list[AlertGroup]:
        """The alert groups of ``receiver``, as Alertmanager groups them for notification."""
        params = {"receiver": f"^(?:{_regex_literal(receiver)})$"}
        groups = []
        for raw in _list(await self._request("GET", "/alerts/groups", params=params)):
            try:
                groups.append(
                    AlertGroup(
                        labels=dict(raw.get("labels") or {}),
                        receiver=str((raw.get("receiver") or {}).get("name", "")),
                        alerts=tuple(_active_alert(a) for a in _list(raw.get("alerts"))),
                    )
                )
            except AttributeError as exc:
                raise AlertmanagerUnavailable(
                    f"GET /alerts/groups: unexpected answer: {exc}"
                ) from None
        return groups

    async def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; ``matchers`` in the API's shape (name, value, isRegex, isEqual).
        Returns its id."""
        body = {
            "matchers": list(matchers),
            "startsAt": format_rfc3339(starts_at),
            "endsAt": format_rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = await self._request("POST", "/silences", body=body)
        try:
            return str(answer["silenceID"])
        except (KeyError, TypeError) as exc:
            raise AlertmanagerUnavailable(f"POST /silences: unexpected answer: {exc}") from None

    async def silences(self) -> list[Silence]:
        """Every silence Alertmanager holds, expired ones included (``GET /silences``)."""
        found = []
        for raw in _list(await self._request("GET", "/silences")):
            try:
                found.append(
                    Silence(
                        id=str(raw["id"]),
                        comment=str(raw.get("comment") or ""),
                        state=str((raw.get("status") or {}).get("state", "")),
                        matchers=tuple(dict(m) for m in raw.get("matchers") or ()),
                        ends_at=str(raw.get("endsAt") or ""),
                        created_by=str(raw.get("createdBy") or ""),
                    )
                )
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise AlertmanagerUnavailable(
                    f"GET /silences: unexpected answer: {exc!r}"
                ) from None
        return found

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence; one that is gone or expired already counts as expired."""
        try:
            await self._request("DELETE", f"/silence/{silence_id}")
        except AlertmanagerRejected as exc:
            if "404" not in str(exc):
                raise


def api_matcher(matcher: Matcher) -> dict[str, object]:
    """A matcher in the shape of Alertmanager's v2 API (``name``, ``value``, ``isRegex``,
    ``isEqual``)."""
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.op in (MatchOp.RE, MatchOp.NRE),
        "isEqual": matcher.op in (MatchOp.EQ, MatchOp.RE),
    }


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise AlertmanagerUnavailable(
            f"expected a JSON list from Alertmanager, got {type(value).__name__}"
        )
    return value


def _active_alert(raw: Any) -> ActiveAlert:
    try:
        ends = raw.get("endsAt")
        status = raw.get("status") or {}
        snapshot = AlertSnapshot(
            status=AlertStatus.FIRING,
            labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
            starts_at=parse_rfc3339(raw["startsAt"]),
            ends_at=parse_rfc3339(ends) if ends else None,
            generator_url=str(raw.get("generatorURL") or ""),
            fingerprint=str(raw["fingerprint"]),
        )
        receivers = tuple(str(r.get("name", "")) for r in raw.get("receivers") or ())
        return ActiveAlert(snapshot, str(status.get("state", "active")), receivers)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AlertmanagerUnavailable(f"unexpected alert from Alertmanager: {exc!r}") from None


def _regex_literal(text: str) -> str:
    """``text`` as a regular expression matching only itself (Go's RE2 syntax)."""
    return "".join("\\" + c if c in r"\.+*?()|[]{}^$" else c for c in text)
