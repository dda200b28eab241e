"""What fields accept: unknown and missing keys, and each check's problem message."""

from __future__ import annotations

import pytest

from tests.unit.config.common import SECRET, TOP_LEVEL_KEYS, parse, problems

WEBHOOK_KEYS = "auth, max_body_bytes, trusted_senders"


def test_unknown_keys() -> None:
    assert problems(
        """
        lisen: x
        webhook:
          autth: {}
          "a b": 1
          1: 2
        api:
          tokens: [{token: t, role: admin, nmae: x}]
        """
    ) == [
        "f.yml:2:1: lisen: unknown key; did you mean listen?",
        "f.yml:4:3: webhook.autth: unknown key; did you mean auth?",
        f'f.yml:5:3: webhook["a b"]: unknown key; expected one of: {WEBHOOK_KEYS}',
        f"f.yml:6:3: webhook.1: unknown key; expected one of: {WEBHOOK_KEYS}",
        "f.yml:8:36: api.tokens[0].nmae: unknown key; did you mean name?",
    ]


def test_internal_field_is_not_a_key() -> None:
    assert problems("source: x\nincluded: []") == [
        f"f.yml:1:1: source: unknown key; expected one of: {TOP_LEVEL_KEYS}",
        "f.yml:2:1: included: unknown key; did you mean include?",
    ]


def test_required_keys() -> None:
    assert problems(
        """
        api:
          tokens:
            - {token: t}
            - {role: admin}
        webhook: {auth: {basic_auth: {}}}
        """
    ) == [
        # A key that is missing is placed where the mapping that lacks it is written.
        "f.yml:6:18: webhook.auth.basic_auth.username: required key is missing",
        "f.yml:6:18: webhook.auth.basic_auth.password: required key is missing",
        "f.yml:4:7: api.tokens[0].role: required key is missing",
        "f.yml:5:7: api.tokens[1].token: give token or token_sha256 (exactly one)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("listen: 9095", "1:1: listen: expected a string, got a number"),
        ("listen: null", "1:1: listen: expected a string, got null"),
        ("listen: [a]", "1:1: listen: expected a string, got a list"),
        ("listen: {a: 1}", "1:1: listen: expected a string, got a mapping"),
        ("listen: true", "1:1: listen: expected a string, got true"),
        ("webhook: []", "1:1: webhook: expected a mapping, got a list"),
        ("webhook: abc", '1:1: webhook: expected a mapping, got "abc"'),
        (
            "webhook: {max_body_bytes: abc}",
            '1:11: webhook.max_body_bytes: expected an integer, got "abc"',
        ),
        (
            "webhook: {max_body_bytes: true}",
            "1:11: webhook.max_body_bytes: expected an integer, got true",
        ),
        (
            "webhook: {max_body_bytes: 1.5}",
            "1:11: webhook.max_body_bytes: expected an integer, got a number",
        ),
        ("webhook: {max_body_bytes: 0}", "1:11: webhook.max_body_bytes: must be greater than 0"),
        (
            "webhook: {auth: {bearer_tokens: x}}",
            "1:18: webhook.auth.bearer_tokens: expected a list, got a string",
        ),
        (
            "webhook: {auth: {bearer_tokens: [1]}}",
            "1:34: webhook.auth.bearer_tokens[0]: expected a string, got a number",
        ),
        (
            "webhook: {auth: {bearer_tokens: [a, '']}}",
            "1:37: webhook.auth.bearer_tokens[1]: must not be empty",
        ),
        (
            "webhook: {auth: {basic_auth: []}}",
            "1:18: webhook.auth.basic_auth: expected a mapping, got a list",
        ),
        (
            "database: {url: 'mysql://db'}",
            "1:12: database.url: expected a URL starting with sqlite+aiosqlite:// or "
            "postgresql+asyncpg://",
        ),
        (
            "database: {sqlite_synchronous: extra}",
            '1:12: database.sqlite_synchronous: expected one of full, normal, off, got "extra"',
        ),
        ("database: {pool_size: -1}", "1:12: database.pool_size: must be greater than 0"),
        ("api: {tokens: {token: t}}", "1:7: api.tokens: expected a list, got a mapping"),
        ("api: {tokens: [x]}", '1:16: api.tokens[0]: expected a mapping, got "x"'),
        (
            "api: {tokens: [{token: t, role: root}]}",
            '1:27: api.tokens[0].role: expected one of viewer, responder, admin, got "root"',
        ),
        (
            "api: {tokens: [{token: t, role: ADMIN}]}",
            '1:27: api.tokens[0].role: expected one of viewer, responder, admin, got "ADMIN"',
        ),
        (
            "api: {tokens: [{token: t, role: 3}]}",
            "1:27: api.tokens[0].role: expected one of viewer, responder, admin, got a number",
        ),
        (
            "api: {tokens: [{token: t, role: admin, name: 5}]}",
            "1:40: api.tokens[0].name: expected a string, got a number",
        ),
        (
            "log: {level: verbose}",
            '1:7: log.level: expected one of debug, info, warning, error, got "verbose"',
        ),
        ("log: {format: text}", '1:7: log.format: expected one of json, console, got "text"'),
        ("log: {file: ''}", "1:7: log.file: must not be empty"),
        ("log: {file_max_bytes: 0}", "1:7: log.file_max_bytes: must be greater than 0"),
        ("log: {file_backups: -1}", "1:7: log.file_backups: must be 0 or greater"),
        ("log: {access: yes}", '1:7: log.access: expected true or false, got "yes"'),
        ("log: {access: 1}", "1:7: log.access: expected true or false, got a number"),
        ("ingest: {max_batch_alerts: 0}", "1:10: ingest.max_batch_alerts: must be greater than 0"),
        ("- a", "1:1: top level: expected a mapping, got a list"),
        ("just text", '1:1: top level: expected a mapping, got "just text"'),
    ],
)
def test_problem_messages(text: str, expected: str) -> None:
    assert problems(text) == [f"f.yml:{expected}"]


