"""``firebreak runbooks ...``, ``firebreak automation ...`` and ``firebreak drill``: the
automation service from a shell. Commands work on the store directly (whoever can read the
configuration and reach the database is an admin); the serving process picks new jobs up within
``jobs.poll_interval``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp

from receiver.audit import Audit, audited
from receiver.automation.drills import DrillBudget, Drills
from receiver.automation.mode import armed
from receiver.automation.service import AutomationService
from receiver.automation.summary import execution_line, execution_lines
from receiver.automation.views import record_json, runbook_json
from receiver.cli.client import ApiClient
from receiver.cli.loaded import Loaded
from receiver.cli.shell import shell_command, shell_services
from receiver.config import Config
from receiver.errors import FirebreakError
from receiver.model import Role, system_clock

_ENDED = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")
# How long ``run --dry-run`` waits for the serving process to render the steps, besides
# jobs.poll_interval (within which it picks up a job another process queued).
_DRY_RUN_GRACE = 10.0


def _audited(
    service: AutomationService, actor: str, action: str, target: object = None
) -> AbstractAsyncContextManager[None]:
    """One audit row for an action taken from the command line, whatever came of it."""
    return audited(Audit(service.store, system_clock), actor, "cli", action, target)


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak runbooks|automation|drill ...``."""
    return shell_command(args.command, _run(args, loaded.config))


async def _run(args: argparse.Namespace, config: Config) -> int:
    actor = f"cli:{getpass.getuser()}"
    async with shell_services(config) as shell:
        service = shell.automation
        if args.command == "drill":
            return await _drill(args, config, service, actor)
        if args.command == "automation":
            if args.automation_command == "pause":
                async with _audited(service, actor, "pause"):
                    _print(await service.pause(actor, args.reason))
            elif args.automation_command == "resume":
                async with _audited(service, actor, "resume"):
                    _print(await service.resume(actor))
            else:
                _print(await service.automation_state())
            return 0
        command = args.runbooks_command
        if command == "list":
            # auto: alerts start it; dry-run: they do, as dry runs (automation.mode).
            by_itself = {rb.id for rb in armed(config.automation, service.list_runbooks())}
            live = config.automation.mode == "live"
            for rb in service.list_runbooks():
                auto = ("auto" if live else "dry-run") if rb.id in by_itself else "manual"
                print(f"{rb.id:28} {auto:7} {len(rb.steps):2} steps  {rb.title}")
            return 0
        if command == "show":
            _print(runbook_json(service.runbook(args.runbook)))
            return 0
        if command == "run":
            context = dict(_pair(p) for p in args.param)
            async with _audited(service, actor, "runbook_execute", args.runbook):
                execution = await service.run(
                    args.runbook,
                    actor,
                    trigger_context=context,
                    dry_run=args.dry_run,
                    alert_id=args.alert,
                    override_breaker=args.override_breaker,
                )
            print(execution_line(execution))
            if not (args.wait or args.dry_run):
                return 0
            # The serving process does the work; all this process can do is look. A dry run
            # only takes a moment, so --dry-run waits for it to show what it would do.
            within = args.timeout
            if within is None and not args.wait:
                within = config.jobs.poll_interval.total_seconds() + _DRY_RUN_GRACE
            if not await _ended(service, execution.id, within):
                print(
                    f"firebreak runbooks run: execution {execution.id} has not run yet: "
                    "`firebreak serve` on this database runs it; see "
                    f"`firebreak runbooks status {execution.id}`",
                    file=sys.stderr,
                )
                return 1
            args.json = False
            args.execution = execution.id
            command = "status"
        if command == "status":
            record = await service.status(args.execution)
            shown = record_json(record, service.find_runbook(record.execution.runbook))
            if args.json:
                _print(shown)
            else:
                runbook = service.find_runbook(record.execution.runbook)
                print("\n".join(execution_lines(record, runbook)))
            return 0 if record.execution.state not in ("failed", "rolled_back") else 1
        async with _audited(service, actor, command, args.execution):
            if command == "cancel":
                execution = await service.cancel(args.execution, actor, args.reason)
            elif command == "approve":
                execution = await service.approve(args.execution, actor, Role.ADMIN)
            else:
                execution = await service.reject(args.execution, actor, Role.ADMIN)
        print(execution_line(execution))
        return 0


async def _ended(service: AutomationService, execution_id: int, within: float | None) -> bool:
    """Wait for an execution to end (at most ``within`` seconds); whether it has."""
    deadline = None if within is None else time.monotonic() + within
    while (await service.status(execution_id)).execution.state not in _ENDED:
        if deadline is not None and time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


async def _drill(
    args: argparse.Namespace, config: Config, service: AutomationService, actor: str
) -> int:
    """Through the serving process's own webhook, as Alertmanager would post it (and, as
    Alertmanager does, tried again after a 5xx: the webhook takes a repeat as the same alert)."""
    auth = config.webhook.auth
    token = auth.bearer_tokens[0] if auth.bearer_tokens else None
    basic = None
    if token is None and auth.basic_auth is not None:
        basic = aiohttp.BasicAuth(auth.basic_auth.username, auth.basic_auth.password)
    host = config.listen_host if config.listen_host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{host if ':' not in host else f'[{host}]'}:{config.listen_port}"
    async with ApiClient(base, token=token, auth=basic) as client:

        async def inject(payload: dict[str, Any]) -> None:
            answer = await client.post("/webhook", payload)
            if answer.status != 200:
                raise FirebreakError(f"{base}/webhook answered {answer.status}: {answer.error()}")

        drills = Drills(service, service.store, system_clock, inject)
        report = await drills.run(
            args.runbook,
            labels=dict(_pair(p) for p in args.label),
            replay_alert_id=args.replay,
            live=args.live,
            budget=DrillBudget(finished=args.budget),
            actor=actor,
        )
    result = report.as_json()
    print(f"drill {result['drill_id']} of {args.runbook}: {'PASS' if result['ok'] else 'FAIL'}")
    print(
        f"  alert {result['alert_id']}, execution {result['execution_id']} "
        f"({result['execution_state']}{', live' if args.live else ', dry run'})"
    )
    for stage in result["stages"]:
        took = "-" if stage["seconds"] is None else f"{stage['seconds']:.3f}s"
        mark = (
            "ok"
            if stage["ok"]
            else "OVER BUDGET"
            if stage["seconds"] is not None
            else "NOT REACHED"
        )
        print(f"  {stage['stage']:20} {took:>9}  budget {stage['budget_seconds']:g}s  {mark}")
    return 0 if result["ok"] else 1


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise FirebreakError(f"--param {text!r}: expected NAME=VALUE")
    return name, value


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))
