"""A wire-level Slack: the Web API methods Firebreak calls, plus the ``response_url`` endpoint
slash commands answer through, on a real HTTP server on loopback.

Methods answer with Slack's shapes (``{"ok": true, ...}``; errors as ``{"ok": false, "error":
"channel_not_found"}`` with HTTP 200, rate limits as HTTP 429 with ``Retry-After`` and
``{"ok": false, "error": "ratelimited"}``). Every call is recorded in order — method, arguments,
token, time — so a test reads the whole story from ``fake.calls``. Messages are kept per channel
with their ts, text, blocks, metadata and thread, as ``conversations.history`` returns them.
Files go up as Slack's external upload does (``files.getUploadURLExternal``, the bytes to the
upload URL it answers, ``files.completeUploadExternal`` sharing them in a thread), and show in
the thread's reply with their id, name and title, as ``conversations.replies`` returns it.

    async with SlackFake(token="xoxb-test") as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.rate_limit("chat.postMessage", retry_after=2, times=1)
        slack.fail("chat.update", "message_not_found")
        slack.hold("chat.postMessage")  # posted, but the answer waits for slack.released
        slack.overtake("chat.update")  # carried out only after the next chat.update is

The module also signs requests the way Slack does (``v0`` signatures) and builds the
form-encoded slash-command and ``block_actions`` bodies Slack posts to an app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

CHANNEL = "C0ALERTS"
OTHER_CHANNEL = "C0ESCALATE"
TEAM = "T0FIREBRK"
BOT_USER = "U0FIREBOT"
_TRIGGERS = itertools.count(1)  # each command typed has a trigger_id of its own


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API call as it arrived."""

    method: str
    args: dict[str, Any]
    token: str
    at: float
    answered: int  # the HTTP status it got


