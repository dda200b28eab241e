"""The ``slack`` section and ``type: slack`` channels, as ``firebreak check-config`` says."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from receiver.cli import main
from receiver.config import parse_config
from receiver.model import Role

GOOD = """
slack:
  bot_token: "${SLACK_BOT_TOKEN}"
  signing_secret: "${SLACK_SIGNING_SECRET}"
  default_channel: C0ALERTS
  users: {U0ALICE: responder, W0BOB: admin}
  user_groups: {S0ONCALL: responder}
  runbook_approvers: {restart-db: [U0ALICE, S0DBA]}
channels:
  chat: {type: slack}
  escalate: {type: slack, slack: {channel: C0ESCALATE}}
escalation_policies:
  oncall:
    tiers:
      - {notify: [chat]}
      - {after: 5m, notify: [escalate, {channel: chat, target: G0PRIVATE}]}
routes: [{escalation_policy: oncall}]
"""
ENV = {"SLACK_BOT_TOKEN": "xoxb-123-456-abc", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd"}


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "firebreak.yml"
    path.write_text(text)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        code = main(["check-config", "--config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_slack_setup_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, GOOD, capsys)
    assert code == 0, out
    assert "  slack: /firebreak at /slack/events, 2 users, 1 user groups" in out
    for secret in ENV.values():
        assert secret not in out
    config = parse_config(GOOD, source="f.yml", env=ENV)
    assert config.slack is not None
    assert config.slack.users["W0BOB"] is Role.ADMIN
    assert config.slack.bot_token == ENV["SLACK_BOT_TOKEN"]
    assert config.slack.message_interval.total_seconds() == 1.0


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ('bot_token: "${SLACK_BOT_TOKEN}"', "bot_token: xoxp-user"),
            "3:3: slack.bot_token: expected a bot token starting with xoxb-",
        ),
        (
            ("default_channel: C0ALERTS", 'default_channel: "#alerts"'),
            "5:3: slack.default_channel: expected a Slack channel id such as C0123ABCD (not a "
            "#name)",
        ),
        (
            ("U0ALICE: responder", "alice: responder"),
            "6:11: slack.users.alice: expected a Slack user id such as U0123ABCD",
        ),
        (
            ("S0ONCALL: responder", "oncall: responder"),
            "7:17: slack.user_groups.oncall: expected a Slack user group id such as S0123ABCD",
        ),
        (
            ("W0BOB: admin", "W0BOB: root"),
            "6:31: slack.users.W0BOB: expected one of viewer, responder, admin",
        ),
        (
            ("[U0ALICE, S0DBA]", "[U0ALICE, dba]"),
            "8:45: slack.runbook_approvers.restart-db[1]: "
            "expected a Slack user (U…) or user group (S…) id",
        ),
        (
            ("default_channel: C0ALERTS", "path: /api/v1/slack"),
            "5:3: slack.path: is one of Firebreak's own paths",
        ),
        (
            ("default_channel: C0ALERTS", "command: firebreak"),
            "5:3: slack.command: expected a slash command such as /firebreak",
        ),
        (
            ("target: G0PRIVATE", 'target: "#private"'),
            "16:56: escalation_policies.oncall.tiers[1].notify[1].target: expected a Slack "
            "channel id",
        ),
        (
            ("  default_channel: C0ALERTS\n", ""),
            '14:19: escalation_policies.oncall.tiers[0].notify[0]: channel "chat" has no '
            "slack.channel "
            "and slack.default_channel is not set, so this entry needs a target",
        ),
        (
            (
                "escalate: {type: slack, slack: {channel: C0ESCALATE}}",
                "escalate: {type: webhook, slack: {channel: C0ESCALATE}}",
            ),
            "11:29: channels.escalate.slack: not allowed when type is webhook",
        ),
    ],
)
def test_slack_problems_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], problem: str
) -> None:
    assert change[0] in GOOD
    code, out = check(tmp_path, GOOD.replace(change[0], change[1], 1), capsys)
    assert code == 1
    assert f"firebreak.yml:{problem}" in out, out
    for secret in ENV.values():
        assert secret not in out


def test_slack_channels_need_the_slack_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(tmp_path, "channels:\n  chat: {type: slack}\n", capsys)
    assert code == 1
    assert (
        "firebreak.yml:2:10: channels.chat.type: slack channels need the top-level slack section"
        in out
    )


def test_missing_secrets_and_no_roles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, "slack: {bot_token: xoxb-1}\n", capsys)
    assert code == 1
    assert "slack.signing_secret: required" in out or "slack.signing_secret" in out
    code, out = check(tmp_path, "slack: {bot_token: xoxb-1, signing_secret: s}\n", capsys)
    assert code == 0
    assert "warning: slack: no users, user_groups or default_role" in out


def _readme_blocks() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "slack.md").read_text()
    section = text[text.index("## Setting up the Slack app") : text.index("## `/firebreak`")]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def test_the_documented_manifest_and_configuration_are_valid() -> None:
    manifest_text, config_text = (textwrap.dedent(b) for b in _readme_blocks())
    manifest = yaml.safe_load(manifest_text)
    [slash] = manifest["features"]["slash_commands"]
    defaults = parse_config("slack: {bot_token: xoxb-1, signing_secret: s}", env={})
    assert defaults.slack is not None
    assert slash["command"] == defaults.slack.command
    assert slash["url"].endswith(defaults.slack.path)
    assert manifest["settings"]["interactivity"]["request_url"] == slash["url"]
    assert {"chat:write", "commands", "usergroups:read"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
    config = parse_config(config_text, source="docs/slack.md", env=ENV)
    assert config.slack is not None and set(config.channels) == {"log", "slack", "slack-escalation"}