def test_long_values_are_cut_short_in_messages() -> None:
    [message] = problems(f"log: {{level: {'x' * 500}}}")
    assert (
        message
        == f'f.yml:1:7: log.level: expected one of debug, info, warning, error, got "{"x" * 57}..."'
    )


def test_yaml_11_booleans_are_strings() -> None:
    # "off" must stay a string, or SQLite's synchronous=off could not be written unquoted.
    assert parse("database: {sqlite_synchronous: off}").database.sqlite_synchronous == "off"
    assert parse("log: {access: True}").log.access is True
    assert parse("log: {file: 2024-01-01}").log.file == "2024-01-01"


def test_duplicate_api_tokens() -> None:
    message = problems(
        f"""
        api:
          tokens:
            - {{token: "{SECRET}", role: admin}}
            - {{token: other, role: viewer}}
            - {{token: "{SECRET}", role: viewer}}
            - {{token: other, role: admin}}
        """
    )
    assert message == [
        "f.yml:6:8: api.tokens[2].token: duplicates api.tokens[0]",
        "f.yml:7:8: api.tokens[3].token: duplicates api.tokens[1]",
    ]
    assert SECRET not in str(message)


def test_all_problems_are_reported_together() -> None:
    assert problems(
        """
        listen: nowhere
        database: {url: 'x://', pool_size: 0, extra: 1}
        webhook: {max_body_bytes: -5}
        api: {tokens: [{token: '', role: boss}]}
        log: {level: loud, file_backups: many}
        ingest: []
        """
    ) == [
        "f.yml:2:1: listen: expected host:port such as 127.0.0.1:9095 or [::1]:9095",
        "f.yml:3:39: database.extra: unknown key; expected one of: pool_size, "
        "sqlite_synchronous, url",
        "f.yml:3:12: database.url: expected a URL starting with sqlite+aiosqlite:// or "
        "postgresql+asyncpg://",
        "f.yml:3:25: database.pool_size: must be greater than 0",
        "f.yml:4:11: webhook.max_body_bytes: must be greater than 0",
        "f.yml:5:17: api.tokens[0].token: must not be empty",
        'f.yml:5:28: api.tokens[0].role: expected one of viewer, responder, admin, got "boss"',
        'f.yml:6:7: log.level: expected one of debug, info, warning, error, got "loud"',
        'f.yml:6:20: log.file_backups: expected an integer, got "many"',
        "f.yml:7:1: ingest: expected a mapping, got a list",
    ]
