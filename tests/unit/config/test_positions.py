"""Where a problem was written: every message of ``check-config`` starts with
``file:line:column``, and an unknown key names the known key it most likely meant."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import FrameType

import pytest

from receiver.automation.definitions import load_runbooks, parse_runbook
from receiver.cli import main
from receiver.config import load_config, parse_config
from receiver.config.yaml import parse_document
from receiver.errors import ConfigError

BLOCK = """\
listen: "127.0.0.1:9095"
channels:
  ops:
    type: webhook
    webhook:
      url: ftp://hooks.example.com
  "odd name":
    type: log
    rate_limit: {per_minut: 5}
escalation_policies:
  base: &base
    tiers:
      - after: soon
        notify: [ops]
  copy:
    <<: *base
    repeat: -1
routes:
  - name: db
    match: ['team="db"']
    escalation_polcy: base
  - escalation_policy: base
    continue: maybe
"""


def problems_of(text: str, source: str = "firebreak.yml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source=source, env={})
    return info.value.problems


def test_each_problem_carries_the_line_and_column_where_it_was_written() -> None:
    assert problems_of(BLOCK) == [
        # A value is placed at its key; a key inside a flow mapping at that key.
        "firebreak.yml:6:7: channels.ops.webhook.url: "
        "expected a URL starting with http:// or https://",
        'firebreak.yml:9:18: channels["odd name"].rate_limit.per_minut: '
        "unknown key; did you mean per_minute?",
        # Through an alias: where the anchored value is written.
        "firebreak.yml:13:9: escalation_policies.base.tiers[0].after: "
        'expected a duration such as 30s, 5m or 1h30m, got "soon"',
        "firebreak.yml:13:9: escalation_policies.copy.tiers[0].after: "
        'expected a duration such as 30s, 5m or 1h30m, got "soon"',
        "firebreak.yml:17:5: escalation_policies.copy.repeat: must be 0 or greater",
        "firebreak.yml:21:5: routes[0].escalation_polcy: "
        "unknown key; did you mean escalation_policy?",
        # A missing required key: where the mapping that lacks it starts.
        "firebreak.yml:19:5: routes[0].escalation_policy: required key is missing",
        'firebreak.yml:23:5: routes[1].continue: expected true or false, got "maybe"',
    ]


def test_cross_references_carry_positions_too() -> None:
    text = textwrap.dedent(
        """\
        escalation_policies:
          p:
            tiers:
              - notify: [log, pager]
        routes:
          - {escalation_policy: p}
          - escalation_policy: nope
        default_route: {escalation_policy: gone}
        """
    )
    assert problems_of(text, "f.yml") == [
        'f.yml:4:23: escalation_policies.p.tiers[0].notify[1]: unknown channel "pager"; '
        "defined: log",
        'f.yml:7:5: routes[1].escalation_policy: unknown escalation policy "nope"; '
        "defined: default, p",
        'f.yml:8:17: default_route.escalation_policy: unknown escalation policy "gone"; '
        "defined: default, p",
    ]


def test_an_unknown_key_without_a_near_one_lists_the_keys() -> None:
    assert problems_of("webhook: {zzz: 1}\n", "f.yml") == [
        "f.yml:1:11: webhook.zzz: unknown key; expected one of: auth, max_body_bytes, "
        "trusted_senders"
    ]


def test_problems_in_an_included_file_carry_its_positions(tmp_path: Path) -> None:
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "db.yml").write_text(
        "channels:\n  db-hook:\n    type: webhook\n    webhok: {url: 'https://h'}\n"
    )
    main_file = tmp_path / "firebreak.yml"
    main_file.write_text("listen: '127.0.0.1:9095'\ninclude:\n  - teams/*.yml\n  - gone.yml\n")
    with pytest.raises(ConfigError) as info:
        load_config(main_file, env={})
    db = tmp_path / "teams" / "db.yml"
    assert info.value.problems == [
        f"{db}:4:5: channels.db-hook.webhok: unknown key; did you mean webhook?",
        # The section that is missing: at the channel that lacks it.
        f"{db}:2:3: channels.db-hook.webhook: required when type is webhook",
        f'{main_file}:4:5: include[1]: no such file: "{tmp_path / "gone.yml"}"',
    ]


def test_runbook_problems_carry_positions_and_suggestions(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        id: restart
        title: Restart
        steps:
          - id: ask
            aproval: {message: go}
          - id: poke
            http: {url: "http://127.0.0.1:8080/", methd: POST}
        """
    )
    with pytest.raises(ConfigError) as info:
        parse_runbook(text, source="rb.yml", env={})
    assert info.value.problems == [
        "rb.yml:5:5: steps[0].aproval: unknown key; did you mean approval?",
        "rb.yml:4:5: steps[0]: expected exactly one of http, shell, promql, wait, approval, "
        "silence, notify, python; got none",
        "rb.yml:7:43: steps[1].http.methd: unknown key; did you mean method?",
    ]


