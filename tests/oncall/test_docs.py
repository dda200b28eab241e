"""The worked example of docs/oncall.md, as written there: its configuration loads, and what
the page says of it holds (who is on, the override from Slack, the calendar feed)."""

from __future__ import annotations

import re
from pathlib import Path

from receiver.config import parse_config
from receiver.oncall import OnCall, Override
from receiver.oncall.checks import coverage_problems
from tests.oncall.common import at, utc

PAGE = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"


def _example() -> str:
    text = PAGE.read_text()
    section = text.split("## A worked example", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_worked_example_holds() -> None:
    config = parse_config(_example(), source="oncall.md", env={"FIREBREAK_FEED_SECRET": "x" * 32})
    assert config.oncall.feed_secret == "x" * 32
    oncall = OnCall(config.schedules, config.people)
    tz = "Europe/London"
    tuesday = at(tz, 2026, 1, 6, 10)
    assert oncall.who("payments-primary", tuesday) == ("alice",)
    assert oncall.who("payments-secondary", tuesday) == ("dave",)
    (shift, following) = oncall.shifts("payments-primary", tuesday, at(tz, 2026, 1, 13))
    assert shift.end == at(tz, 2026, 1, 12, 9) and following.people == ("bob",)
    # Never primary and secondary at once, over a whole rotation.
    for week in range(8):
        when = at(tz, 2026, 1, 5, 12) + week * (at(tz, 2026, 1, 12, 12) - at(tz, 2026, 1, 5, 12))
        assert oncall.who("payments-primary", when) != oncall.who("payments-secondary", when)
    assert coverage_problems(oncall, at(tz, 2026, 1, 5, 9), at(tz, 2026, 3, 5)) == []
    # Bob's override "until 18:00", made on Tuesday at 10:00.
    bob = Override(
        1, "payments-primary", "bob", tuesday, utc(2026, 1, 6, 18), "person:bob", tuesday
    )
    covered = OnCall(config.schedules, config.people, [bob])
    assert covered.who("payments-primary", at(tz, 2026, 1, 6, 17, 59)) == ("bob",)
    assert covered.who("payments-primary", at(tz, 2026, 1, 6, 18)) == ("alice",)
    text = PAGE.read_text()
    assert "/firebreak override payments-primary me until 18:00" in text
    assert "until Monday 12 January 09:00 GMT, and Bob after her" in text
