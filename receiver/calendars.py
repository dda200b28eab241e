"""The calendars of schedules that take their shifts from iCalendar (``ical``): files read and
URLs fetched, each parsed into a ``receiver.oncall.Calendar``; the last good copy is kept when
a fetch fails, and ``status()`` says so for ``/health/detailed``.

A URL comes from the configuration only, is fetched through the guarded HTTP client
(``oncall.ical_hosts``; redirects not followed) and read again every ``oncall.ical_refresh``.
Nobody asking "who is on call" waits for a fetch once a copy is there: a stale copy is
answered from while a fresh one is fetched in the background.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from receiver.alertmanager import format_rfc3339
from receiver.config import Config, ScheduleConfig
from receiver.errors import InvalidInput
from receiver.model import Clock
from receiver.oncall.ical import Calendar

log = logging.getLogger("firebreak.calendars")

Fetch = Callable[[str], Awaitable[bytes]]

# A calendar is text: a few hundred kilobytes for years of shifts. Anything much larger is
# not one we want to parse on every refresh.
MAX_CALENDAR_BYTES = 5 * 1024 * 1024


async def no_fetch(url: str) -> bytes:
    raise OSError("no HTTP client for calendars")


@dataclass
class _Copy:
    """One schedule's calendar: the last good parse, and how the last attempt went."""

    calendar: Calendar | None = None
    loaded_at: datetime | None = None
    attempted_at: datetime | None = None
    error: str | None = None
    mtime: float | None = None


class Calendars:
    """Every ``ical`` schedule's calendar, kept fresh."""

    def __init__(self, config: Config, clock: Clock, fetch: Fetch = no_fetch) -> None:
        self._config = config
        self._clock = clock
        self._fetch = fetch
        self._base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
        self._schedules = {s.id: s for s in config.schedules if s.ical is not None}
        self._copies = {sid: _Copy() for sid in self._schedules}
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    def __bool__(self) -> bool:
        return bool(self._schedules)

    def current(self) -> Mapping[str, Calendar]:
        """The last good copy of each calendar (none for one never read)."""
        return {sid: c.calendar for sid, c in self._copies.items() if c.calendar is not None}

    async def ensure(self) -> None:
        """Read what was never read (waiting for it), and refresh what is stale in the
        background."""
        if not self._schedules:
            return
        if any(c.attempted_at is None for c in self._copies.values()):
            await self.refresh()
        elif self._stale():
            self.start()

    def start(self) -> None:
        """Refresh what is due in the background (at start and after a reload: read all)."""
        if self._schedules and not self._background:
            task = asyncio.get_running_loop().create_task(self.refresh())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _stale(self) -> bool:
        now = self._clock()
        every = self._config.oncall.ical_refresh
        return any(
            c.attempted_at is None or now - c.attempted_at >= every for c in self._copies.values()
        )

    async def refresh(self, *, force: bool = False) -> None:
        """Read every calendar due (all of them with ``force``), one refresh at a time."""
        async with self._lock:
            now = self._clock()
            every = self._config.oncall.ical_refresh
            for sid, schedule in self._schedules.items():
                copy = self._copies[sid]
                if not force and copy.attempted_at is not None and now - copy.attempted_at < every:
                    continue
                await self._read(schedule, copy)

    async def _read(self, schedule: ScheduleConfig, copy: _Copy) -> None:
        source = schedule.ical or ""
        copy.attempted_at = self._clock()
        try:
            if source.startswith(("http://", "https://")):
                text = await self._fetch(source)
            else:
                path = os.path.join(self._base, source)
                mtime = os.stat(path).st_mtime
                if copy.calendar is not None and mtime == copy.mtime:
                    copy.error = None
                    return
                text = await asyncio.to_thread(_read_file, path)
                copy.mtime = mtime
            calendar = Calendar(text, ZoneInfo(schedule.time_zone), self._config.people)
        except (TimeoutError, OSError, InvalidInput) as exc:
            copy.error = _describe(exc)
            log.warning(
                "calendar of schedule %s not read (%s); %s",
                schedule.id,
                copy.error,
                "the last good copy stays" if copy.calendar else "it has no shifts until read",
            )
            return
        copy.calendar, copy.loaded_at, copy.error = calendar, self._clock(), None

    def status(self) -> dict[str, Any] | None:
        """For ``/health/detailed``: each calendar's last good copy and last failure; None
        when no schedule has one."""
        if not self._schedules:
            return None
        entries = []
        for sid, schedule in self._schedules.items():
            copy = self._copies[sid]
            entries.append(
                {
                    "schedule": sid,
                    "source": _shown_source(schedule.ical or ""),
                    "status": "ok" if copy.error is None and copy.calendar else "degraded",
                    "loaded_at": format_rfc3339(copy.loaded_at) if copy.loaded_at else None,
                    "error": copy.error,
                    "using_last_good_copy": copy.error is not None and copy.calendar is not None,
                }
            )
        degraded = any(e["status"] != "ok" for e in entries)
        return {"status": "degraded" if degraded else "ok", "calendars": entries}

    def unknown_names(self, schedule_id: str) -> set[str]:
        """Attendees and summaries of the calendar's events that name nobody in ``people``."""
        copy = self._copies.get(schedule_id)
        return set(copy.calendar.unknown) if copy and copy.calendar else set()

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as file:
        data = file.read(MAX_CALENDAR_BYTES + 1)
    if len(data) > MAX_CALENDAR_BYTES:
        raise OSError(f"larger than {MAX_CALENDAR_BYTES} bytes")
    return data


def _shown_source(source: str) -> str:
    """A source as health may show it: a URL by its host only (its path and query often
    carry the calendar's access token), a file by its path."""
    if source.startswith(("http://", "https://")):
        parts = urlsplit(source)
        return f"{parts.scheme}://{parts.hostname}/…"
    return source


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)[:300] or type(exc).__name__
