"""What the paging tests share: people with Slack and email addresses, a configuration that
pages them through the Slack fake and a real SMTP server on loopback, and the application on
the manual clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth
from tests.fakes.slack import SlackFake
from tests.fakes.smtp import FakeSmtpServer
from tests.slack_helpers import slack_section

ALICE = "U0PALICE"
BOB = "U0PBOB"

PEOPLE = f"""
people:
  - {{id: alice, name: Alice Ng, email: alice@example.com, slack_user_id: {ALICE}}}
  - {{id: bob, name: Bob Ruiz, email: bob@example.com, slack_user_id: {BOB}}}
  - {{id: mute, name: Nobody Home}}
"""


@dataclass(frozen=True, slots=True)
class Outside:
    """What lies outside Firebreak in a paging test: Slack, a mail server trusted through
    ``ca_file``, and a way to start Firebreak on the test's database and manual clock."""

    slack: SlackFake
    smtp: FakeSmtpServer
    ca_file: str
    start: Callable[[str], Awaitable[Any]]

    def config(self, tiers: str, extra: str = "") -> str:
        return paging_config(self.slack, self.smtp, self.ca_file, tiers, extra)

    async def run(self, tiers: str, extra: str = "") -> Any:
        """Firebreak started with ``tiers`` for the policy ``oncall``."""
        return await self.start(self.config(tiers, extra))


def paging_config(
    slack: SlackFake, smtp: FakeSmtpServer, ca_file: str, tiers: str, extra: str = ""
) -> str:
    """Slack (alerts to CHANNEL, DMs to people) and email through ``smtp``; the policy
    ``oncall`` has ``tiers`` (YAML flow sequences, one per line)."""
    return f"""{slack_section(slack)}
channels:
  chat:
    type: slack
    rate_limit: {{per_minute: 600, burst: 100}}
  mail:
    type: email
    email:
      host: {smtp.host}
      port: {smtp.port}
      username: alerts
      password: "correct horse"
      sender: "Firebreak <firebreak@example.com>"
      ca_file: "{ca_file}"
      timeout: 5s
paging: {{slack: chat, email: mail}}
{PEOPLE}
escalation_policies:
  oncall:
    tiers:
{tiers}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s}}
jobs: {{workers: 4, lease: 30s, max_attempts: 6, backoff_initial: 1s, backoff_max: 10s,
        poll_interval: 200ms}}
{extra}
"""


def starter(
    aiohttp_client: Any, make_config: Any, db_url: str, manual_clock: ManualClock
) -> Callable[[str], Awaitable[Any]]:
    """Start an application on the test's database and the manual clock with a config text."""

    async def run(text: str) -> Any:
        app = create_app(
            make_config(db_url, text),
            clock=manual_clock,
            monotonic=manual_clock.monotonic,
            registry=CollectorRegistry(),
        )
        client = await aiohttp_client(app)
        manual_clock.watch(app)
        return client

    return run


async def detail(client: Any, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def only_alert(client: Any) -> int:
    resp = await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))
    [found] = (await resp.json())["alerts"]
    return int(found["id"])


def mail_to(smtp: FakeSmtpServer, address: str) -> list[Any]:
    return [m for m in smtp.messages if address in m.rcpt_tos]
