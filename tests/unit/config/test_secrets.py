"""Weak secrets: short ones and the example values Firebreak ships are refused when it listens
beyond loopback and warned about on loopback; every secret-like value in the shipped files is
one check-config knows."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.config import parse_config, weak_secret_warnings
from receiver.config.secrets import (
    MIN_SECRET_LENGTH,
    SHIPPED_EXAMPLE_SECRETS,
    digest_weakness,
    is_loopback,
    weakness,
)
from receiver.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = [
    ROOT / "firebreak.example.yml",
    ROOT / "docker-compose.yml",
    *sorted(
        p for p in (ROOT / "examples").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ),
    *sorted(p for p in (ROOT / "alertmanager").rglob("*") if p.is_file()),
]

# Names that say "this holds a secret", in keys and in environment variables.
_SECRETISH = r"(?:token|secret|passw(?:or)?d|credentials?|api_?key|routing_key)"
_DEFAULTED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}")
_ASSIGNED = re.compile(
    rf"(?P<key>[A-Za-z0-9_]*{_SECRETISH}[A-Za-z0-9_]*)\s*(?:=|:(?![-?]))\s*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\[[^\]]*\]|[^\s,}\]#]+)",
    re.IGNORECASE,
)
_IN_URL = re.compile(r"://[^/\s:@]+:(?P<password>[^@\s/]+)@")
_NOT_A_SECRET_KEY = re.compile(r"_(?:file|path|env|sha256)$", re.IGNORECASE)


def _values(raw: str) -> list[str]:
    """The literal strings of a scalar or a flow list, without quotes."""
    raw = raw.strip()
    items = raw[1:-1].split(",") if raw.startswith("[") else [raw]
    return [item.strip().strip("\"'") for item in items if item.strip()]


def secret_like_values(path: Path) -> set[str]:
    """Every value in ``path`` that is, or would be, a secret: defaults of ${TOKEN_ish:-…},
    literal values of secret-ish keys (also in comments: people uncomment them), and passwords
    in URLs. Python files count only quoted literals."""
    found: set[str] = set()
    python = path.suffix == ".py"
    for line in path.read_text(encoding="utf-8").splitlines():
        for match in _DEFAULTED.finditer(line):
            if re.search(_SECRETISH, match["name"], re.IGNORECASE) and match["default"]:
                found.add(match["default"])
        for match in _ASSIGNED.finditer(line):
            if _NOT_A_SECRET_KEY.search(match["key"]):
                continue
            raw = match["value"]
            if python and raw[0] not in "\"'":
                continue
            for value in _values(raw):
                if value and not value.startswith("$") and value not in ("null", "~"):
                    found.add(value)
        for match in _IN_URL.finditer(line):
            if not match["password"].startswith("$"):
                found.add(match["password"])
    return found


def test_every_secret_like_value_in_the_shipped_files_is_a_known_example() -> None:
    found = {value: path for path in SHIPPED for value in secret_like_values(path)}
    unknown = {value: str(path.relative_to(ROOT)) for value, path in found.items()}
    unknown = {v: p for v, p in unknown.items() if v not in SHIPPED_EXAMPLE_SECRETS}
    assert not unknown, (
        f"add these to receiver/config/secrets.py SHIPPED_EXAMPLE_SECRETS: {unknown}"
    )
    # The scan finds what it must (it would pass vacuously otherwise).
    assert {"change-me-admin", "change-me-webhook", "admin", "PASSWORD"} <= found.keys()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('  bearer_tokens: ["${X_TOKEN:-abc}", "literal-token"]', {"abc", "literal-token"}),
        ("#   password: hunter2  # a comment", {"hunter2"}),
        ("    - {token: plain, role: admin}", {"plain"}),
        ('  GF_ADMIN_PASSWORD: "${PW:?set it}"', set()),
        ("  credentials_file: /etc/secret", set()),
        ("  url: postgresql://user:s3cret@db/x", {"s3cret"}),
        ("  url: postgresql://user:${PG_PASSWORD}@db/x", set()),
        ("export FIREBREAK_ADMIN_TOKEN=$(openssl rand -hex 24)", set()),
    ],
)
def test_the_scan_finds_secrets_where_people_write_them(
    tmp_path: Path, line: str, expected: set[str]
) -> None:
    path = tmp_path / "f.yml"
    path.write_text(line + "\n")
    assert secret_like_values(path) == expected


def test_weakness_names_length_and_shipped_examples_never_the_value() -> None:
    assert weakness("x") == "is 1 character long; at least 16 are needed"
    assert (
        weakness("a" * (MIN_SECRET_LENGTH - 1)) == "is 15 characters long; at least 16 are needed"
    )
    assert weakness("a" * MIN_SECRET_LENGTH) is None
    assert weakness("change-me-admin") == "is an example value shipped with Firebreak"
    assert weakness("CHANGE-ME-WEBHOOK") == "is an example value shipped with Firebreak"
    example = hashlib.sha256(b"change-me-viewer").hexdigest()
    assert (
        digest_weakness(example.upper())
        == "is the SHA-256 of an example value shipped with Firebreak"
    )
    assert digest_weakness(hashlib.sha256(b"x").hexdigest()) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("firebreak.internal", False),
    ],
)
def test_loopback_is_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


WEAK = """
listen: "{listen}"
webhook:
  auth:
    bearer_tokens: [hook]
    basic_auth: {{username: am, password: change-me-webhook}}
