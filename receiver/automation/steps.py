"""Step types: a dispatch table from a step's type to a function that does it once.

A step function gets the step's rendered inputs and answers with a frozen ``StepResult``:
succeeded (with an output), failed (with an error), or waiting until a time (a ``wait`` not
over yet, a ``promql`` condition polled again). It never sleeps: waiting is the executor
putting the step's job off. Timeouts, retries, ``when`` and ``on_failure`` are the executor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
import yarl

from receiver.alertmanager import format_rfc3339
from receiver.automation.actions import ActionContext, call_action
from receiver.automation.definitions import StepConfig, parse_condition
from receiver.automation.guards import (
    DEFAULT_PATH,
    GuardedHttp,
    HttpGuard,
    Refused,
    ShellPolicy,
    child_environment,
)
from receiver.automation.unreachable import client_problem, detail
from receiver.deadletters import DeadLetters
from receiver.delivery import notice_alert  # one way to show an alert in a notice
from receiver.durations import format_duration
from receiver.errors import MatcherError
from receiver.hostallow import HostAllowList
from receiver.matchers import parse_matchers
from receiver.model import Alert, Clock, system_clock
from receiver.notify.base import Channel, ChannelError, ChannelThrottled, Notice, NoticeKind
from receiver.tracing import inject_traceparent

ENTRY_POINT_GROUP = "firebreak.actions"


@dataclass(frozen=True, slots=True)
class StepResult:
    state: Literal["succeeded", "failed", "waiting"]
    output: Any = None
    error: str | None = None
    until: datetime | None = None  # for waiting: when to look again


def succeeded(output: Any = None) -> StepResult:
    return StepResult("succeeded", output=output)


def failed(error: str, output: Any = None) -> StepResult:
    return StepResult("failed", output=output, error=error)


def _deny_all() -> HttpGuard:
    return HttpGuard(HostAllowList())


@dataclass(frozen=True, slots=True)
class StepEnvironment:
    """What steps talk to; built once by the application. Without guards of its own it lets
    no http or shell step run."""

    http: aiohttp.ClientSession  # for promql and silence steps: configured URLs
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    actions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    channels: Mapping[str, Channel] = field(default_factory=dict)
    # http steps: the allow-list, and a session whose resolver enforces it (guard.session()).
    http_guard: HttpGuard = field(default_factory=_deny_all)
    guarded_http: aiohttp.ClientSession | None = None
    shell: ShellPolicy = field(default_factory=ShellPolicy)
    # python steps: each action's automation.actions settings, and Firebreak's own job queue
    # for the actions that recover it.
    action_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dead_letters: DeadLetters | None = None
    clock: Clock = system_clock
    monotonic: Callable[[], float] = time.monotonic  # what python actions count waits by

    def guarded(self) -> GuardedHttp:
        """The HTTP client of http steps and python actions."""
        return GuardedHttp(self.http_guard, self.guarded_http)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of one step."""

    step: StepConfig
    inputs: dict[str, Any]  # the step's type section, rendered
    key: str  # the step execution's idempotency key
    execution_id: int
    labels: Mapping[str, str]
    alert: Alert | None
    drill: bool
    started_at: datetime  # when this step first started (waits and polls count from it)
    now: datetime
    env: StepEnvironment


StepFunction = Callable[[Invocation], Awaitable[StepResult]]


def registered_actions() -> dict[str, Callable[..., Any]]:
    """Functions other packages registered in the ``firebreak.actions`` entry point group."""
    found: dict[str, Callable[..., Any]] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        with contextlib.suppress(Exception):  # a broken plugin fails its own steps, not startup
            found[entry.name] = entry.load()
    return found


async def _read_capped(stream: asyncio.StreamReader | None, limit: int) -> tuple[str, bool]:
    """Up to ``limit`` bytes of a stream as text, and whether there was more (drained)."""
    if stream is None:
        return "", False
    # read(n) answers with what has arrived so far: keep reading up to the limit or the end.
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    more = False
    while await stream.read(65536):
        more = True
    return _text(data), more


def _text(data: bytes) -> str:
    """Bytes as text a step output may hold: PostgreSQL's JSON refuses NUL characters."""
    return data.decode("utf-8", errors="replace").replace("\0", "\ufffd")


