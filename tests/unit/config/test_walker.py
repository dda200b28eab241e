"""The walker: every supported type, key aliases and short forms, and secrets kept out of
messages and repr."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

import pytest

from receiver.config import Shorthand, from_data
from receiver.errors import ConfigError
from tests.unit.config.common import SECRET, parse

# --- secrets ----------------------------------------------------------------------------------


def test_secrets_never_appear_in_repr() -> None:
    config = parse(
        f"""
        database: {{url: "postgresql+asyncpg://u:{SECRET}@db/x"}}
        webhook:
          auth:
            bearer_tokens: ["{SECRET}1"]
            basic_auth: {{username: alertmanager, password: "{SECRET}2"}}
        api:
          tokens: [{{token: "${{TOKEN}}", role: admin, name: ops-bot}}]
        """,
        env={"TOKEN": f"{SECRET}3"},
    )
    assert config.api.tokens[0].token == f"{SECRET}3"
    assert config.webhook.auth.basic_auth is not None
    assert config.webhook.auth.basic_auth.password == f"{SECRET}2"
    for text in (repr(config), str(config), repr(config.webhook.auth), repr(config.api.tokens)):
        assert SECRET not in text
    assert "alertmanager" in repr(config)  # the username is not secret
    assert "ops-bot" in repr(config)


def test_secrets_never_appear_in_error_messages() -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            f"""
            database: {{url: "mysql://u:{SECRET}@db/x"}}
            webhook:
              auth:
                bearer_tokens: ["{SECRET}", ""]
                basic_auth: {{username: "", password: "{SECRET}", pasword: x}}
            api:
              tokens:
                - {{token: "{SECRET}", role: superuser}}
                - {{token: "{SECRET}"}}
                - {{token: ["{SECRET}"], role: admin}}
                - {{token: "{SECRET}${{UNSET}}", role: admin}}
            """
        )
    assert len(info.value.problems) == 8
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert "f.yml:11:8: api.tokens[2].token: expected a string, got a list" in info.value.problems


@dataclass(frozen=True, slots=True)
class Secrets:
    pin: int = field(default=0, repr=False, metadata={"secret": True})
    level: Literal["a", "b"] = field(default="a", repr=False, metadata={"secret": True})
    ttl: timedelta = field(default=timedelta(0), repr=False, metadata={"secret": True})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"pin": SECRET}, "pin: expected an integer, got a string"),
        ({"level": SECRET}, "level: expected one of a, b, got a string"),
        ({"ttl": SECRET}, "ttl: expected a duration such as 30s, 5m or 1h30m, got a string"),
    ],
)
def test_secret_values_are_described_not_shown(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_data(Secrets, data, source="f.yml", env={})
    assert info.value.problems == [f"f.yml: {expected}"]


@dataclass(frozen=True, slots=True)
class LeakySecret:
    password: str = field(default="", metadata={"secret": True})  # repr=True: a schema bug


def test_schema_with_a_secret_in_repr_is_refused() -> None:
    with pytest.raises(TypeError, match="secret"):
        from_data(LeakySecret, {}, env={})


# --- the generic walker -----------------------------------------------------------------------


class Colour(StrEnum):
    DARK_RED = "dark-red"
    BLUE = "blue"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True, slots=True)
class Inner:
    name: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Everything:
    ratio: float = field(default=0.5, metadata={"check": _positive})
    colour: Colour = Colour.BLUE
    mode: Literal["fast", "safe"] = "safe"
    timeout: timedelta = timedelta(seconds=30)
    labels: dict[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    inner: Inner | None = None
    items: tuple[Inner, ...] = ()
    numbers: tuple[int, ...] = field(default=(), metadata={"check_each": _positive})
    maybe: int | None = 3


def test_generic_walker_converts_every_supported_type() -> None:
    result = from_data(
        Everything,
        {
            "ratio": 2,
            "colour": "dark_red",
            "mode": "fast",
            "timeout": "1h30m",
            "labels": {"team": "db", "a.b": "c"},
            "limits": {"x": 1},
            "inner": {"name": "n"},
            "items": [{"name": "a", "weight": 2}, {"name": "b", "weight": 0.25}],
            "numbers": [1, 2],
            "maybe": None,
        },
        env={},
    )
    assert result == Everything(
        ratio=2.0,
        colour=Colour.DARK_RED,
        mode="fast",
        timeout=timedelta(hours=1, minutes=30),
        labels={"team": "db", "a.b": "c"},
        limits={"x": 1},
        inner=Inner(name="n"),
        items=(Inner("a", 2.0), Inner("b", 0.25)),
        numbers=(1, 2),
        maybe=None,
    )
    assert type(result.ratio) is float
    assert type(result.labels) is dict
    assert isinstance(result.limits, types.MappingProxyType)
    assert from_data(Everything, None, env={}) == Everything()


def test_generic_walker_problems() -> None:
    with pytest.raises(ConfigError) as info:
        from_data(
            Everything,
            {
                "ratio": True,
                "colour": "blue-ish",
                "mode": "FAST",
                "timeout": "5 minutes",
                "labels": {"team": 1, 2: "x", "odd key": None},
                "limits": ["x"],
                "inner": {"weight": "heavy"},
                "items": [{"name": "a"}, "b"],
                "numbers": [1, 0, -1, "x"],
                "maybe": "3",
            },
            source="s.yml",
            env={},
        )
    assert info.value.problems == [
        "s.yml: ratio: expected a number, got true",
        's.yml: colour: expected one of dark_red, blue, got "blue-ish"',
        's.yml: mode: expected one of fast, safe, got "FAST"',
        's.yml: timeout: expected a duration such as 30s, 5m or 1h30m, got "5 minutes"',
        "s.yml: labels.team: expected a string, got a number",
        "s.yml: labels.2: expected a string key, got a number",
        's.yml: labels["odd key"]: expected a string, got null',
        "s.yml: limits: expected a mapping, got a list",
        "s.yml: inner.name: required key is missing",
        's.yml: inner.weight: expected a number, got "heavy"',
        's.yml: items[1]: expected a mapping, got "b"',
        's.yml: numbers[3]: expected an integer, got "x"',
        's.yml: maybe: expected an integer, got "3"',
    ]


def test_checks_run_on_converted_values() -> None:
    with pytest.raises(ConfigError) as info:
        from_data(Everything, {"ratio": 0, "numbers": [1, 0, -1], "timeout": 30}, env={})
    assert info.value.problems == [
        "<config>: ratio: must be greater than 0",
        "<config>: timeout: expected a duration such as 30s, 5m or 1h30m, got a number",
        "<config>: numbers[1]: must be greater than 0",
        "<config>: numbers[2]: must be greater than 0",
    ]


# --- the generic walker: key aliases and short forms ------------------------------------------


def _halve(value: int) -> str | None:
    return None if value % 2 == 0 else "must be even"


@dataclass(frozen=True, slots=True)
class Pair:
    left: str
    right: str = ""


@dataclass(frozen=True, slots=True)
class Aliased:
    import_: bool = field(default=False, metadata={"key": "import"})
    evens: tuple[int, ...] = field(
        default=(),
        metadata={
            "shorthand": Shorthand(int, lambda n: [n], "a number or a list of them"),
            "check_each": _halve,
        },
    )
    pairs: tuple[Pair, ...] = field(
        default=(),
        metadata={"shorthand_each": Shorthand(str, lambda s: {"left": s}, "a name or a pair")},
    )
    pair: Pair | None = field(
        default=None,
        metadata={"shorthand": Shorthand(str, lambda s: {"left": s}, "a name or a pair")},
    )


def test_key_aliases_and_short_forms() -> None:
    assert from_data(
        Aliased,
        {"import": True, "evens": 4, "pairs": ["a", {"left": "b", "right": "c"}], "pair": "p"},
        env={},
    ) == Aliased(import_=True, evens=(4,), pairs=(Pair("a"), Pair("b", "c")), pair=Pair("p"))
    assert from_data(Aliased, {"evens": [2, 4], "pair": None}, env={}) == Aliased(evens=(2, 4))
    with pytest.raises(ConfigError) as info:
        from_data(
            Aliased,
            {"import_": 1, "evens": 3, "pairs": [1, None], "pair": ["x"]},
            source="s.yml",
            env={},
        )
    assert info.value.problems == [
        "s.yml: import_: unknown key; did you mean import?",
        "s.yml: evens: must be even",  # the short form is reported where it was written
        "s.yml: pairs[0]: expected a name or a pair, got a number",
        "s.yml: pairs[1].left: required key is missing",
        "s.yml: pair: expected a name or a pair, got a list",
    ]
    with pytest.raises(ConfigError) as info:
        from_data(Aliased, {"evens": [2, 3], "import": "yes"}, source="s.yml", env={})
    assert info.value.problems == [
        's.yml: import: expected true or false, got "yes"',
        "s.yml: evens[1]: must be even",
    ]
