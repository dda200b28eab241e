"""Message templates: a user's layout for Slack, Teams, e-mail and webhooks, escaped for each
sink, checked at check-config, previewed with ``firebreak templates render``, and falling back
to the default layout (with a note, a log line and a metric) when one fails at send time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli.main import main
from receiver.config import load_config
from receiver.metrics import Metrics
from receiver.notify.email import EmailChannel
from receiver.notify.links import NoticeLinks
from receiver.notify.render import text_body
from receiver.notify.slack.blocks import MessageAlert, MessageView, message
from receiver.templates import ChannelTemplate, sample_notice
from tests.clock import ManualClock
from tests.conftest import WEBHOOK_TOKEN, auth
from tests.fakes.teams import TeamsWorkflow, card_problems
from tests.payloads import alert, webhook

SLACK_TEMPLATE = """\
{{ alert.labels.alertname }} on *{{ alert.labels.service }}* ({{ severity }}), tier {{ tier }}
{% for a in alerts %}- {{ a.annotations.summary }} <{{ a.links.runbook }}|runbook>
{% endfor %}"""

HOSTILE = "<!channel> <https://evil.example|click> [x](https://evil.example) <b>&amp;</b> `"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def config_file(
    tmp_path: Path, template: str, channel: str = "teams", url: str = "", route: str = ""
) -> Path:
    """A configuration with one channel of each templated type, all on ``template``."""
    path = tmp_path / "firebreak.yml"
    path.write_text(
        f"""
