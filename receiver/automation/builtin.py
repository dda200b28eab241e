"""Actions Firebreak ships for its own runbooks, registered in the ``firebreak.actions``
entry point group like any team's: ``python`` steps call them by name."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import aiohttp

from receiver.durations import parse_duration

_PAGE = 500


async def retry_dead_letters(
    api_url: str, token: str, max_age: str = "6h", archive: str = "dead-letters.jsonl"
) -> dict[str, Any]:
    """Retry the dead-lettered jobs that died within ``max_age`` (a passing outage); append
    the older ones to the ``archive`` JSON-lines file (once each) for a person to look at."""
    horizon = datetime.now(UTC) - parse_duration(max_age)
    archived_before = _archived_ids(archive)
    retried: list[int] = []
    archived: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}
    base = api_url.rstrip("/")
    async with aiohttp.ClientSession(headers=headers) as http:
        dead = await _dead_jobs(http, base)
        for job in dead:
            finished = job.get("finished_at") or job["created_at"]
            if datetime.fromisoformat(finished.replace("Z", "+00:00")) >= horizon:
                async with http.post(f"{base}/api/v1/jobs/{job['id']}/retry") as response:
                    if response.status == 200:
                        retried.append(job["id"])
            elif job["id"] not in archived_before:
                _append(archive, job)
                archived.append(job["id"])
    return {"dead": len(dead), "retried": retried, "archived": archived}


async def _dead_jobs(http: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url: str | None = f"{base}/api/v1/jobs?state=dead&limit={_PAGE}"
    while url is not None:
        async with http.get(url) as response:
            response.raise_for_status()
            page = await response.json()
        found += page["jobs"]
        cursor = page.get("next_cursor")
        url = f"{base}/api/v1/jobs?state=dead&limit={_PAGE}&cursor={cursor}" if cursor else None
    return found


def _append(path: str, job: dict[str, Any]) -> None:
    """One line per archived job; small, local and rare enough to write in the loop."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(job, sort_keys=True) + "\n")


def _archived_ids(path: str) -> set[int]:
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as file:
        return {json.loads(line)["id"] for line in file if line.strip()}
