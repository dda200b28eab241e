"""The console's heartbeats page: every heartbeat with its state and last beat, a sender's
message shown as text, for viewers and above."""

from __future__ import annotations

from typing import Any

from receiver.config import parse_config
from tests.api.test_heartbeats import BACKUP_TOKEN, HEARTBEATS_CONFIG, started
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth, config_text
from tests.console.conftest import login


async def test_the_page_lists_heartbeats_and_escapes_what_senders_wrote(
    aiohttp_client: Any, sqlite_url: str, manual_clock: ManualClock
) -> None:
    text = HEARTBEATS_CONFIG.format(
        url="http://127.0.0.1:9/hook", backup=BACKUP_TOKEN, nightly="nightly-token-0123456789ab"
    )
    config = parse_config(config_text(sqlite_url, text + "watchdog: {timeout: 10m}\n"), env={})
    client = await started(aiohttp_client, config, manual_clock)
    hostile = "<script>alert(1)</script>"
    resp = await client.post(
        "/api/v1/heartbeats/backup", json={"message": hostile}, headers=auth(BACKUP_TOKEN)
    )
    assert resp.status == 200
    assert (await client.get("/console/heartbeats", allow_redirects=False)).status == 303
    await login(client, VIEWER_TOKEN)
    page = await client.get("/console/heartbeats")
    assert page.status == 200
    html = await page.text()
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for name in ("backup", "nightly", "watchdog"):
        assert f"<code>{name}</code>" in html
    assert "alert <code>Watchdog</code>" in html
    assert 'href="/console/heartbeats"' in html  # in the navigation
    assert BACKUP_TOKEN not in html