api:
  tokens:
    - {{token: a, role: admin}}
    - {{token_sha256: "{example_sha}", role: viewer}}
    - {{token_sha256: "{other_sha}", role: viewer}}
    - {{token: "a-long-enough-token-0123", role: viewer}}
pagerduty: {{webhook_secrets: [pd]}}
slack: {{bot_token: xoxb-1, signing_secret: short}}
heartbeats: {{backup: {{token: beat, interval: 1h}}}}
channels:
  hook: {{type: webhook, webhook: {{url: "https://example.com/x", secret: s}}}}
  "odd name": {{type: webhook, webhook: {{url: "https://example.com/y", secret: t}}}}
"""


def _weak(listen: str) -> str:
    return WEAK.format(
        listen=listen,
        example_sha=hashlib.sha256(b"change-me-admin").hexdigest(),
        other_sha=hashlib.sha256(b"anything").hexdigest(),
    )


WEAK_KEYS = [
    ("api.tokens[0].token", "is 1 character long; at least 16 are needed"),
    ("api.tokens[1].token_sha256", "is the SHA-256 of an example value shipped with Firebreak"),
    ("webhook.auth.bearer_tokens[0]", "is 4 characters long; at least 16 are needed"),
    ("webhook.auth.basic_auth.password", "is an example value shipped with Firebreak"),
    ("slack.signing_secret", "is 5 characters long; at least 16 are needed"),
    ("pagerduty.webhook_secrets[0]", "is 2 characters long; at least 16 are needed"),
    ("heartbeats.backup.token", "is 4 characters long; at least 16 are needed"),
    ("channels.hook.webhook.secret", "is 1 character long; at least 16 are needed"),
    ('channels["odd name"].webhook.secret', "is 1 character long; at least 16 are needed"),
]


@pytest.mark.parametrize("listen", ["0.0.0.0:9095", "[::]:9095", "10.0.0.5:9095", "fb.internal:80"])
def test_beyond_loopback_every_weak_secret_is_refused_by_key(listen: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_weak(listen), source="f.yml", env={})
    assert raised.value.problems == [
        f"f.yml: {key}: {problem}, and listen ({listen}) is beyond loopback; use a random "
        "secret of 16 characters or more (openssl rand -hex 24)"
        for key, problem in WEAK_KEYS
    ]


def test_on_loopback_weak_secrets_are_warnings() -> None:
    config = parse_config(_weak("127.0.0.1:9095"), source="f.yml", env={})
    assert weak_secret_warnings(config) == [
        f"{key}: {problem}; it would be refused beyond loopback" for key, problem in WEAK_KEYS
    ]


def test_an_included_files_weak_channel_secret_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "team.yml").write_text(
        'channels: {ops: {type: webhook, webhook: {url: "https://example.com/z", secret: x}}}\n'
    )
    main_file = tmp_path / "firebreak.yml"
    main_file.write_text(
        'listen: "0.0.0.0:9095"\ninclude: team.yml\n'
        "webhook: {auth: {bearer_tokens: [a-random-webhook-token-0123]}}\n"
    )
    from receiver.config import load_config

    with pytest.raises(ConfigError) as raised:
        load_config(main_file, env={})
    (problem,) = raised.value.problems
    assert problem.startswith(f"{tmp_path / 'team.yml'}: channels.ops.webhook.secret: is 1 char")


def test_check_config_refuses_a_one_character_admin_token_on_every_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.yml"
    path.write_text('listen: "0.0.0.0:9095"\napi: {tokens: [{token: "x", role: admin}]}\n')
    assert main(["check-config", "--config", str(path)]) == 1
    printed = capsys.readouterr()
    assert f"{path}: api.tokens[0].token: is 1 character long" in printed.err
    path.write_text('listen: "127.0.0.1:9095"\napi: {tokens: [{token: "x", role: admin}]}\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning: api.tokens[0].token: is 1 character long" in capsys.readouterr().out


@pytest.mark.parametrize("listen", ["0.0.0.0:9095", "[::]:9095", "fb.internal:80"])
def test_beyond_loopback_a_webhook_without_credentials_is_refused(listen: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f'listen: "{listen}"\n', source="f.yml", env={})
    assert raised.value.problems == [
        f"f.yml: webhook.auth: no credentials configured, and listen ({listen}) is beyond "
        "loopback, where anyone who can reach the port could post alerts; give Alertmanager a "
        "bearer token (bearer_tokens, openssl rand -hex 24)"
    ]
    # On loopback it serves (check-config and serve warn of it), and with a token beyond it.
    parse_config('listen: "127.0.0.1:9095"\n', env={})
    hook = "webhook: {auth: {bearer_tokens: [a-random-webhook-token-0123]}}\n"
    parse_config(f'listen: "{listen}"\n{hook}', env={})
