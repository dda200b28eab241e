"""Environment references in configuration strings."""

from __future__ import annotations

import pytest

from receiver.config import ApiToken
from receiver.model import Role
from tests.unit.config.common import parse, problems


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "x", "B": "y"}, "xy"),
        ("${A}", {"A": ""}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A:-d}", {"A": "x"}, "x"),
        ("${A:-}", {}, ""),
        ("${A:-with spaces: and $dollars}", {}, "with spaces: and $dollars"),
        ("$${A}", {"A": "x"}, "${A}"),
        ("$${A} and ${A}", {"A": "x"}, "${A} and x"),
        ("$$${A}", {"A": "x"}, "$${A}"),  # "$" then the escape "$${" then plain "A}"
        ("$$", {}, "$$"),
        ("$A", {"A": "x"}, "$A"),
        ("a$", {}, "a$"),
        ("${A}", {"A": "${B}", "B": "no"}, "${B}"),  # values are not expanded again
    ],
)
def test_env_expansion(value: str, env: dict[str, str], expected: str) -> None:
    config = parse(f"api: {{tokens: [{{token: t, role: admin, name: '{value}'}}]}}", env)
    assert config.api.tokens[0].name == expected


def test_env_expansion_reaches_every_string() -> None:
    config = parse(
        """
        listen: ${HOST}:${PORT}
        webhook: {auth: {bearer_tokens: [a-webhook-token-0123456789, "${T}"]}}
        api: {tokens: [{token: "${T}x", role: "${ROLE}"}]}
        """,
        {"HOST": "0.0.0.0", "PORT": "80", "T": "token-0123456789", "ROLE": "responder"},
    )
    assert config.listen == "0.0.0.0:80"
    assert config.webhook.auth.bearer_tokens == ("a-webhook-token-0123456789", "token-0123456789")
    assert config.api.tokens[0] == ApiToken(token="token-0123456789x", role=Role.RESPONDER)
    assert type(config.listen) is str


def test_env_values_fill_number_and_boolean_fields() -> None:
    config = parse(
        "database: {pool_size: '${POOL:-4}'}\nlog: {access: '${ACCESS}', file_backups: '${N}'}",
        {"ACCESS": "true", "N": "-0"},
    )
    assert config.database.pool_size == 4
    assert config.log.access is True
    assert config.log.file_backups == 0
    assert problems("database: {pool_size: '${POOL}'}", {"POOL": "ten"}) == [
        'f.yml:1:12: database.pool_size: expected an integer, got "ten"'
    ]
    # A quoted literal is still a string: only expanded values are read as numbers.
    assert problems("database: {pool_size: '4'}") == [
        'f.yml:1:12: database.pool_size: expected an integer, got "4"'
    ]


def test_unset_environment_variable() -> None:
    assert problems(
        """
        webhook: {auth: {bearer_tokens: ["${FIREBREAK_WEBHOOK_TOKEN}"]}}
        api: {tokens: [{token: "${A}${B}", role: admin}]}
        """,
        {"A": "set"},
    ) == [
        "f.yml:2:34: webhook.auth.bearer_tokens[0]: "
        "environment variable FIREBREAK_WEBHOOK_TOKEN is not set",
        "f.yml:3:17: api.tokens[0].token: environment variable B is not set",
    ]


@pytest.mark.parametrize("value", ["${", "${A", "${A-d}", "${1A}", "${}", "${A:d}", "x${ A}"])
def test_malformed_reference(value: str) -> None:
    assert problems(f"log: {{file: '{value}'}}", {"A": "x"}) == [
        "f.yml:1:7: log.file: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)"
    ]


def test_keys_are_not_expanded() -> None:
    assert problems("${A}: 1", {"A": "listen"})[0].startswith('f.yml:1:1: ["${A}"]: unknown key')


def test_yaml_aliases_are_expanded_and_recursion_is_refused() -> None:
    config = parse(
        "webhook: {auth: {bearer_tokens: &t ['${A}']}}\nlog: {file: '${A}'}\n", {"A": "x"}
    )
    assert config.webhook.auth.bearer_tokens == ("x",)
    assert problems("webhook: &a {auth: *a}\nlisten: 1") == [
        "f.yml:1:14: webhook.auth: a YAML alias may not refer to a node that contains it",
        "f.yml:2:1: listen: expected a string, got a number",
    ]
