"""A real Alertmanager floods alerts while the Firebreak replica it notifies is SIGKILLed and
started again on the same port and database: Alertmanager's retries must bring every alert it
holds into the store, each exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import Replica, Tally, am_alert, duplicates, scrape, settle
from tests.e2e.conftest import GROUP_INTERVAL, free_port, running_alertmanager

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

GROUPS = 20
ALERTS_PER_POST = 40
POSTS = 10
POST_EVERY = 0.3  # seconds: the flood lasts POSTS * POST_EVERY
KILL_AFTER = 1.2  # seconds into the flood
DOWN_FOR = 1.5  # seconds without a replica before it starts again
SETTLE_TIMEOUT = 30.0


def flood_alert(n: int, starts_at: datetime) -> dict[str, Any]:
    return am_alert(f"Flood{n % GROUPS}", f"node-{n}", starts_at, service="checkout")


def test_sigkill_during_an_alertmanager_flood_loses_and_doubles_nothing(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    alertmanager_bin: str,
    amtool_bin: str,
    replicas: Callable[..., Replica],
    tally: Tally,
) -> None:
    replica = replicas(f"sqlite+aiosqlite:///{tmp_path / 'firebreak.db'}")
    with running_alertmanager(
        request, tmp_path, (alertmanager_bin, amtool_bin), replica.url + "/webhook", free_port()
    ) as manager:
        starts_at = datetime.now(UTC).replace(microsecond=0)
        killer_error: list[BaseException] = []

        def kill_and_restart() -> None:
            try:
                time.sleep(KILL_AFTER)
                replica.kill()
                tally.inject(f"SIGKILL firebreak (pid {replica.proc.pid}) mid-flood")
                time.sleep(DOWN_FOR)
                replica.restart()
                tally.inject(f"firebreak started again on {replica.url} after {DOWN_FOR:g}s down")
            except BaseException as exc:
                killer_error.append(exc)

        killer = threading.Thread(target=kill_and_restart)
        killer.start()
        try:
            sent = 0
            for post in range(POSTS):
                batch = [
                    flood_alert(sent + i, starts_at + timedelta(seconds=post))
                    for i in range(ALERTS_PER_POST)
                ]
                manager.post_alerts(batch)
                sent += len(batch)
                time.sleep(POST_EVERY)
        finally:
            killer.join(30)
        assert not killer_error, killer_error

        held = {a["fingerprint"] for a in manager.alerts()}

        def stored() -> list[str]:
            return [a["fingerprint"] for a in replica.alerts()]

        settled = settle(lambda: held <= set(stored()), SETTLE_TIMEOUT)
        # Two more group intervals of re-sends: still one row per alert.
        time.sleep(2 * GROUP_INTERVAL)
        rows = stored()
        # Every webhook attempt Alertmanager made, retries included, and those that failed.
        posted = scrape(manager.url, "alertmanager_notification_requests_total")
        failed = scrape(manager.url, "alertmanager_notification_requests_failed_total")
        tally.count(
            settled=int(settled),
            sent=sent,
            held_by_alertmanager=len(held),
            webhooks_acknowledged=int(posted - failed),
            webhooks_failed=int(failed),
            stored=len(rows),
            duplicated=duplicates(rows),
            lost=len(held - set(rows)),
        )
    assert len(held) == sent
    assert failed > 0, "the kill did not make any webhook fail: nothing was tested"
    assert duplicates(rows) == 0
    assert held == set(rows)
