"""What ``serve`` says once it listens: the console's address and which token logs in."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.config import load_config, parse_config
from receiver.listening import EXAMPLE_TOKENS, base_url, console_login

EXAMPLE = Path(__file__).resolve().parents[2] / "firebreak.example.yml"


def test_the_example_tokens_are_the_ones_the_example_file_falls_back_to() -> None:
    config = load_config(EXAMPLE, env={})
    shipped = {t.token for t in config.api.tokens} | set(config.webhook.auth.bearer_tokens)
    assert shipped == EXAMPLE_TOKENS
    assert console_login(config) == (
        'log in with the API token "admin" (role admin): change-me-admin — the example\'s '
        "token; set real tokens through the environment before anyone else can reach this port"
    )


def test_a_real_token_is_named_never_shown() -> None:
    env = {"FIREBREAK_ADMIN_TOKEN": "s3cr3t-admin-0123456789"}
    config = load_config(EXAMPLE, env=env)
    assert console_login(config) == 'log in with the API token "admin" (role admin)'


@pytest.mark.parametrize(
    ("tokens", "said"),
    [
        ("[]", "no api.tokens are configured, so nobody can log in to the console"),
        (
            "[{token: a-long-viewer-token, role: viewer, name: wall},"
            " {token: a-long-responder-token, role: responder}]",
            "log in with the API token api.tokens[1] (role responder)",
        ),
        (
            "[{token_sha256: '" + "0" * 64 + "', role: admin, name: ops},"
            " {token: change-me-admin, role: admin, name: second}]",
            'log in with the API token "ops" (role admin)',
        ),
    ],
)
def test_the_highest_role_first_written_is_named(tokens: str, said: str) -> None:
    config = parse_config(f"api: {{tokens: {tokens}}}", env={})
    assert console_login(config) == said


@pytest.mark.parametrize(
    ("listen", "tls", "url"),
    [
        ("127.0.0.1:9095", False, "http://127.0.0.1:9095"),
        ("0.0.0.0:9095", True, "https://127.0.0.1:9095"),
        ('"[::]:9095"', False, "http://[::1]:9095"),
        ('"[::1]:80"', False, "http://[::1]:80"),
        ("firebreak.example.com:9095", False, "http://firebreak.example.com:9095"),
    ],
)
def test_the_console_url_a_browser_on_this_machine_opens(listen: str, tls: bool, url: str) -> None:
    hook = "webhook: {auth: {bearer_tokens: [a-random-webhook-token-0123]}}"  # beyond loopback
    assert base_url(parse_config(f"listen: {listen}\n{hook}", env={}), tls=tls) == url
