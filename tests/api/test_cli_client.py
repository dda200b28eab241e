"""The commands that talk to a running Firebreak over HTTP (``firebreak page``, ``firebreak
heartbeat``) share one policy: a 5xx is tried again with the same request, a 4xx never, an
address that is not http(s) is refused before anything is sent. Each against a real local
server that answers as told and records what it got."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver.cli import main

TOKEN = "cli-client-token-0123456789abcdef"
PAGE_ANSWER = {
    "id": 7,
    "labels": {"alertname": "Disk full"},
    "annotations": {"target": "person:bob"},
}
BEAT_ANSWER = {"name": "backup", "state": "ok", "due_at": "2026-12-07T02:15:00+00:00"}


@dataclass
class Scripted:
    """Answers each request with the next (status, body) of ``answers``, the last one again
    once they run out, and records each request's path, headers and JSON."""

    answers: list[tuple[int, Any]]
    got: list[tuple[str, str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(
            (request.path, request.headers.get("Authorization", ""), await request.json())
        )
        status, body = self.answers[min(len(self.got), len(self.answers)) - 1]
        return web.json_response(body, status=status)


Serve = Callable[[list[tuple[int, Any]]], Awaitable[tuple[Scripted, str]]]


@pytest.fixture
async def serve() -> Any:
    servers: list[TestServer] = []

    async def start(answers: list[tuple[int, Any]]) -> tuple[Scripted, str]:
        scripted = Scripted(answers)
        app = web.Application()
        app.router.add_post("/{path:.*}", scripted.handle)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return scripted, str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBREAK_TOKEN", TOKEN)
    monkeypatch.setenv("FIREBREAK_HEARTBEAT_TOKEN", TOKEN)
    monkeypatch.delenv("FIREBREAK_URL", raising=False)


async def firebreak(*argv: str) -> int:
    """The command in a thread of its own (its own event loop), as a shell runs it."""
    return await asyncio.to_thread(main, list(argv))


def page(url: str) -> list[str]:
    return ["page", "--url", url, "--key", "disk-1", "person:bob", "Disk", "full"]


def heartbeat(url: str) -> list[str]:
    return ["heartbeat", "backup", "--url", url, "--message", "42 GiB"]


COMMANDS = {
    "page": (page, "/api/v1/alerts", (201, PAGE_ANSWER)),
    "heartbeat": (heartbeat, "/api/v1/heartbeats/backup", (200, BEAT_ANSWER)),
}


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_503_is_tried_again_with_the_same_request(
    command: str, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, path, success = COMMANDS[command]
    scripted, url = await serve([(503, {"error": "the store is away"}), success])
    assert await firebreak(*argv(url)) == 0
    assert len(scripted.got) == 2
    assert scripted.got[0] == scripted.got[1]
    assert scripted.got[0][:2] == (path, f"Bearer {TOKEN}")
    out = capsys.readouterr().out
    assert out.startswith("paged person:bob: alert 7" if command == "page" else "backup: ok")


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_5xx_every_time_gives_up_after_the_attempts_saying_so(
    command: str, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _path, _success = COMMANDS[command]
    scripted, url = await serve([(502, {"error": "bad gateway"})])
    assert await firebreak(*argv(url)) == 1
    assert len(scripted.got) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"firebreak {command}: ")
    assert "502" in err


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_400_is_not_tried_again(
    command: str, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _path, _success = COMMANDS[command]
    refusal = {"error": "message: expected text\x1b[31m", "field": "message"}
    scripted, url = await serve([(400, refusal), (200, BEAT_ANSWER)])
    assert await firebreak(*argv(url)) == 1
    assert len(scripted.got) == 1
    err = capsys.readouterr().err
    if command == "page":
        # The API's field, as the command line spells it.
        assert err == "firebreak page: MESSAGE: expected text?[31m\n"
    else:
        assert err == "firebreak heartbeat: backup: HTTP 400: message: expected text?[31m\n"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "address", ["file:///etc/passwd", "unix:/run/firebreak.sock", "ftp://firebreak", "http://"]
)
async def test_an_address_that_is_not_http_is_refused_before_anything_is_sent(
    command: str, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _path, _success = COMMANDS[command]
    assert await firebreak(*argv(address)) == 2
    assert "--url: expected an http or https URL" in capsys.readouterr().err


async def test_a_control_character_in_the_page_token_is_refused_before_it_is_sent(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted, url = await serve([(201, PAGE_ANSWER)])
    monkeypatch.setenv("FIREBREAK_TOKEN", TOKEN + "\r\nX-Role: admin")
    assert await firebreak(*page(url)) == 2
    assert "$FIREBREAK_TOKEN: a token is one line" in capsys.readouterr().err
    assert scripted.got == []


async def test_an_answer_that_is_not_json_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<h1>Forbidden</h1>" * 10_000, status=403)

    app = web.Application()
    app.router.add_post("/{path:.*}", html)
    async with TestServer(app) as server:
        url = str(server.make_url("")).rstrip("/")
        assert await firebreak(*heartbeat(url)) == 1
        assert capsys.readouterr().err == "firebreak heartbeat: backup: HTTP 403: Forbidden\n"
        assert await firebreak(*page(url)) == 1
    assert capsys.readouterr().err.startswith(f"firebreak page: {url}/api/v1/alerts answered 403")


async def test_a_success_that_is_not_json_is_reported_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A proxy's own page in front of Firebreak: the page says it may not be raised."""

    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<h1>Welcome to nginx</h1>", status=201)

    app = web.Application()
    app.router.add_post("/{path:.*}", html)
    async with TestServer(app) as server:
        url = str(server.make_url("")).rstrip("/")
        assert await firebreak(*page(url)) == 1
    err = capsys.readouterr().err
    assert err == (
        f"firebreak page: {url}/api/v1/alerts answered 201; the page may not be raised: "
        "send it again with --key disk-1\n"
    )
