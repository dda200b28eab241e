"""The ``firebreak`` command: check-config exit codes and messages, routes test, db upgrade."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from receiver.cli import main
from tests.conftest import config_text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "firebreak.yml"
    path.write_text(text)
    return path


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "firebreak.example.yml"]) == 0
    out = capsys.readouterr().out
    assert "SUCCESS" in out
    assert "  channels: 1\n  escalation policies: 2\n  routes: 1\n" in out


def test_check_config_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "listen: nowhere\nwebhook:\n  max_body_bytes: -1\n  autth: {}\n")
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err
    assert f"{path}:1:1: listen:" in err
    assert f"{path}:3:3: webhook.max_body_bytes:" in err
    assert f"{path}:4:3: webhook.autth: unknown key" in err


def test_check_config_never_prints_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-token-value"
    path = write(tmp_path, f'api:\n  tokens:\n    - {{token: "{secret}", role: root}}\n')
    assert main(["check-config", "--config", str(path)]) == 1
    out = capsys.readouterr()
    assert "api.tokens[0].role" in out.err
    assert secret not in out.err + out.out


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nope.yml")]) == 1
    assert "nope.yml" in capsys.readouterr().err


def test_check_config_warns_about_open_doors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "webhook.auth: no credentials configured" in out
    assert "api.tokens: no tokens configured" in out


def test_db_upgrade_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "fb.db"
    path = write(tmp_path, config_text(f"sqlite+aiosqlite:///{db}"))
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    # The newest migration, whichever that is by now.
    found = re.fullmatch(r"schema revision: (\d{4})\n", capsys.readouterr().out)
    assert found is not None
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"alerts", "alert_events", "webhooks", "alembic_version"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert main(["db", "current", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"schema revision: {found[1]}\n"


# --- check-config summary and routes test ----------------------------------------------------

ROUTED = """
channels:
  ops-mail: {type: email, email: {host: smtp.example.com, sender: fb@example.com}}
  ops-hook: {type: webhook, webhook: {url: "https://hooks.example.com/firebreak"}}
escalation_policies:
  critical:
    repeat: 1
    tiers:
      - after: 0s
        notify: [ops-hook, {channel: ops-mail, target: "dba@example.com"}]
      - after: 15m
        notify: [{channel: ops-mail, target: "oncall@example.com"}]
routes:
  - name: audit
    match: 'env="prod"'
    escalation_policy: default
    continue: true
  - name: database
    match: ['team="db"', 'severity=~"critical|page"']
    escalation_policy: critical
"""

CRITICAL_TIERS = (
    "  tier 1 after 0s: ops-hook, ops-mail:dba@example.com\n"
    "  tier 2 after 15m: ops-mail:oncall@example.com\n"
    "  repeat: 1\n"
)
DEFAULT_TIERS = "  tier 1 after 0s: log\n"


def test_check_config_counts_routes_policies_and_channels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, ROUTED)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    # The built-in "log" channel and "default" policy count.
    assert "  channels: 3\n  escalation policies: 2\n  routes: 2\n" in out
    assert "included" not in out


def test_check_config_lists_included_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams/db.yml").write_text("routes: [{name: db, escalation_policy: default}]\n")
    path = write(tmp_path, "include: teams/*.yml\n")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  routes: 1\n" in out
    assert f"  included files: {tmp_path / 'teams/db.yml'}\n" in out


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            ["team=db", "severity=critical"],
            "database -> critical\n" + CRITICAL_TIERS,
        ),
        (
            ["env=prod", "team=db", 'severity="page"'],
            "audit -> default\n" + DEFAULT_TIERS + "database -> critical\n" + CRITICAL_TIERS,
        ),
        (["team=db", "severity=warning"], "default -> default\n" + DEFAULT_TIERS),
        ([], "default -> default\n" + DEFAULT_TIERS),
        # Quoted values, a {...} group and spaces inside a value all work as in amtool.
        (['{team="db", severity="critical"}', 'summary="disk 91% full"'], None),
        (["team = db", "severity=critical", "summary=disk full"], None),
    ],
)
def test_routes_test_prints_routes_and_tiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: list[str], expected: str | None
) -> None:
    path = write(tmp_path, ROUTED)
    assert main(["routes", "test", "--config", str(path), *labels]) == 0
    out = capsys.readouterr()
    assert out.out == (expected or "database -> critical\n" + CRITICAL_TIERS)
    assert out.err == ""


def test_routes_test_verify_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ROUTED)
    args = ["routes", "test", "--config", str(path)]
    assert main([*args, "--verify-policy", "critical", "team=db", "severity=page"]) == 0
    assert capsys.readouterr().err == ""
    # Only the first match counts, as with amtool's --verify.receivers.
    assert main([*args, "--verify-policy", "critical", "env=prod", "team=db", "severity=page"]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("audit -> default\n")
    assert out.err == (
        'FAILED: expected escalation policy "critical", but route "audit" leads to "default"\n'
    )
    assert main([*args, "--verify-policy", "default", "alertname=X"]) == 0
    assert main([*args, "--verify-policy", "critical", "alertname=X"]) == 1


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            ['severity=~"crit.*"'],
            'labels: severity=~"crit.*" is not a label; write name=value',
        ),
        (["team=db", "team=web"], "labels: label team is given twice"),
        (
            ["team"],
            'labels: argument 1 ("team"): expected an operator (=, !=, =~, !~) after "team" '
            "at position 4",
        ),
        ([""], "labels: argument 1 is empty; expected a matcher"),
    ],
)
def test_routes_test_refuses_what_is_not_a_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: list[str], message: str
) -> None:
    path = write(tmp_path, ROUTED)
    assert main(["routes", "test", "--config", str(path), *labels]) == 2
    out = capsys.readouterr()
    assert out.err == f"firebreak routes test: {message}\n"
    assert out.out == ""


def test_routes_test_with_a_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        textwrap.dedent(
            """
            routes:
              - {escalation_policy: crit}
            """
        ),
    )
    assert main(["routes", "test", "--config", str(path), "a=b"]) == 1
    out = capsys.readouterr()
    assert out.err == (
        f'{path}:3:6: routes[0].escalation_policy: unknown escalation policy "crit"; defined: '
        "default\n"
    )
    assert out.out == ""
    assert main(["routes", "test", "--config", str(tmp_path / "nope.yml")]) == 1
    assert "nope.yml: cannot read" in capsys.readouterr().err


def test_routes_test_on_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["routes", "test", "--config", "firebreak.example.yml", "severity=critical"]
    assert main([*args, "--verify-policy", "critical"]) == 0
    assert capsys.readouterr().out == (
        "critical -> critical\n  tier 1 after 0s: log\n  tier 2 after 15m: log\n  repeat: 1\n"
    )


def test_routes_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["routes"])
    assert info.value.code == 2
    assert "ROUTES_COMMAND" in capsys.readouterr().err


def test_db_backup_on_postgresql_explains_its_own_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, config_text("postgresql+asyncpg://firebreak:pw@db.example/firebreak"))
    assert main(["db", "backup", "--config", str(path), str(tmp_path / "b.db")]) == 1
    err = capsys.readouterr().err
    assert "pg_dump" in err and "standby" in err
    assert "pw" not in err  # the URL's password is never printed
    assert not (tmp_path / "b.db").exists()


def test_db_backup_refuses_to_overwrite_and_restore_needs_a_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "fb.db"
    path = write(tmp_path, config_text(f"sqlite+aiosqlite:///{db}"))
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    existing = tmp_path / "exists.db"
    existing.write_text("")
    assert main(["db", "backup", "--config", str(path), str(existing)]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["db", "restore", "--config", str(path), str(tmp_path / "none.db")]) == 1
    assert "no backup at" in capsys.readouterr().err
    assert main(["db", "backup", "--config", str(path), str(tmp_path / "b.db")]) == 0
    assert "0 alert occurrences" in capsys.readouterr().out


PAGERDUTY_CONFIG = """
channels:
  pd:
    type: pagerduty
    pagerduty:
      routing_keys: {default: "${PD_KEY}", db: "${PD_DB_KEY}", spare: "${PD_SPARE:-}"}
      severity_map: {page: critical, ticket: low}
      default_severity: urgent
      api_url: http://events.example