@dataclass(slots=True)
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None = None
    edits: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)  # shared by files.completeUpload…

    def as_slack(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.metadata is not None:
            found["metadata"] = self.metadata
        if self.thread_ts is not None:
            found["thread_ts"] = self.thread_ts
        if self.files:
            found["files"] = [dict(f) for f in self.files]
        return found


@dataclass(slots=True)
class File:
    """A file uploaded through files.getUploadURLExternal and the upload URL it gave."""

    id: str
    filename: str
    length: int
    alt_txt: str = ""
    content: bytes | None = None  # None until its bytes arrive at the upload URL
    title: str = ""
    shared: bool = False  # by files.completeUploadExternal


@dataclass(frozen=True, slots=True)
class _Trouble:
    status: int
    error: str
    retry_after: int | None = None


@dataclass(slots=True)
class SlackFake:
    token: str = "xoxb-test-token"
    channels: set[str] = field(default_factory=lambda: {CHANNEL, OTHER_CHANNEL})
    user_groups: dict[str, list[str]] = field(default_factory=dict)
    # Members of the workspace a direct message can be opened with (conversations.open).
    users: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    files: dict[str, File] = field(default_factory=dict)
    _trouble: dict[str, deque[_Trouble]] = field(default_factory=dict)
    _held: dict[str, Callable[[dict[str, Any]], bool]] = field(default_factory=dict)
    _overtaken: dict[str, Callable[[dict[str, Any]], bool]] = field(default_factory=dict)
    _landed: dict[str, asyncio.Event] = field(default_factory=dict)
    # The arguments of calls waiting to be overtaken (``overtake``), in arrival order.
    waiting: list[dict[str, Any]] = field(default_factory=list)
    _lost: dict[str, Callable[[dict[str, Any]], bool]] = field(default_factory=dict)
    _dropped: dict[str, Callable[[dict[str, Any]], bool]] = field(default_factory=dict)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> SlackFake:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.released.set()
        for landed in self._landed.values():
            landed.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "1") -> str:
        return f"{self.url}/respond/{name}"

    # -- scripting ------------------------------------------------------------------------------

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After``."""
        queue = self._trouble.setdefault(method, deque())
        queue.extend(_Trouble(429, "ratelimited", retry_after) for _ in range(times))

    def hold(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _args: True
    ) -> None:
        """Carry out the next call of ``method`` (whose arguments ``where`` accepts) but answer
        only once ``released`` is set."""
        self._held[method] = where

    def overtake(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _args: True
    ) -> None:
        """Keep the next call of ``method`` (whose arguments ``where`` accepts) on its way:
        it is carried out only once a later call of ``method`` has been, as a request sent
        first can reach Slack last. While it waits, its arguments are in ``waiting``."""
        self._overtaken[method] = where

    def lose_answer(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _args: True
    ) -> None:
        """Carry out the next call of ``method`` (whose arguments ``where`` accepts), then
        answer HTTP 500 as if the answer were lost on its way back: what a caller that
        retries must not do twice."""
        self._lost[method] = where

    def drop_answer(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _args: True
    ) -> None:
        """Carry out the next call of ``method`` (whose arguments ``where`` accepts), then
        close the connection without answering: the caller sees the connection drop (recorded
        with status 0), as when the network loses the answer."""
        self._dropped[method] = where

    def fail(self, method: str, error: str, times: int = 1, status: int = 200) -> None:
        """The next ``times`` calls of ``method`` fail with Slack error code ``error``."""
        queue = self._trouble.setdefault(method, deque())
        queue.extend(_Trouble(status, error) for _ in range(times))

    # -- reading the record ---------------------------------------------------------------------

    def called(self, *methods: str) -> list[Call]:
        """Successful calls of ``methods`` (all methods when none given), in order."""
        return [c for c in self.calls if c.answered == 200 and (not methods or c.method in methods)]

    def direct_channel(self, user: str) -> str:
        """The id of the app's direct message with ``user`` (as conversations.open gives it)."""
        return f"D{user}"

    def direct_messages(self, user: str) -> list[Message]:
        """The top-level messages of the app's direct message with ``user``."""
        return self.top_messages(self.direct_channel(user))

    def top_messages(self, channel: str = CHANNEL) -> list[Message]:
        return [m for m in self.messages.values() if m.channel == channel and m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts]

    def shared_files(self, channel: str, ts: str) -> list[tuple[Message, File]]:
        """The files shared in the thread of the message at ``ts``, with the reply each
        came in."""
        return [
            (message, self.files[f["id"]])
            for message in self.thread(channel, ts)
            for f in message.files
        ]

    def story(self) -> list[str]:
        """One line per successful call: ``method channel [thread] text``."""
        lines = []
        for call in self.called():
            args = call.args
            where = " ".join(
                str(args[k]) for k in ("channel", "thread_ts", "ts", "user") if k in args
            )
            lines.append(f"{call.method} {where} {args.get('text', '')}".strip())
        return lines

    # -- the API --------------------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                body = await request.json()
                args.update(body if isinstance(body, dict) else {})
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "metadata"):  # form-encoded clients send these as JSON text
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or str(args.get("token", ""))
        if method in self._overtaken and self._overtaken[method](args):
            del self._overtaken[method]
            landed = self._landed[method] = asyncio.Event()
            self.waiting.append(args)
            await landed.wait()
            self.waiting.remove(args)
        status, body, headers = self._answer(method, args, token)
        if (overtaken := self._landed.pop(method, None)) is not None:
            overtaken.set()  # the call that waited for this one goes on
        if status == 200 and method in self._lost and self._lost[method](args):
            del self._lost[method]
            status, body = 500, {"ok": False, "error": "internal_error"}
        if status == 200 and method in self._dropped and self._dropped[method](args):
            del self._dropped[method]
            self.calls.append(Call(method, args, token, time.time(), 0))
            assert request.transport is not None
            request.transport.abort()  # done on Slack's side; no answer on the way back
            raise web.HTTPServiceUnavailable  # never written: the connection is gone
        self.calls.append(Call(method, args, token, time.time(), status))
        if method in self._held and self._held[method](args):
            del self._held[method]
            await self.released.wait()  # done on Slack's side; the caller waits for the answer
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        queue = self._trouble.get(method)
        if queue:
            trouble = queue.popleft()
            headers = {"Retry-After": str(trouble.retry_after)} if trouble.retry_after else {}
            return trouble.status, {"ok": False, "error": trouble.error}, headers
        handler = _METHODS.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(self, args), {}

    def _next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.000100"

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        thread = args.get("thread_ts")
        if thread is not None and (channel, thread) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        message = Message(
            channel,
            self._next_ts(),
            str(args.get("text", "")),
            list(args.get("blocks") or []),
            args.get("metadata"),
            thread,
        )
        self.messages[(channel, message.ts)] = message
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_slack()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        message = self.messages.get((channel, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(args.get("text", message.text))
        message.blocks = list(args.get("blocks") or message.blocks)
        message.edits += 1
        return {"ok": True, "channel": channel, "ts": ts, "text": message.text}

    def _ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("channel", "")) not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = []
        for message in sorted(self.top_messages(channel), key=lambda m: m.ts, reverse=True):
            item = message.as_slack()
            if not with_meta:
                item.pop("metadata", None)
            found.append(item)
        limit = int(args.get("limit", 100))
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _open(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/conversations.open: ``users`` (comma-separated) opens a
        # direct message (one user) and answers with the conversation, the same one each time.
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users and not args.get("channel"):
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) != 1:
            return {"ok": False, "error": "not_implemented"}  # group DMs: not used
        if users[0] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        channel = self.direct_channel(users[0])
        self.channels.add(channel)
        return {"ok": True, "channel": {"id": channel, "is_im": True, "user": users[0]}}

    def _update_group(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/usergroups.users.update: ``users`` is the whole new
        # membership, comma-separated encoded user ids; at least one.
        group = str(args.get("usergroup", ""))
        if group not in self.user_groups:
            return {"ok": False, "error": "no_such_subteam"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_users_provided"}
        if any(u not in self.users for u in users):
            return {"ok": False, "error": "invalid_users"}
        self.user_groups[group] = users
        return {"ok": True, "usergroup": {"id": group, "users": users, "user_count": len(users)}}

    def _group_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.user_groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.user_groups[group])}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://firebreak-test.slack.com/",
            "team": "Firebreak Test",
            "user": "firebreak",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B0FIREBOT",
        }

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/conversations.replies: the parent first,
        # then its replies, oldest first.
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        parent = self.messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        found = [parent.as_slack()]
        found += [m.as_slack() for m in sorted(self.thread(channel, ts), key=lambda m: m.ts)]
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for item in found:
                item.pop("metadata", None)
        limit = int(args.get("limit", 1000))
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/files.getUploadURLExternal: filename and
        # length (bytes, above 0) required; answers an upload URL and the file's id.
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except ValueError:
            length = 0
        if not filename or length <= 0:
            return {"ok": False, "error": "missing_argument"}
        if len(str(args.get("alt_txt") or "")) > 1000:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id = f"F{len(self.files) + 1:08d}"
        self.files[file_id] = File(file_id, filename, length, str(args.get("alt_txt") or ""))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        # The upload URL takes the file's bytes (raw, or multipart with a "file" part) and
        # answers 200 "OK - <length>"; no token, the URL itself is the credential.
        found = self.files.get(request.match_info["file_id"])
        if found is None or found.content is not None:
            return web.Response(status=404, text="unknown upload")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else b""
        else:
            data = await request.read()
        if len(data) != found.length:
            return web.Response(status=400, text="length mismatch")
        found.content = data
        return web.Response(text=f"OK - {len(data)}")

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/files.completeUploadExternal: ``files`` is a
        # JSON array of {id, title}; with channel_id (and thread_ts, the parent's ts) the
        # files are shared there, in one message carrying initial_comment.
        try:
            listed = json.loads(str(args.get("files") or ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(listed, list) or not listed:
            return {"ok": False, "error": "invalid_arguments"}
        files = []
        for item in listed:
            found = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if found is None or found.content is None or found.shared:
                return {"ok": False, "error": "file_not_found"}
            files.append((found, str(item.get("title") or found.filename)))
        channel, thread = args.get("channel_id"), args.get("thread_ts")
        if channel is not None:
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            if thread is not None and (channel, thread) not in self.messages:
                return {"ok": False, "error": "invalid_thread_ts"}
        shared = []
        for found, title in files:
            found.title, found.shared = title, True
            shared.append(
                {
                    "id": found.id,
                    "name": found.filename,
                    "title": title,
                    "mimetype": "image/png" if found.filename.endswith(".png") else "",
                    "size": found.length,
                }
            )
        if channel is not None:
            text = str(args.get("initial_comment") or "")
            message = Message(channel, self._next_ts(), text, [], None, thread, files=shared)
            self.messages[(channel, message.ts)] = message
        return {"ok": True, "files": shared}

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(body)
        return web.Response(text="ok")


_METHODS = {
    "auth.test": SlackFake._auth_test,
    "chat.postMessage": SlackFake._post_message,
    "chat.update": SlackFake._update,
    "chat.postEphemeral": SlackFake._ephemeral,
    "conversations.history": SlackFake._history,
    "conversations.open": SlackFake._open,
    "conversations.replies": SlackFake._replies,
    "files.getUploadURLExternal": SlackFake._upload_url,
    "files.completeUploadExternal": SlackFake._complete_upload,
    "usergroups.users.list": SlackFake._group_users,
    "usergroups.users.update": SlackFake._update_group,
}


# --- requests as Slack sends them to an app ------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's ``X-Slack-Signature``: ``v0=`` and the hex HMAC-SHA256 of ``v0:ts:body``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(secret, ts, body),
    }


def slash_command(
    text: str,
    *,
    user_id: str,
    user_name: str,
    response_url: str,
    command: str = "/firebreak",
    channel: str = CHANNEL,
    trigger_id: str | None = None,
) -> bytes:
    """The form-encoded body Slack posts for a slash command; Slack gives each command typed a
    ``trigger_id`` of its own (a replay of the request carries the same one)."""
    fields = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "firebreak-test",
        "channel_id": channel,
        "channel_name": "alerts",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0FIREBRK",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"1337.{next(_TRIGGERS)}.abcdef",
    }
    return urllib.parse.urlencode(fields).encode()


def block_actions(
    message: Message,
    action_id: str,
    *,
    user_id: str,
    user_name: str,
    response_url: str,
) -> bytes:
    """The form-encoded ``payload`` Slack posts when a button of ``message`` is pressed."""
    button = next(
        element
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "firebreak-test"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM},
        "api_app_id": "A0FIREBRK",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"1337.{next(_TRIGGERS)}.abcdef",  # each press has its own
        "channel": {"id": message.channel, "name": "alerts"},
        "message": message.as_slack(),
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "firebreak_actions",
                "text": button["text"],
                "value": button["value"],
                "action_ts": str(time.time()),
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