database: {{url: "sqlite+aiosqlite:///{tmp_path / "fb.db"}"}}
webhook: {{auth: {{bearer_tokens: ["{WEBHOOK_TOKEN}"]}}}}
slack: {{bot_token: xoxb-test, signing_secret: s3cret-signing, api_url: "http://127.0.0.1:9/api/"}}
notifications: {{external_url: "https://firebreak.example"}}
channels:
  chat: {{type: slack, template: {template}}}
  teams: {{type: teams, teams: {{url: "{url or "http://127.0.0.1:9/flow"}"}}, template: {template}}}
  mail:
    type: email
    email: {{host: 127.0.0.1, port: 2525, starttls: false, sender: fb@example.org,
             to: [a@example.org]}}
    template: {template}
  hook: {{type: webhook, webhook: {{url: "http://127.0.0.1:9/hook"}}, template: {template}}}
escalation_policies:
  oncall: {{tiers: [{{after: 0s, notify: [{channel}]}}]}}
routes:
  - {{name: payments, match: ['service="payments"'], escalation_policy: oncall{route}}}
  - {{name: checkout, escalation_policy: oncall}}
""",
        encoding="utf-8",
    )
    return path


def alert_file(tmp_path: Path, **labels: str) -> str:
    document = alert("HighErrorRate", labels=labels, annotations={"summary": "5xx above 5%"})
    document["annotations"]["runbook_url"] = "https://runbooks.example/5xx"
    return write(tmp_path, "alert.json", json.dumps(document))


# --- rendering, escaped per sink ---------------------------------------------------------------


def hostile_notice() -> Any:
    notice = sample_notice()
    first = notice.alerts[0]
    labels = dict(first.labels) | {"service": HOSTILE}
    return type(notice)(
        kind=notice.kind,
        idempotency_key=notice.idempotency_key,
        alerts=(type(first)(**{**_fields(first), "labels": labels}),),
        tier=0,
    )


def _fields(alert_: Any) -> dict[str, Any]:
    return {name: getattr(alert_, name) for name in alert_.__slots__}


def test_each_sink_escapes_values_and_keeps_the_templates_own_markup(tmp_path: Path) -> None:
    path = write(tmp_path, "t.j2", "*{{ alert.labels.service }}* <b>{{ alert.labels.service }}</b>")
    template = ChannelTemplate.load("c", path, NoticeLinks())
    notice = hostile_notice()
    mrkdwn = template.render(notice, "mrkdwn")
    assert mrkdwn.startswith("*&lt;!channel&gt; &lt;https://evil.example|click&gt;")
    assert "<!channel>" not in mrkdwn and "<https://evil" not in mrkdwn
    html = template.render(notice, "html")
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in html and html.count("<b>") == 1  # only the template's
    card = template.render(notice, "card")
    assert "\\[x\\]\\(https://evil\\.example\\)" in card and card.startswith("*\\<\\!channel\\>")
    assert template.render(notice, "text").startswith(f"*{HOSTILE}*")


def test_a_slack_template_replaces_the_alert_sections_and_keeps_the_buttons(tmp_path: Path) -> None:
    template = ChannelTemplate.load("chat", write(tmp_path, "s.j2", SLACK_TEMPLATE), NoticeLinks())
    notice = hostile_notice()
    alerts = [MessageAlert.from_notice(a) for a in notice.alerts]
    _, default = message(alerts, MessageView(tier=0))
    _, blocks = message(alerts, MessageView(tier=0, template=template))
    assert len(blocks) == len(default)  # one templated section for the one alert section
    section = blocks[2]["text"]["text"]
    assert section.startswith(
        "HighErrorRate on *&lt;!channel&gt; &lt;https://evil.example|click&gt;"
    )
    assert "<https://runbooks.example.com/high-error-rate|runbook>" in section
    assert blocks[-1]["type"] == "actions"  # acknowledge and the other buttons stay


def test_slack_and_email_fall_back_to_the_default_layout_with_a_note(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    failing = ChannelTemplate.load(
        "chat", write(tmp_path, "f.j2", "{{ alert.labels.team }}"), NoticeLinks(), Metrics(registry)
    )
    notice = sample_notice()
    alerts = [MessageAlert.from_notice(a) for a in notice.alerts]
    _, default = message(alerts, MessageView(tier=0))
    _, blocks = message(alerts, MessageView(tier=0, template=failing))
    assert blocks[2]["type"] == "context"
    assert "The message template failed" in blocks[2]["elements"][0]["text"]
    assert blocks[3:] == default[2:]  # then the default layout, whole
    mail = EmailChannel(
        "mail", host="127.0.0.1", port=25, starttls=False, sender="a@b.example", template=failing
    )
    text, html = mail.bodies(notice)
    assert text.startswith("The message template failed (")
    assert text.endswith(text_body(notice))
    assert "<p><em>The message template failed" in html
    count = registry.get_sample_value(
        "firebreak_message_template_failures_total", {"channel": "chat"}
    )
    assert count == 3.0  # one Slack message, and the e-mail's two parts


def test_the_sandbox_is_the_runbooks_one(tmp_path: Path) -> None:
    path = write(tmp_path, "t.j2", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    template = ChannelTemplate.load("c", path, NoticeLinks())
    rendered = template(sample_notice(), "text")
    assert rendered.text is None and rendered.problem is not None
    assert "template not allowed" in rendered.problem


def test_a_routes_template_wins_over_the_channels_on_every_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = ", template: " + write(tmp_path, "r.j2", "payments: {{ alert.labels.alertname }}")
    path = config_file(tmp_path, write(tmp_path, "t.j2", "own"), route=route)
    argv = ["templates", "render", "--config", str(path), "--channel", "hook", "--alert"]
    assert main([*argv, alert_file(tmp_path, service="payments")]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "payments: HighErrorRate"
    assert main([*argv, alert_file(tmp_path)]) == 0  # checkout's route has none: the channel's
    assert json.loads(capsys.readouterr().out)["text"] == "own"
    chat = ["templates", "render", "--config", str(path), "--channel", "chat", "--alert"]
    assert main([*chat, alert_file(tmp_path, service="payments")]) == 0
    assert "payments: HighErrorRate" in capsys.readouterr().out


def test_check_config_checks_route_templates_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = ", template: " + write(tmp_path, "r.j2", "{{ alert.nope }}")
    path = config_file(tmp_path, write(tmp_path, "t.j2", "own"), route=route)
    assert main(["check-config", "--config", str(path)]) == 1
    assert "routes[0].template" in capsys.readouterr().err


# --- check-config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{% for a in alerts %}", "t.j2:1: Unexpected end of template"),
        ("{{ alert.labels.team }}", "has no attribute 'team'"),
        ("{{ nothing_like_this }}", "'nothing_like_this' is undefined"),
        ("{{ ''.__class__ }}", "template not allowed"),
    ],
)
def test_check_config_renders_each_template_against_a_sample_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = config_file(tmp_path, write(tmp_path, "t.j2", text))
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "channels.chat.template" in err and expected in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{{ alert }}", "not UTF-8 text"),
        (b"x" * (64 * 1024 + 1), "larger than 65536 bytes"),
        (b"{% for i in range(99999) %}0123456789{% endfor %}", "rendered to more than"),
    ],
)
def test_check_config_refuses_binary_huge_and_runaway_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    (tmp_path / "t.j2").write_bytes(content)
    path = config_file(tmp_path, str(tmp_path / "t.j2"))
    assert main(["check-config", "--config", str(path)]) == 1
    assert expected in capsys.readouterr().err


def test_check_config_names_a_missing_template_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, "missing.j2")
    assert main(["check-config", "--config", str(path)]) == 1
    assert "channels.chat.template: cannot read" in capsys.readouterr().err


# --- firebreak templates render ----------------------------------------------------------------


def test_render_previews_the_slack_message_with_its_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, write(tmp_path, "s.j2", SLACK_TEMPLATE))
    argv = ["templates", "render", "--config", str(path), "--channel", "chat"]
    assert main([*argv, "--alert", alert_file(tmp_path)]) == 0
    preview = json.loads(capsys.readouterr().out)
    section = preview["blocks"][2]["text"]["text"]
    assert section.startswith("HighErrorRate on *checkout* (critical), tier 1")
    assert "- 5xx above 5% <https://runbooks.example/5xx|runbook>" in section


def test_render_previews_teams_email_and_webhook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, write(tmp_path, "t.j2", "**{{ alert.labels.service }}** down"))
    argv = ["templates", "render", "--config", str(path), "--alert", alert_file(tmp_path)]
    assert main([*argv, "--channel", "teams"]) == 0
    out = capsys.readouterr().out
    assert card_problems(json.dumps(json.loads(out)).encode()) == []
    card = json.loads(out)["attachments"][0]["content"]
    assert card["body"][2]["items"][0]["text"] == "**checkout** down"
    assert main([*argv, "--channel", "mail"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Subject: [FIRING:1] HighErrorRate checkout (critical)\n")
    assert "--- text/plain ---\n**checkout** down" in out
    assert "--- text/html ---" in out
    assert main([*argv, "--channel", "hook"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "**checkout** down"


def test_render_refuses_a_bad_alert_file_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, write(tmp_path, "t.j2", "x"))
    bad = write(tmp_path, "bad.json", json.dumps({"labels": {"a": 1}}))
    argv = ["templates", "render", "--config", str(path), "--channel", "teams", "--alert", bad]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "alerts[0].labels.a" in err
    assert main([*argv[:-1], write(tmp_path, "nojson", "{")]) == 1
    assert "alert: expected JSON" in capsys.readouterr().err
    assert (
        main(["templates", "render", "--config", str(path), "--channel", "sms", "--alert", bad])
        == 1
    )
    assert "no channel 'sms'" in capsys.readouterr().err


# --- at send time ------------------------------------------------------------------------------


@pytest.fixture
async def teams() -> AsyncIterator[TeamsWorkflow]:
    async with TeamsWorkflow() as fake:
        yield fake


async def test_a_template_failing_at_send_time_falls_back_to_the_default_and_says_so(
    tmp_path: Path,
    teams: TeamsWorkflow,
    aiohttp_client: Any,
    manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Passes check-config (the sample alert is checkout's) and fails for payments' alerts.
    text = '{% if alert.labels.service != "checkout" %}{{ alert.labels.team }}{% endif %}ok'
    path = config_file(tmp_path, write(tmp_path, "t.j2", text), channel="teams", url=teams.url)
    config = load_config(path)
    registry = CollectorRegistry()
    app = create_app(
        config, clock=manual_clock, monotonic=manual_clock.monotonic, registry=registry
    )
    client = await aiohttp_client(app)
    manual_clock.watch(app)
    for service in ("checkout", "payments"):
        payload = webhook(alert(f"Down{service}", labels={"service": service}), group_key=service)
        resp = await client.post("/webhook", json=payload, headers=auth(WEBHOOK_TOKEN))
        assert resp.status == 200
    await manual_clock.advance(timedelta(seconds=5))
    assert teams.rejected == []
    assert len(teams.cards) == 2
    checkout, payments = teams.cards
    assert checkout["body"][2]["items"][0]["text"] == "ok"
    note = payments["body"][2]
    assert note["color"] == "Warning" and "message template failed" in note["text"]
    assert "has no attribute" in note["text"] or "team" in note["text"]
    assert (
        registry.get_sample_value("firebreak_message_template_failures_total", {"channel": "teams"})
        == 1.0
    )
    assert any("message template failed" in r.getMessage() for r in caplog.records)