escalation_policies:
  oncall:
    tiers:
      - notify: [pd, {channel: pd, target: db}, {channel: pd, target: billing}]
pagerduty:
  webhook_secrets: ["${PD_WEBHOOK_SECRET}", ""]
"""


def test_check_config_validates_pagerduty_without_showing_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "PD_KEY": "R0UT1NGKEY0123456789ABCDEFGHIJKL",
        "PD_DB_KEY": "DBKEY0123456789ABCDEFGHIJKLMNOPQ",
        "PD_WEBHOOK_SECRET": "whsec-pagerduty-0123456789",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    path = write(tmp_path, PAGERDUTY_CONFIG)
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{path}:7:38: channels.pd.pagerduty.severity_map.ticket: expected one of critical" in err
    )
    assert f"{path}:8:7: channels.pd.pagerduty.default_severity: expected one of critical" in err
    assert (
        f"{path}:9:7: channels.pd.pagerduty.api_url: expected a URL starting with https://" in err
    )
    assert f"{path}:15:45: pagerduty.webhook_secrets[1]: must not be empty" in err
    assert f"{path}:6:7: channels.pd.pagerduty.routing_keys: empty routing key for spare" in err
    for value in secrets.values():
        assert value not in err
    fixed = (
        PAGERDUTY_CONFIG.replace("low", "info")
        .replace("urgent", "error")
        .replace("http://", "https://")
        .replace(', ""]', "]")
        .replace(', spare: "${PD_SPARE:-}"', "")
    )
    path = write(tmp_path, fixed)
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f'{path}:13:49: escalation_policies.oncall.tiers[0].notify[2]: channel "pd" has no '
        "routing "
        'key "billing"; defined: db, default'
    ) in err
    path = write(tmp_path, fixed.replace("target: billing", "target: db"))
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "SUCCESS" in out and "warning: pagerduty.webhook_secrets" not in out
    for value in secrets.values():
        assert value not in out
    no_secrets = fixed.replace("target: billing", "target: db").split("\npagerduty:\n")[0]
    path = write(tmp_path, no_secrets)
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning: pagerduty.webhook_secrets: none configured" in capsys.readouterr().out


def test_the_command_line_is_built_without_importing_the_server() -> None:
    # check-config runs in CI pipelines and hooks: building the parser must not pull in the
    # database, HTTP and Slack libraries (they cost most of a second to import).
    heavy = ("sqlalchemy", "aiohttp", "slack_sdk", "jinja2")
    code = (
        "import sys, receiver.cli; receiver.cli._parser(); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
