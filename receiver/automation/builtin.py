"""Actions Firebreak ships for its own runbooks, registered in the ``firebreak.actions`` entry
point group like any team's: ``python`` steps call them by name.

The dead-letter actions work on Firebreak's job queue through the ``DeadLetters`` service of
their context, as ``POST /api/v1/jobs/{id}/retry`` does: no HTTP call back into Firebreak and
no admin token in a runbook, so no parameter can send one elsewhere. The only file they write
is ``automation.dead_letter_archive``, from the configuration.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from receiver.automation.actions import ActionContext
from receiver.deadletters import DeadLetters
from receiver.durations import parse_duration
from receiver.errors import Conflict
from receiver.model import Job

_POLL_SECONDS = 0.2


async def retry_dead_letters(max_age: str = "6h", *, firebreak: ActionContext) -> dict[str, Any]:
    """Retry the dead-lettered jobs that died within ``max_age`` (a passing outage); leave the
    older ones to a person, appended (once each) to ``automation.dead_letter_archive`` when it
    is set."""
    queue = _queue(firebreak)
    horizon = firebreak.now() - parse_duration(max_age)
    archive = firebreak.settings.get("archive")
    archived_before = _archived_ids(archive) if archive else set()
    dead = await queue.dead()
    retried: list[int] = []
    left: list[int] = []
    archived: list[int] = []
    for job in sorted(dead, key=lambda j: j.id):
        if _died_at(job) >= horizon:
            try:
                await queue.retry(job.id)
            except Conflict:  # retried by someone else meanwhile
                continue
            retried.append(job.id)
            continue
        left.append(job.id)
        if archive and job.id not in archived_before:
            _append(archive, job)
            archived.append(job.id)
    return {"dead": len(dead), "retried": retried, "left": left, "archived": archived}


async def dead_letters_settled(
    retried: str = "", max_age: str = "6h", wait: str = "30s", *, firebreak: ActionContext
) -> dict[str, Any]:
    """Check a recovery worked: each job ``retried`` (ids, comma-separated) finishes within
    ``wait`` without dying again, and afterwards no job that died within ``max_age`` is left
    in the dead-letter queue. Raises (the step fails) naming the jobs when not."""
    queue = _queue(firebreak)
    ids = [int(part) for part in retried.split(",") if part.strip()]
    deadline = firebreak.monotonic() + parse_duration(wait).total_seconds()
    while True:
        jobs = await queue.jobs(ids)
        again = [job for job in jobs.values() if job.state == "dead"]
        if again:
            raise RuntimeError(
                "dead-lettered again: "
                + "; ".join(f"job {j.id} ({j.kind}): {j.last_error}" for j in again)
            )
        unfinished = sorted(i for i, job in jobs.items() if job.state != "done")
        if not unfinished:
            break
        if firebreak.monotonic() >= deadline:
            raise RuntimeError(f"jobs {unfinished} had not run within {wait}")
        await asyncio.sleep(_POLL_SECONDS)
    horizon = firebreak.now() - parse_duration(max_age)
    recent = sorted(job.id for job in await queue.dead() if _died_at(job) >= horizon)
    if recent:
        raise RuntimeError(f"jobs {recent} died within {max_age} and are still dead")
    return {"done": sorted(ids), "dead_within_max_age": 0}


def _queue(context: ActionContext) -> DeadLetters:
    if context.dead_letters is None:
        raise RuntimeError("this action runs inside the Firebreak server only")
    return context.dead_letters


def _died_at(job: Job) -> Any:
    return job.finished_at or job.created_at


def _append(path: str, job: Job) -> None:
    """One line per archived job; small, local and rare enough to write in the loop."""
    record = {
        "id": job.id,
        "kind": job.kind,
        "payload": job.payload,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(record, sort_keys=True) + "\n")


def _archived_ids(path: str) -> set[int]:
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as file:
        return {json.loads(line)["id"] for line in file if line.strip()}