async def run_http(inv: Invocation) -> StepResult:
    spec = inv.inputs
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    headers.setdefault("X-Firebreak-Idempotency-Key", inv.key)
    inject_traceparent(headers)  # the remediated service's traces join the incident's
    body = spec.get("body")
    limit = int(spec.get("max_response_bytes", 65536))
    try:
        url = yarl.URL(str(spec["url"]))
    except ValueError as exc:
        return failed(f"http request refused: not a URL: {exc}")
    try:
        # Redirects are not followed: a 3xx is the answer, so no hop escapes the allow-list.
        async with inv.env.guarded().request(
            str(spec.get("method", "GET")).upper(),
            url,
            headers=headers,
            json=body if body is not None else None,
        ) as response:
            raw = await response.content.read(limit)
            status = response.status
    except Refused as exc:
        return failed(f"http request refused: {exc.strerror}")
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, Refused):  # the connection's own check: rebinding
            return failed(f"http request refused: {exc.os_error.strerror}")
        return failed(client_problem(url, exc), detail(exc))
    except aiohttp.ClientError as exc:
        return failed(f"http request failed: {client_problem(url, exc)}", detail(exc))
    except ValueError as exc:
        return failed(f"http request failed: {type(exc).__name__}: {exc}")
    text = _text(raw)
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    output = {"status": status, "body": parsed}
    expected = spec.get("expect_status") or []
    ok = status in expected if expected else 200 <= status < 300
    if not ok:
        want = ", ".join(map(str, expected)) if expected else "2xx"
        return failed(f"http status {status}, expected {want}", output)
    return succeeded(output)


