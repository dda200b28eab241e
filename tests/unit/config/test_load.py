"""Loading files: reading them, includes, and whatever text or document is thrown at it."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.config import Config, load_config, parse_config
from receiver.errors import ConfigError
from tests.conftest import examples
from tests.unit.config.common import HOOK, TOP_LEVEL_KEYS

# --- reading files ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == [f"{tmp_path}: cannot read: Is a directory"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"listen: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: cannot read: not UTF-8 text (invalid start byte at byte 8)"
    ]


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("\ufefflisten: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [f"{path}:1:1: listen: expected a string, got a number"]


# --- includes ---------------------------------------------------------------------------------


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> YAML) under ``root``; returns the main file's path."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "firebreak.yml"


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value.problems


TEAM_DB = """
channels:
  db-hook: {type: webhook, webhook: {url: "https://db.example.com/hook"}}
escalation_policies:
  db: {tiers: [{notify: [db-hook, ops-mail]}]}
routes:
  - {name: db, match: 'team="db"', escalation_policy: db}
  - {match: 'team="db-batch"', escalation_policy: critical}
"""
TEAM_WEB = """
escalation_policies:
  web: {tiers: [{notify: [{channel: ops-mail, target: web@example.com}]}]}
routes:
  - {name: web, match: 'team="web"', escalation_policy: web}
"""


def test_include_two_team_files(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: ["teams/*.yml"]
                channels:
                  ops-mail:
                    type: email
                    email: {host: h, sender: f@example.com, to: o@example.com}
                escalation_policies:
                  critical: {tiers: [{notify: [ops-mail]}]}
                routes:
                  - {name: critical, match: 'severity="critical"', escalation_policy: critical}
                """,
            # Loaded in sorted order, whatever order the directory lists them in.
            "teams/web.yml": TEAM_WEB,
            "teams/db.yml": TEAM_DB,
            "teams/notes.txt": "not: yaml: at all",
        },
    )
    config = load_config(main, env={})
    assert config.source == str(main)
    assert config.include == ("teams/*.yml",)
    assert config.included == (str(tmp_path / "teams/db.yml"), str(tmp_path / "teams/web.yml"))
    assert sorted(config.channels) == ["db-hook", "log", "ops-mail"]
    assert sorted(config.escalation_policies) == ["critical", "db", "default", "web"]
    assert [(r.name, r.escalation_policy) for r in config.routes] == [
        ("critical", "critical"),
        ("db", "db"),
        ("teams/db.yml:routes[1]", "critical"),  # unnamed: named after its own file
        ("web", "web"),
    ]


