"""``firebreak schedules ...`` and the schedule checks of ``firebreak check-config``: gaps
named with their start and end in the schedule's zone, idle layers, unknown people; overrides
made and deleted from a shell, audited."""

from __future__ import annotations

import re
import sqlite3
import textwrap
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.oncall.feed import feed_path
from tests.conftest import config_text
from tests.oncall.common import OFFICE, ics

SCHEDULES = (
    """
people:
  - {id: alice, name: Alice Archer}
  - {id: bob, name: Bob Baker}
  - {id: carol, name: Carol Chen}
schedules:
  - id: always
    time_zone: Europe/London
    layers:
      - {name: idle, members: [carol], start: "2026-01-05"}
      - {members: [alice, bob], shift: daily, start: "2026-01-05"}
      - {name: someday, members: [carol], start: "2099-01-05"}
  - {id: imported, time_zone: UTC, ical: rota.ics}
"""
    + OFFICE
)

CALENDAR = ics(
    """
DTSTART:20260101T000000Z
DTEND:20260102T000000Z
RRULE:FREQ=DAILY
SUMMARY:Mallory Moriarty
"""
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "rota.ics").write_text(CALENDAR)
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path}/f.db", textwrap.dedent(SCHEDULES)))
    return path


def test_check_config_names_gaps_idle_layers_and_unknown_people(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    warnings = [line.strip() for line in out.splitlines() if "warning: schedule" in line]
    assert any(
        "warning: schedule always: layers[0] (idle) never applies from " in w
        and w.endswith("it is covered by the layers after it all the time")
        for w in warnings
    ), warnings
    assert any(
        "schedule always: layers[2] (someday) never applies" in w
        and w.endswith("it has nobody then (its start date or restrictions)")
        for w in warnings
    ), warnings
    nights = [w for w in warnings if w.startswith("warning: schedule office: nobody on call")]
    # Four weeks of weekday office hours: a gap each night and each weekend, in New York time.
    assert 18 <= len(nights) <= 21, nights
    pattern = re.compile(
        r"warning: schedule office: nobody on call from (Mon|Tue|Wed|Thu|Fri) "
        r"\d{4}-\d\d-\d\d 17:00 E[SD]T to (Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 09:00 E[SD]T "
        r"\(America/New_York\)"
    )
    assert sum(bool(pattern.fullmatch(w)) for w in nights) >= len(nights) - 2, nights
    assert any(re.search(r"from Fri .* 17:00 E[SD]T to Mon .* 09:00", w) for w in nights)
    assert (
        "warning: schedule imported: the calendar names 'Mallory Moriarty', who is not in people"
        in warnings
    )
    assert not any("schedule always: nobody" in w for w in warnings)


def test_schedules_check_exits_1_naming_the_problems(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedules", "check", "--weeks", "1", "--config", str(config_file)]) == 1
    out, err = capsys.readouterr()
    assert "schedule office: nobody on call from" in out
    assert "3 schedule(s), 1 week(s) ahead:" in err
    capsys.readouterr()
    assert main(["schedules", "check", "imported", "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    # Mallory is nobody Firebreak can page: her shifts are a gap.
    gap, unknown = out.strip().splitlines()
    assert re.fullmatch(r"schedule imported: nobody on call from .* UTC to .* UTC \(UTC\)", gap)
    assert unknown == (
        "schedule imported: the calendar names 'Mallory Moriarty', who is not in people"
    )
    assert main(["schedules", "check", "nope", "--config", str(config_file)]) == 1
    assert "no schedule 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["schedules", "check", "--weeks", "99", "--config", str(config_file)])


def test_an_override_from_the_shell_is_who_is_on_call_and_audited(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_file)]
    assert main(["schedules", "override", "always", "carol", "--for", "2h", *args]) == 0
    made = capsys.readouterr().out
    assert re.match(r"override (\d+): carol on call for always from ", made), made
    override_id = re.match(r"override (\d+)", made)[1]  # type: ignore[index]
    assert main(["schedules", "oncall", "always", *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("always: ") and "carol  (override" in out
    assert main(["schedules", "list", *args]) == 0
    assert re.search(r"always\s+Europe/London\s+3 layer\(s\)\s+carol", capsys.readouterr().out)
    assert main(["schedules", "shifts", "always", "--days", "2", *args]) == 0
    assert "carol  (override" in capsys.readouterr().out
    assert main(["schedules", "delete-override", "always", override_id, *args]) == 0
    assert capsys.readouterr().out == f"deleted override {override_id}\n"
    assert main(["schedules", "oncall", "always", *args]) == 0
    assert "carol" not in capsys.readouterr().out.splitlines()[0]
    with sqlite3.connect(tmp_path / "f.db") as db:
        rows = db.execute(
            "SELECT action, actor, interface, target, outcome FROM audit_log ORDER BY id"
        ).fetchall()
    assert [(a, i, t, o) for a, _, i, t, o in rows] == [
        ("schedule_override", "cli", "always", "ok"),
        ("schedule_override_delete", "cli", "always", "ok"),
    ]
    assert all(actor.startswith("cli:") for _, actor, *_ in rows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["always", "mallory", "--for", "1h"], "person: expected the id of a person in people"),
        (["always", "carol"], "--until: give end (an RFC 3339 time) or duration"),
        (["always", "carol", "--for", "soon"], "--for: expected a duration such as 8h or 2d"),
        (["always", "carol", "--until", "friday"], "--until: expected an RFC 3339 time"),
        (["nope", "carol", "--for", "1h"], "no schedule 'nope'"),
    ],
)
def test_a_bad_override_from_the_shell_says_which_argument(
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert main(["schedules", "override", *argv, "--config", str(config_file)]) == 1
    assert message in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "f.db") as db:
        assert db.execute("SELECT count(*) FROM oncall_overrides").fetchone() == (0,)
        outcomes = db.execute("SELECT outcome FROM audit_log").fetchall()
    assert outcomes in ([], [("rejected",)])


def test_the_feed_paths_from_the_shell(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_file)]
    assert main(["schedules", "feed", "always", *args]) == 1
    assert "oncall.feed_secret: is not set, so calendar feeds are off" in capsys.readouterr().err
    text = config_file.read_text().replace(
        "schedules:", 'oncall: {feed_secret: "feed-secret-0123456789abcdef"}\nschedules:', 1
    )
    config_file.write_text(text)
    assert main(["schedules", "feed", "always", *args]) == 0
    schedule = capsys.readouterr().out.strip()
    assert schedule == feed_path("feed-secret-0123456789abcdef", "schedule", "always")
    assert main(["schedules", "feed", "--person", "alice", *args]) == 0
    assert capsys.readouterr().out.strip().startswith("/oncall/feeds/person/alice/")
    assert main(["schedules", "feed", "--person", "mallory", *args]) == 1
    assert "--person: expected the id of a person" in capsys.readouterr().err
