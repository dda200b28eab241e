"""A maintenance window holds runbooks back too: an alert it matches starts no automatic
runbook while it is open, and starts it, once, when the window closes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from receiver.alertmanager import format_rfc3339
from tests.automation.conftest import PAUSE, executions
from tests.clock import ManualClock
from tests.conftest import WEBHOOK_TOKEN, auth
from tests.payloads import alert, webhook


async def test_an_automatic_runbook_waits_for_the_window_to_close(
    start: Any, manual_clock: ManualClock
) -> None:
    end = manual_clock() + timedelta(minutes=20)
    window = f"""
maintenance:
  - name: disks
    match: 'alertname="DiskFull"'
    reason: disk swap
    owner: ops
    start: "{format_rfc3339(manual_clock())}"
    end: "{format_rfc3339(end)}"
"""
    client = await start(PAUSE, extra=window, clock=manual_clock)
    payload = webhook(alert("DiskFull"), alert("Other"))
    assert (await client.post("/webhook", json=payload, headers=auth(WEBHOOK_TOKEN))).status == 200
    await manual_clock.settle()
    assert await executions(client) == []  # held: nothing started
    await manual_clock.advance(timedelta(minutes=20) - timedelta(seconds=1))
    assert await executions(client) == []
    await manual_clock.advance(timedelta(seconds=1))
    started = await executions(client)
    assert [(e["runbook"], e["trigger"]) for e in started] == [("pause", "auto")]
    await manual_clock.advance(timedelta(minutes=30))
    assert len(await executions(client)) == 1  # started once