def test_include_relative_to_the_including_file_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(
        tmp_path / "etc",
        {
            "firebreak.yml": """
                include: teams/db.yml
                channels:
                  ops-mail:
                    type: email
                    email: {host: h, sender: f@example.com, to: o@example.com}
                escalation_policies:
                  critical: {tiers: [{notify: [log]}]}
                """,
            "teams/db.yml": TEAM_DB,
        },
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/firebreak.yml"), env={})
    assert config.included == ("etc/teams/db.yml",)
    # Route names do not depend on the directory the command runs in.
    assert config.routes[1].name == "teams/db.yml:routes[1]"
    monkeypatch.chdir(tmp_path / "etc")
    config = load_config("firebreak.yml", env={})
    assert config.included == ("teams/db.yml",)
    assert config.routes[1].name == "teams/db.yml:routes[1]"


def test_include_problems_name_the_included_file(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: ["teams/*.yml"]
                listen: nowhere
                """,
            "teams/a.yml": """
                listen: "127.0.0.1:1"
                jobs: {workers: 2}
                routes: [{escalation_policy: 5}]
                typo: 1
                """,
            "teams/b.yml": "channels: [\n",
            "teams/c.yml": "routes: [{escalation_policy: '${UNSET}'}]\n",
        },
    )
    a, b, c = (tmp_path / "teams" / name for name in ("a.yml", "b.yml", "c.yml"))
    assert load_problems(main) == [
        f"{main}:3:1: listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095",
        f"{a}:2:1: listen: not allowed in an included file "
        "(allowed: channels, escalation_policies, include, routes)",
        f"{a}:3:1: jobs: not allowed in an included file "
        "(allowed: channels, escalation_policies, include, routes)",
        f"{a}:5:1: typo: unknown key; expected one of: channels, escalation_policies, include, "
        "routes",
        f"{a}:4:11: routes[0].escalation_policy: expected a string, got a number",
        f"{b}:2:1: invalid YAML: while parsing a flow node, "
        "expected the node content, but found '<stream end>'",
        f"{c}:1:11: routes[0].escalation_policy: environment variable UNSET is not set",
    ]


def test_include_duplicate_definitions_name_both_files(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": f"""
                include: [teams/a.yml, teams/b.yml]
                channels: {{hook: {{{HOOK}}}}}
                """,
            "teams/a.yml": f"""
                channels: {{hook: {{{HOOK}}}, log: {{type: log}}}}
                escalation_policies: {{p: {{tiers: [{{notify: [hook]}}]}}}}
                routes: [{{name: r, escalation_policy: p}}]
                """,
            "teams/b.yml": f"""
                channels: {{log: {{{HOOK}}}}}
                escalation_policies: {{p: {{tiers: [{{notify: [hook]}}]}}}}
                routes: [{{name: r, escalation_policy: p}}, {{escalation_policy: q}}]
                """,
        },
    )
    a, b = tmp_path / "teams/a.yml", tmp_path / "teams/b.yml"
    assert load_problems(main) == [
        f'{a}:2:12: channels.hook: channel "hook" is already defined in {main}',
        f'{b}:2:12: channels.log: channel "log" is already defined in {a}',
        f'{b}:3:23: escalation_policies.p: escalation policy "p" is already defined in {a}',
        f'{b}:4:11: routes[0].name: duplicate route name "r"; also used by routes[0] in {a}',
        f'{b}:4:44: routes[1].escalation_policy: unknown escalation policy "q"; defined: '
        "default, p",
    ]


def test_include_nested_and_cross_file_references(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": """
                include: teams/*.yml
                routes: [{name: top, match: 'x="1"', escalation_policy: deep}]
                """,
            "teams/a.yml": """
                include: [../shared/*.yml]
                routes: [{name: a, escalation_policy: deep}]
                """,
            "teams/z.yml": "routes: [{name: z, escalation_policy: default}]\n",
            "shared/deep.yml": """
                channels: {pager: {type: webhook, webhook: {url: "https://p"}}}
                escalation_policies: {deep: {tiers: [{notify: [pager]}]}}
                routes: [{name: deep, escalation_policy: deep}]
                """,
        },
    )
    config = load_config(main, env={})
    # Depth first: an included file's own includes come right after it.
    assert [r.name for r in config.routes] == ["top", "a", "deep", "z"]
    assert config.included == (
        str(tmp_path / "teams/a.yml"),
        str(tmp_path / "teams/../shared/deep.yml"),
        str(tmp_path / "teams/z.yml"),
    )


def test_include_cycle(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: [a.yml]\n",
            "a.yml": "include: [b.yml]\n",
            "b.yml": "include: ['*.yml']\n",  # matches a.yml, b.yml and firebreak.yml
        },
    )
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    assert load_problems(main) == [
        f"{b}:1:11: include[0]: include cycle: {a} -> {b} -> {a}",
        f"{b}:1:11: include[0]: include cycle: {b} -> {b}",
        f"{b}:1:11: include[0]: include cycle: {main} -> {a} -> {b} -> {main}",
    ]


def test_include_of_itself(tmp_path: Path) -> None:
    main = write_files(tmp_path, {"firebreak.yml": "include: '*.yml'\n"})
    assert load_problems(main) == [f"{main}:1:1: include: include cycle: {main} -> {main}"]


def test_include_file_matched_twice_loads_once(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: [teams/db.yml, 'teams/*.yml', ./teams/db.yml]\n",
            "teams/db.yml": TEAM_DB.replace("ops-mail", "log").replace("critical", "default"),
        },
    )
    config = load_config(main, env={})
    assert config.included == (str(tmp_path / "teams/db.yml"),)
    assert len(config.routes) == 2


def test_include_missing_files(tmp_path: Path) -> None:
    main = write_files(tmp_path, {"firebreak.yml": "include: [nothing/*.yml, teams/db.yml]\n"})
    # A pattern with wildcards may match nothing; a plain file name must exist.
    assert load_problems(main) == [
        f'{main}:1:26: include[1]: no such file: "{tmp_path / "teams/db.yml"}"'
    ]
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams/db.yml").mkdir()  # a directory where a file should be
    assert load_problems(main) == [f"{tmp_path / 'teams/db.yml'}: cannot read: Is a directory"]


def test_include_globs_skip_directories_and_span_them_with_double_star(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {
            "firebreak.yml": "include: ['conf.d/**/*.yml']\n",
            "conf.d/a.yml": "routes: [{name: a, escalation_policy: default}]\n",
            "conf.d/deeper/b.yml": "routes: [{name: b, escalation_policy: default}]\n",
        },
    )
    (tmp_path / "conf.d/dir.yml").mkdir()
    assert [r.name for r in load_config(main, env={}).routes] == ["a", "b"]


def test_include_pattern_directory_is_not_a_pattern(tmp_path: Path) -> None:
    # The including file's own directory name is taken literally, wildcards and all.
    main = write_files(
        tmp_path / "odd[dir]",
        {
            "firebreak.yml": "include: ['*.d/*.yml']\n",
            "x.d/a.yml": "routes: [{name: a, escalation_policy: default}]\n",
        },
    )
    assert [r.name for r in load_config(main, env={}).routes] == ["a"]


