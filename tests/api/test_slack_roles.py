"""Roles from Slack ids and user groups, asked of the Slack fake through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from receiver.config import parse_config
from receiver.model import Role
from receiver.slack.roles import SlackRoles
from tests.fakes.slack import SlackFake
from tests.slack_helpers import BOT_TOKEN


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(token=BOT_TOKEN, user_groups={"S0ONCALL": ["U0GINA"]}) as fake:
        yield fake


def roles(slack: SlackFake, extra: str = "", clock: list[float] | None = None) -> SlackRoles:
    text = f"""
slack:
  bot_token: {BOT_TOKEN}
  signing_secret: s
  users: {{U0ALICE: admin, U0VIC: viewer}}
  user_groups: {{S0ONCALL: responder, S0GONE: admin}}
{extra}
"""
    config = parse_config(text, source="t.yml", env={})
    assert config.slack is not None
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    now = clock if clock is not None else [0.0]
    return SlackRoles(config.slack, client, clock=lambda: now[0])


async def test_roles_by_id_by_group_and_default(slack: SlackFake) -> None:
    plain = roles(slack)
    assert await plain.role_of("U0ALICE") is Role.ADMIN
    assert await plain.role_of("U0GINA") is Role.RESPONDER
    assert await plain.role_of("U0VIC") is Role.VIEWER  # not in a group that grants more
    assert await plain.role_of("U0NOBODY") is None
    everyone = roles(slack, "  default_role: viewer")
    assert await everyone.role_of("U0NOBODY") is Role.VIEWER
    assert await everyone.role_of("U0GINA") is Role.RESPONDER
    assert await plain.is_member("U0GINA", ("U0ALICE", "S0ONCALL"))
    assert not await plain.is_member("U0VIC", ("U0ALICE", "S0ONCALL"))


async def test_group_members_are_cached_and_a_failing_lookup_grants_nothing(
    slack: SlackFake,
) -> None:
    clock = [0.0]
    cached = roles(slack, clock=clock)
    assert await cached.role_of("U0NOBODY") is None  # asks S0ONCALL, and S0GONE which fails
    assert await cached.role_of("U0NOBODY") is None
    asked = [c.args["usergroup"] for c in slack.calls if c.method == "usergroups.users.list"]
    assert asked == ["S0ONCALL", "S0GONE", "S0GONE"]  # a failure is not cached; members are
    slack.user_groups["S0ONCALL"].append("U0NEW")
    assert await cached.role_of("U0NEW") is None  # still the cached membership
    clock[0] += 301
    assert await cached.role_of("U0NEW") is Role.RESPONDER