def test_runbook_problems_against_the_configuration_carry_positions(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "a.yml").write_text(
        "id: a\ntitle: A\nsteps:\n  - id: tell\n    notify: {channel: pager, message: hi}\n"
    )
    (books / "b.yml").write_text("title: B again\nid: a\nsteps: [{id: w, wait: {duration: 1s}}]\n")
    config = tmp_path / "firebreak.yml"
    config.write_text("automation:\n  runbooks: ['runbooks/*.yml']\n")
    with pytest.raises(ConfigError) as info:
        load_runbooks(load_config(config, env={}), env={})
    assert info.value.problems == [
        f"{books / 'a.yml'}:5:14: steps[0].notify.channel: no channel 'pager'",
        f"{books / 'b.yml'}:2:1: id: duplicates the runbook in {books / 'a.yml'}",
    ]


def test_a_runbook_glob_that_matches_nothing_is_a_warning_a_missing_file_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "firebreak.yml"
    config.write_text("automation:\n  runbooks:\n    - runbook/*.yml\n")
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        f'  warning: {config}:3:7: automation.runbooks[0]: "runbook/*.yml" matches no file '
        f"(looked in {tmp_path})\n"
    ) in out

    config.write_text("automation:\n  runbooks: [runbooks/*.yml, runbooks/restart.yml]\n")
    assert main(["check-config", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{config}:2:30: automation.runbooks[1]: no such file: "
        f'"{tmp_path / "runbooks/restart.yml"}"\n'
    ) in err


def test_check_config_suggests_the_key_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "firebreak.yml"
    config.write_text("routes:\n  - escalation_polcy: default\n")
    assert main(["check-config", "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"Checking '{config}'  FAILED:",
        f"{config}:2:5: routes[0].escalation_polcy: unknown key; did you mean escalation_policy?",
        f"{config}:2:5: routes[0].escalation_policy: required key is missing",
    ]


# --- hostile documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a.b", "x[0]", 'q"]', "with space", "ünï", "\\", '["a"]', "${A}"],
)
def test_odd_keys_are_found_where_they_were_written(key: str) -> None:
    text = f"webhook:\n  max_body_bytes: 1\n  {_yaml_quote(key)}: 2\n"
    (problem,) = problems_of(text, "f.yml")
    assert problem.startswith("f.yml:3:3: webhook")
    assert problem.endswith("unknown key; expected one of: auth, max_body_bytes, trusted_senders")


def _yaml_quote(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_a_path_that_is_not_written_anywhere_is_placed_at_the_nearest_written_value() -> None:
    _, positions = parse_document("a:\n  b: [1, {c: 2}]\n", "f.yml")
    assert positions.at("") == (1, 1)
    assert positions.at("a.b[1].c") == (2, 11)
    assert positions.at("a.b[1].missing.deeper[3]") == (2, 10)
    assert positions.at("a.b[7]") == (2, 3)
    assert positions.at('a["not closed') == (1, 1)
    assert positions.at("nothing") == (1, 1)


def _calls_to_report_unknown_keys(count: int) -> int:
    """How many Python functions run to report ``count`` unknown keys of one mapping (each
    placed at its line); checks the last report too."""
    text = "webhook:\n" + "".join(f"  k{i}: 1\n" for i in range(count))
    calls = 0

    def profile(_frame: FrameType, event: str, _arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(profile)
    try:
        found = problems_of(text, "f.yml")
    finally:
        sys.setprofile(None)
    assert len(found) == count
    assert found[-1] == (
        f"f.yml:{count + 1}:3: webhook.k{count - 1}: unknown key; "
        "expected one of: auth, max_body_bytes, trusted_senders"
    )
    return calls


def test_many_unknown_keys_are_each_placed_without_rescanning_the_mapping() -> None:
    # Counted in function calls, not seconds: the same on a loaded machine. Ten times the keys
    # is ten times the work when each is placed from one index of the mapping; rescanning the
    # mapping for each key would be a hundred times.
    few, many = _calls_to_report_unknown_keys(300), _calls_to_report_unknown_keys(3_000)
    assert many < 12 * few, f"{few} calls for 300 unknown keys, {many} for 3,000"


def test_a_huge_unknown_key_is_reported_without_a_suggestion_search_that_hangs() -> None:
    key = "escalation_polcy" * 20_000
    # YAML allows keys this long only in the explicit "? key" form.
    (problem,) = problems_of(f"? {key}\n: 1\n", "f.yml")
    assert problem.startswith(f"f.yml:1:3: {key}: ")
    assert "unknown key; expected one of:" in problem


def test_deeply_nested_yaml_is_refused_with_a_message() -> None:
    assert problems_of("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "f.yml") == [
        "f.yml: invalid YAML: nested too deeply"
    ]