def test_include_is_followed_even_when_the_including_file_has_problems(tmp_path: Path) -> None:
    main = write_files(
        tmp_path,
        {"firebreak.yml": "include: [a.yml]\nlisten: 1\n", "a.yml": "routes: 5\n"},
    )
    assert load_problems(main) == [
        f"{main}:2:1: listen: expected a string, got a number",
        f"{tmp_path / 'a.yml'}:1:1: routes: expected a list, got a number",
    ]


# --- robustness -------------------------------------------------------------------------------

YAML_PIECES = [
    *("listen", "database", "url", "webhook", "auth", "bearer_tokens", "basic_auth", "api"),
    *("tokens", "token", "role", "admin", "log", "level", "file", "access", "ingest"),
    *(":", ": ", " ", "  ", "\n", "\n  ", "- ", "[", "]", "{", "}", ",", "'", '"', "#", "\t"),
    *("&a ", "*a", "!!int ", "!!str ", "!!bool ", "!!float ", "!!timestamp ", "!!binary "),
    *("!!set ", "!!map ", "!!seq ", "!!python/tuple ", "!x ", "? ", "|", ">", "<<: ", "\\"),
    *("${X}", "${Y:-1}", "${", "$${", "}", "0", "-1", "1.5", "99999999999999999999", ".nan"),
    *("null", "~", "true", "yes", "off", "2024-01-01", "%YAML 1.2\n", "---\n", "...\n"),
    *("é", "\x00", "\x85", "\ufeff", "\u2028", "127.0.0.1:9095", "[::1]:9095", "5m"),
]


def _outcome(text: str) -> None:
    try:
        config = parse_config(text, source="h.yml", env={"X": "1", "Y": ""})
    except ConfigError as exc:
        assert exc.problems
        assert all(problem.startswith("h.yml") for problem in exc.problems)
    else:
        assert isinstance(config, Config)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_yamlish_text_gives_config_or_config_error(text: str) -> None:
    _outcome(text)


@settings(max_examples=examples(100), deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_gives_config_or_config_error(text: str) -> None:
    _outcome(text)


SCHEMA_KEYS = [
    *("listen", "database", "url", "sqlite_synchronous", "pool_size", "webhook", "auth"),
    *("bearer_tokens", "basic_auth", "username", "password", "max_body_bytes", "api"),
    *("tokens", "token", "role", "name", "log", "level", "format", "file", "file_max_bytes"),
    *("file_backups", "access", "ingest", "max_batch_alerts"),
    *("include", "channels", "type", "email", "webhook", "log", "host", "port", "sender", "to"),
    *("url", "secret", "headers", "rate_limit", "per_minute", "breaker", "open_cooldown"),
    *("escalation_policies", "tiers", "after", "notify", "channel", "target", "repeat"),
    *("routes", "match", "escalation_policy", "continue", "default_route", "default"),
    *("notifications", "group_window", "tier_order_wait", "jobs", "workers", "lease"),
    "backoff_max",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            *("admin", "viewer", "full", "off", "debug", "console", "127.0.0.1:9095", "${X}"),
            *("${UNSET}", "${Y:-2}", "$${", "${", "sqlite+aiosqlite:///x", ""),
            *("webhook", "email", "https://h", "a@b", "5m", 'a="b"', 'a=~"("', "default"),
        ]
    )
)
KEYS = st.sampled_from(SCHEMA_KEYS) | st.text(max_size=6) | st.integers() | st.none()
NESTED = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, NESTED, max_size=8))
def test_arbitrary_nested_data_gives_config_or_config_error(data: dict[Any, Any]) -> None:
    _outcome(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


# --- arbitrary input -----------------------------------------------------------------------------

_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["30s", "1h30m", "-5m", "0s", "${NOPE}", "${X:-1s}", "$${", "http://x", "*"]),
)
_TOP_KEYS = TOP_LEVEL_KEYS.replace(" ", "").split(",")
_SOME_KEYS = [*_TOP_KEYS, "url", "type", "tiers", "after", "notify", "match", "token", "role"]
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(_SOME_KEYS)), inner, max_size=4
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_TOP_KEYS), _yaml_values, max_size=5))
def test_any_document_gives_a_config_or_a_config_error(document: dict[str, object]) -> None:
    """Whatever the YAML holds, loading gives a Config or a ConfigError naming the problems:
    never another exception, never a problem without a file and key path."""
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        parse_config(text, source="fuzz.yml", env={"X": "2s"})
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("fuzz.yml") for p in exc.problems), exc.problems


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_config(text, source="fuzz.yml", env={})
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("fuzz.yml") for p in exc.problems)
