"""The maintenance section's ``silence``: only with an Alertmanager to silence in."""

from __future__ import annotations

from tests.unit.config.common import parse, problems

WINDOW = """
    maintenance:
      - {name: w, match: 'a="b"', reason: r, owner: o, cron: "0 2 * * 0", duration: 1h,
         silence: true}
    """


def test_a_window_that_silences_needs_the_alertmanager_section() -> None:
    assert problems(WINDOW) == [
        "f.yml: maintenance[0].silence: needs the alertmanager section "
        "(the Alertmanager to create silences in)"
    ]
    config = parse(WINDOW + "alertmanager: {url: 'http://127.0.0.1:9093'}\n")
    assert config.maintenance[0].window().silence is True
    assert parse(WINDOW.replace("true", "false")).maintenance[0].window().silence is False


def test_silence_takes_only_a_boolean() -> None:
    [problem] = problems(WINDOW.replace("true", "'yes please'"))
    assert "maintenance[0].silence" in problem
