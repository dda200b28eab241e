"""YAML as Firebreak reads it: syntax errors with their positions."""

from __future__ import annotations

import pytest

from receiver.config import ApiToken
from receiver.model import Role
from tests.unit.config.common import parse, problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b: c", "f.yml:1:5: invalid YAML: mapping values are not allowed here"),
        (
            "listen: [\n",
            "f.yml:2:1: invalid YAML: while parsing a flow node, "
            "expected the node content, but found '<stream end>'",
        ),
        (
            "webhook:\n  auth:\n\tx: 1",
            "f.yml:3:1: invalid YAML: while scanning for the next token, "
            "found character '\\t' that cannot start any token",
        ),
        ("listen: a\nlisten: b\n", 'f.yml:2:1: invalid YAML: duplicate key "listen"'),
        (
            "log: {level: info}\nlog: {}\n",
            'f.yml:2:1: invalid YAML: duplicate key "log"',
        ),
        ("a: *b", "f.yml:1:4: invalid YAML: found undefined alias 'b'"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yml:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
        (
            "log: {file_backups: !!int abc}",
            "f.yml:1:21: invalid YAML: cannot construct a tag:yaml.org,2002:int value",
        ),
        (
            "listen: a\x01",
            "f.yml:1:10: invalid YAML: unacceptable character #x0001: "
            "special characters are not allowed",
        ),
        ("listen: !!python/name:os.system x", None),
    ],
)
def test_yaml_syntax_errors(text: str, expected: str | None) -> None:
    [message] = problems(text)
    if expected is None:
        assert message.startswith("f.yml:1:9: invalid YAML: could not determine a constructor")
    else:
        assert message == expected


def test_merge_keys_are_not_duplicates() -> None:
    config = parse(
        """
        api:
          tokens:
            - &base {token: a, role: viewer, name: n}
            - {<<: *base, token: b, role: admin}
        """
    )
    assert config.api.tokens[1] == ApiToken(token="b", role=Role.ADMIN, name="n")


def test_deep_nesting_is_a_config_error() -> None:
    [message] = problems("a: " + "[" * 5000 + "]" * 5000)
    assert message.startswith("f.yml")
