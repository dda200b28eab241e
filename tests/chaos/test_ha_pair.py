"""Two Firebreak replicas on one PostgreSQL database behind an Alertmanager HA pair: each
Alertmanager notifies its own replica, so every group arrives twice, at nearly the same moment,
at two processes committing to the same rows. Still one occurrence per alert and one
notification per alert."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import (
    RecordingReceiver,
    Replica,
    Tally,
    am_alert,
    duplicates,
    scrape,
    settle,
    webhook_channel,
)
from tests.e2e.conftest import (
    GROUP_INTERVAL,
    Alertmanager,
    free_port,
    running_alertmanager,
)

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.postgres]

GROUPS = 10
ALERTS = 200
POSTS = 4
SETTLE_TIMEOUT = 40.0


def ha_alert(n: int, starts_at: datetime) -> dict[str, Any]:
    return am_alert(f"Pair{n % GROUPS}", f"db-{n}", starts_at, service="payments")


def cluster_flags(listen: int, peer: int) -> tuple[str, ...]:
    return (
        f"--cluster.listen-address=127.0.0.1:{listen}",
        f"--cluster.advertise-address=127.0.0.1:{listen}",
        f"--cluster.peer=127.0.0.1:{peer}",
        # The second member does not wait for the first's notification to be gossiped, so
        # both members notify a new group and both replicas ingest it at the same moment.
        "--cluster.peer-timeout=0s",
        "--cluster.gossip-interval=50ms",
        "--cluster.pushpull-interval=1s",
        "--cluster.settle-timeout=2s",
    )


def test_ha_pair_into_two_replicas_stores_and_notifies_each_alert_once(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    alertmanager_bin: str,
    amtool_bin: str,
    pg_url: str,
    receiver: RecordingReceiver,
    replicas: Callable[..., Replica],
    tally: Tally,
) -> None:
    extra = webhook_channel(receiver.url, lease="10s")
    pair = [replicas(pg_url, extra, name=f"replica-{x}") for x in "ab"]
    gossip = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        managers: list[Alertmanager] = [
            stack.enter_context(
                running_alertmanager(
                    request,
                    tmp_path,
                    (alertmanager_bin, amtool_bin),
                    pair[i].url + "/webhook",
                    free_port(),
                    name=f"alertmanager-{i + 1}",
                    cluster=cluster_flags(gossip[i], gossip[1 - i]),
                )
            )
            for i in range(2)
        ]
        tally.inject(
            f"Alertmanager HA pair gossiping on 127.0.0.1:{gossip[0]} and :{gossip[1]}, "
            f"each notifying its own replica ({pair[0].url}, {pair[1].url}) on one database"
        )
        starts_at = datetime.now(UTC).replace(microsecond=0)
        alerts = [ha_alert(n, starts_at) for n in range(ALERTS)]
        for post in range(POSTS):
            batch = alerts[post::POSTS]
            for manager in managers:  # as Prometheus does: every alert to every member
                manager.post_alerts(batch)
            time.sleep(0.5)
        held = {a["fingerprint"] for a in managers[0].alerts()}

        def stored() -> list[str]:
            return [a["fingerprint"] for a in pair[0].alerts()]

        settled = settle(
            lambda: held <= set(stored()) and held <= set(receiver.per_alert()), SETTLE_TIMEOUT
        )
        # Two more group intervals of re-sends from both members.
        time.sleep(2 * GROUP_INTERVAL + 1)
        rows = stored()
        per_alert = receiver.per_alert()
        keys = [d.key for d in receiver.delivered()]
        posted = [scrape(m.url, "alertmanager_notification_requests_total") for m in managers]
        failed = [
            scrape(m.url, "alertmanager_notification_requests_failed_total") for m in managers
        ]
        answered_503 = sum(
            scrape(r.url, "firebreak_webhook_requests_total", code="503") for r in pair
        )
        tally.count(
            settled=int(settled),
            sent=ALERTS,
            held_by_alertmanager=len(held),
            webhooks_to_replica_a=int(posted[0]),
            webhooks_to_replica_b=int(posted[1]),
            webhooks_acknowledged=int(sum(posted) - sum(failed)),
            webhooks_answered_503=int(answered_503),
            stored=len(rows),
            duplicated=duplicates(rows),
            lost=len(held - set(rows)),
            notifications=sum(per_alert.values()),
            notifications_duplicated=sum(n - 1 for n in per_alert.values()),
            notification_keys_repeated=duplicates(keys),
            notifications_lost=len(held - set(per_alert)),
        )
    assert len(held) == ALERTS
    assert min(posted) > 0, "one Alertmanager never notified its replica: nothing was tested"
    assert duplicates(rows) == 0 and held == set(rows)
    assert set(per_alert) == held and set(per_alert.values()) == {1}
    assert duplicates(keys) == 0
    assert answered_503 == 0, "concurrent ingest on PostgreSQL answered 503"
