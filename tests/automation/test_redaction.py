"""Secrets never reach a step's record: outputs, errors and inputs are redacted of every
secret parameter and every configured credential (as written, percent-encoded, base64) on
their way into the store, and bounded in size with a marker where they were cut."""

from __future__ import annotations

import base64
import json
import sys
import urllib.parse
from typing import Any

from receiver.automation.redaction import Redactor, bound, configured_secrets
from receiver.config import parse_config
from tests.automation.conftest import execution, finished
from tests.conftest import RESPONDER_TOKEN, WEBHOOK_TOKEN, auth

SECRET = "hunter2-rotating-key/with+odd=chars"

PRINTS = f"""
id: leaky
title: A step that prints what it should not
params:
  key: {{secret: true, default: "{SECRET}"}}
steps:
  - id: show
    on_failure: continue
    shell:
      argv:
        - "{sys.executable}"
        - "-c"
        - |
          import base64, sys, urllib.parse
          key = sys.argv[1]
          print("plain", key)
          print("b64", base64.b64encode(key.encode()).decode())
          print("url", urllib.parse.quote(key, safe=""))
          print("webhook token", "{WEBHOOK_TOKEN}")
          sys.exit("failed with " + key)
        - "{{{{ params.key }}}}"
      expect_exit: [0]
  - id: raise
    python: {{function: complain, args: {{key: "{{{{ params.key }}}}"}}}}
"""


def complain(key: str) -> None:
    raise RuntimeError(f"the far side refused key {key}")


async def test_outputs_and_errors_are_stored_redacted(start: Any) -> None:
    client = await start(
        PRINTS,
        extra=f'automation: {{shell_allow: ["{sys.executable}"]}}\n',
        actions={"complain": complain},
    )
    resp = await client.post(
        "/api/v1/runbooks/leaky/execute",
        json={},
        headers=auth(RESPONDER_TOKEN),
    )
    record = await finished(client, (await resp.json())["id"])
    text = json.dumps(record)
    for form in (
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        urllib.parse.quote(SECRET, safe=""),
        WEBHOOK_TOKEN,
    ):
        assert form not in text, form
    show, complained = record["steps"]
    assert show["output"]["stdout"].splitlines() == [
        "plain <redacted>",
        "b64 <redacted>",
        "url <redacted>",
        "webhook token <redacted>",
    ]
    assert show["output"]["stderr"] == "failed with <redacted>\n"
    assert show["inputs"]["argv"][-1] == "<redacted>"
    assert (
        complained["error"] == "complain raised RuntimeError: the far side refused key <redacted>"
    )
    assert record["error"].endswith("the far side refused key <redacted>")
    assert all(SECRET not in (e["note"] or "") for e in record["events"])


async def test_a_step_output_is_bounded_with_a_marker(start: Any) -> None:
    code = "print('x' * 20000); import sys; print('y' * 300, file=sys.stderr)"
    client = await start(
        f"""
id: loud
title: Loud
steps:
  - id: loud
    shell: {{argv: {json.dumps([sys.executable, "-c", code])}}}
""",
        extra=f'automation: {{shell_allow: ["{sys.executable}"], max_step_output_bytes: 4096}}\n',
    )
    resp = await client.post(
        "/api/v1/runbooks/loud/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    record = await execution(client, (await finished(client, (await resp.json())["id"]))["id"])
    output = record["steps"][0]["output"]
    assert len(json.dumps(output)) <= 4096
    assert output["stdout"].startswith("xxx")
    assert output["stdout"].endswith("characters cut: automation.max_step_output_bytes]")
    assert output["stderr"] == "y" * 300 + "\n"  # short enough to stay whole
    assert output["exit_code"] == 0


def test_configured_secrets_are_every_credential_of_the_file() -> None:
    config = parse_config(
        """
database: {url: "postgresql+asyncpg://firebreak:db-pa%24%24word@db:5432/firebreak"}
webhook:
  auth:
    bearer_tokens: ["hook-token-0001"]
    basic_auth: {username: am, password: basic-pass-01}
api:
  tokens: [{token: "api-token-0001", role: admin}]
grafana: {url: "http://grafana:3000", token: "glsa_grafana_0001"}
channels:
  hook:
    type: webhook
    webhook:
      url: "https://hooks.example.com/T0/B0/abcdef"
      secret: "hmac-key-0001"
      headers: {X-Api-Key: "header-key-0001", Content-Type: application/json}
automation:
  actions:
    purge_cdn: {api_token: "cdn-token-0001", zone: eu-west}
""",
        env={},
    )
    found = configured_secrets(config)
    for secret in (
        "db-pa$$word",
        "hook-token-0001",
        "basic-pass-01",
        base64.b64encode(b"am:basic-pass-01").decode(),
        "api-token-0001",
        "glsa_grafana_0001",
        "https://hooks.example.com/T0/B0/abcdef",
        "hmac-key-0001",
        "header-key-0001",
        "cdn-token-0001",
    ):
        assert secret in found, secret
    # What is not a credential stays readable in outputs.
    assert {"application/json", "eu-west", "am"} & found == set()
    assert not any(s == "firebreak" or s.startswith("postgresql") for s in found)


def test_redaction_takes_every_form_and_secret_looking_keys() -> None:
    redactor = Redactor.of(["s3cr3t/value"])
    value = {
        "a": "x s3cr3t/value y",
        "b": ["s3cr3t%2Fvalue", base64.b64encode(b"s3cr3t/value").decode()],
        "Authorization": "Bearer anything",
        "s3cr3t/value": 1,
    }
    assert redactor.value(value) == {
        "a": "x <redacted> y",
        "b": ["<redacted>", "<redacted>"],
        "Authorization": "<redacted>",
        "<redacted>": 1,
    }
    assert Redactor.of(["abc"]).text("abc") == "abc"  # too short to search for


def test_bound_cuts_the_longest_strings_first_then_falls_back_to_a_preview() -> None:
    value = {"long": "a" * 5000, "short": "b" * 50, "n": 3}
    cut = bound(value, 1024)
    assert cut["short"] == "b" * 50 and cut["n"] == 3
    assert cut["long"].startswith("aaa") and "characters cut" in cut["long"]
    assert len(json.dumps(cut)) <= 1024
    many = {f"k{i}": i for i in range(500)}
    preview = bound(many, 1024)
    assert preview["truncated"] is True and "characters cut" in preview["preview"]
    assert len(json.dumps(preview)) <= 1024