async def run_shell(inv: Invocation) -> StepResult:
    spec = inv.inputs
    argv = [str(a) for a in spec["argv"]]
    policy = inv.env.shell
    # Looked up in this process's PATH, not one the step sets: the step cannot choose which
    # file an allowed name means.
    program, refusal = policy.executable(argv[0], os.environ.get("PATH") or DEFAULT_PATH)
    if program is None:
        return failed(f"shell command refused: {refusal}")
    env = child_environment(
        [str(n) for n in spec.get("env_allow", ())],
        {str(k): str(v) for k, v in (spec.get("env") or {}).items()},
        dict(os.environ),
    )
    limit = int(spec.get("max_output_bytes", 65536))
    try:
        # An argument vector and no shell: a templated value is one argument, whatever it holds.
        process = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            cwd=spec.get("cwd") or None,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            # Only setrlimit calls between fork and exec: nothing that takes a lock.
            preexec_fn=policy.preexec(),
        )
    except OSError as exc:
        return failed(f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    try:
        (stdout, out_more), (stderr, err_more) = await asyncio.gather(
            _read_capped(process.stdout, limit), _read_capped(process.stderr, limit)
        )
        code = await process.wait()
    finally:
        if process.returncode is None:  # timed out or cancelled: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()
    output = {
        "exit_code": code,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": out_more or err_more,
    }
    if code < 0:
        return failed(f"{argv[0]} was killed by {_signal_name(-code)}", output)
    if code not in spec.get("expect_exit", [0]):
        return failed(f"{argv[0]} exited with status {code}", output)
    return succeeded(output)


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    if name in ("SIGXCPU", "SIGKILL"):
        return f"{name} (automation.shell_limits.cpu_time, or the step's timeout)"
    return name


async def run_promql(inv: Invocation) -> StepResult:
    spec = inv.inputs
    condition = parse_condition(str(spec.get("expect", "not empty")))
    if condition is None:
        return failed(f"expect {spec.get('expect')!r} is not a condition such as '< 0.01'")
    if inv.env.prometheus_url is None:
        return failed("promql step needs automation.prometheus_url")
    url = inv.env.prometheus_url.rstrip("/") + "/api/v1/query"
    try:
        async with inv.env.http.get(url, params={"query": spec["query"]}) as response:
            answer = await response.json(content_type=None)
    except aiohttp.ClientError as exc:
        problem = client_problem(yarl.URL(url), exc)
        return failed(f"prometheus query failed: {problem}", detail(exc))
    except ValueError as exc:
        return failed(f"prometheus query failed: {type(exc).__name__}: {exc}")
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        return failed(f"prometheus refused the query: {error or answer!r}")
    sample = _first_sample(answer.get("data") or {})
    output = {"value": sample, "expect": str(condition), "result": answer.get("data")}
    if condition.holds(sample):
        return succeeded(output)
    interval, within = spec.get("poll_interval"), spec.get("poll_for")
    if isinstance(interval, timedelta) and isinstance(within, timedelta):
        again = inv.now + interval
        if again <= inv.started_at + within:
            return StepResult("waiting", output=output, until=again)
        return failed(
            f"{spec['query']} = {sample}, not {condition} within {format_duration(within)}",
            output,
        )
    return failed(f"{spec['query']} = {sample}, not {condition}", output)


def _first_sample(data: Mapping[str, Any]) -> float | None:
    """The value of a scalar, or of a vector's first sample; None for an empty result."""
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string") and isinstance(result, list):
        return _number(result[1])
    if isinstance(result, list) and result:
        first = result[0]
        if "value" in first:
            return _number(first["value"][1])
        if first.get("values"):
            return _number(first["values"][-1][1])
    return None


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


async def run_wait(inv: Invocation) -> StepResult:
    until = inv.started_at + inv.inputs["duration"]
    if inv.now >= until:
        return succeeded({"waited_seconds": (inv.now - inv.started_at).total_seconds()})
    return StepResult("waiting", until=until)


async def run_silence(inv: Invocation) -> StepResult:
    if inv.env.alertmanager_url is None:
        return failed("silence step needs automation.alertmanager_url")
    spec = inv.inputs
    body = {
        "matchers": silence_matchers(spec.get("match") or [], inv.labels),
        "startsAt": format_rfc3339(inv.now),
        "endsAt": format_rfc3339(inv.now + spec["max_duration"]),
        "createdBy": "firebreak",
        "comment": spec.get("comment") or f"firebreak execution {inv.execution_id}",
    }
    url = inv.env.alertmanager_url.rstrip("/") + "/api/v2/silences"
    try:
        async with inv.env.http.post(url, json=body) as response:
            answer = await response.json(content_type=None)
            status = response.status
    except aiohttp.ClientError as exc:
        problem = client_problem(yarl.URL(url), exc)
        return failed(f"alertmanager silence failed: {problem}", detail(exc))
    except ValueError as exc:
        return failed(f"alertmanager silence failed: {type(exc).__name__}: {exc}")
    if status != 200 or not isinstance(answer, dict) or "silenceID" not in answer:
        return failed(f"alertmanager refused the silence: {status} {answer!r}")
    return succeeded({"silence_id": answer["silenceID"], "matchers": body["matchers"]})


def silence_matchers(match: list[str], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Alertmanager v2 matchers: the given ones, else every label of the alert by equality."""
    if not match:
        return [
            {"name": k, "value": v, "isRegex": False, "isEqual": True}
            for k, v in sorted(labels.items())
        ]
    found = []
    for text in match:
        for m in parse_matchers(text, field="match"):
            op = m.op.value
            found.append(
                {"name": m.name, "value": m.value, "isRegex": "~" in op, "isEqual": "!" not in op}
            )
    return found


async def expire_silence(env: StepEnvironment, silence_id: str) -> str | None:
    """Expire a silence a step created; returns what went wrong, or None."""
    if env.alertmanager_url is None:
        return "no automation.alertmanager_url"
    url = f"{env.alertmanager_url.rstrip('/')}/api/v2/silence/{silence_id}"
    try:
        async with env.http.delete(url) as response:
            if response.status in (200, 404):  # 404: expired or gone already
                return None
            return f"alertmanager answered {response.status}"
    except aiohttp.ClientError as exc:
        return client_problem(yarl.URL(url), exc)


async def run_python(inv: Invocation) -> StepResult:
    name = inv.inputs["function"]
    function = inv.env.actions.get(name)
    if function is None:
        return failed(f"no function {name!r} in the {ENTRY_POINT_GROUP} entry point group")
    context = ActionContext(
        execution_id=inv.execution_id,
        step=inv.step.id,
        key=inv.key,
        http=inv.env.guarded(),
        settings=inv.env.action_settings.get(name, {}),
        dead_letters=inv.env.dead_letters,
        clock=inv.env.clock,
        monotonic=inv.env.monotonic,
    )
    try:
        result = await call_action(function, dict(inv.inputs.get("args") or {}), context)
    except Exception as exc:
        return failed(f"{name} raised {type(exc).__name__}: {exc}")
    return succeeded(json.loads(json.dumps(result, default=str)))


async def run_notify(inv: Invocation) -> StepResult:
    spec = inv.inputs
    channel = inv.env.channels.get(spec["channel"])
    if channel is None:
        return failed(f"no channel {spec['channel']!r}")
    alerts = (notice_alert(inv.alert),) if inv.alert is not None else ()
    notice = Notice(
        kind=NoticeKind.FIRING,
        idempotency_key=inv.key,
        alerts=alerts,
        route=f"runbook execution {inv.execution_id}",
        drill=inv.drill,
        message=spec["message"],
    )
    try:
        delivery = await channel.send(notice, spec.get("target") or "")
    except ChannelThrottled as exc:
        # Slack's 429 or the pacing of posts to one channel (which the execution's own notes
        # in the alert's thread share): look again then, as a poll does; the notice's key
        # keeps the post single.
        return StepResult("waiting", until=inv.now + timedelta(seconds=exc.retry_after or 1.0))
    except ChannelError as exc:
        return failed(f"{spec['channel']}: {type(exc).__name__}: {exc}")
    return succeeded({"channel": spec["channel"], "reference": delivery.reference})


STEP_FUNCTIONS: dict[str, StepFunction] = {
    "notify": run_notify,
    "http": run_http,
    "shell": run_shell,
    "promql": run_promql,
    "wait": run_wait,
    "silence": run_silence,
    "python": run_python,
}


def live_refusal(step: StepConfig, inputs: Mapping[str, Any], env: StepEnvironment) -> str | None:
    """For a dry run: what the guards would refuse if the step ran live (a URL outside
    ``automation.http_allow``, a program not on ``shell_allow``), as far as can be told without
    resolving a name; None when nothing would be."""
    if step.http is not None:
        try:
            url = yarl.URL(str(inputs["url"]))
        except ValueError as exc:
            return f"not a URL: {exc}"
        if url.scheme not in ("http", "https") or not url.host:
            return "expected an http:// or https:// URL with a host"
        return env.http_guard.allow.static_refusal(url.host, url.port or 80)
    if step.shell is not None:
        name = str(inputs["argv"][0])
        path = os.environ.get("PATH") or DEFAULT_PATH
        if "/" not in name and shutil.which(name, path=path) is None:
            return f"{name!r} is not a program on Firebreak's PATH"
        program, refusal = env.shell.executable(name, path)
        return refusal if program is None else None
    return None


def describe(
    step: StepConfig, inputs: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What a step would do, for a dry run: its rendered inputs and nothing sent. ``labels``
    are the alert's, which a ``silence`` without ``match`` silences."""
    would: dict[str, Any] = {"type": step.type}
    if step.http is not None:
        would.update(method=str(inputs.get("method", "GET")).upper(), url=inputs["url"])
        if inputs.get("headers"):
            would["headers"] = dict(inputs["headers"])
        if inputs.get("body") is not None:
            would["body"] = inputs["body"]
    elif step.silence is not None:
        match = [str(m) for m in inputs.get("match") or []]
        try:
            would["matchers"] = silence_matchers(match, labels or {})
        except MatcherError as exc:
            would.update(match=match, error=str(exc))
        would.update(max_duration=inputs["max_duration"], comment=inputs.get("comment"))
    elif step.shell is not None:
        would.update(argv=list(inputs["argv"]), cwd=inputs.get("cwd"))
    elif step.promql is not None:
        would.update(query=inputs["query"], expect=inputs.get("expect"))
    elif step.wait is not None:
        would.update(seconds=inputs["duration"].total_seconds())
    elif step.approval is not None:
        would.update(approvers=list(inputs.get("approvers") or []))
    elif step.python is not None:
        would.update(function=inputs["function"], args=dict(inputs.get("args") or {}))
    elif step.notify is not None:
        would.update(channel=inputs["channel"], target=inputs["target"], message=inputs["message"])
    return {"dry_run": True, "would": would}
