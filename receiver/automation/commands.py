"""``firebreak runbooks ...`` and ``firebreak automation ...``: the automation service from a
shell. Commands work on the store directly (whoever can read the configuration and reach the
database is an admin); the serving process picks new jobs up within ``jobs.poll_interval``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from receiver.api.runbooks import record_json, runbook_json
from receiver.audit import Audit, audited
from receiver.automation.definitions import load_runbooks
from receiver.automation.drills import DrillBudget, Drills
from receiver.automation.executor import Executor
from receiver.automation.service import AutomationService
from receiver.automation.steps import StepEnvironment
from receiver.config import Config
from receiver.errors import FirebreakError
from receiver.metrics import Metrics
from receiver.model import Role, system_clock
from receiver.people import People
from receiver.store import open_store

_ENDED = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")


@asynccontextmanager
async def _service(config: Config) -> AsyncIterator[AutomationService]:
    async with open_store(config.database) as store, aiohttp.ClientSession() as session:
        executor = Executor(
            load_runbooks(config),
            store,
            Metrics(CollectorRegistry()),
            StepEnvironment(http=session),
        )
        people = People(config.people, config.api.tokens)
        yield AutomationService(executor, store, system_clock, lambda: None, people)


def _audited(
    service: AutomationService, actor: str, action: str, target: object = None
) -> AbstractAsyncContextManager[None]:
    """One audit row for an action taken from the command line, whatever came of it."""
    return audited(Audit(service.store, system_clock), actor, "cli", action, target)


async def run(args: argparse.Namespace, config: Config) -> int:
    """``firebreak runbooks|automation|drill ...``."""
    actor = f"cli:{getpass.getuser()}"
    async with _service(config) as service:
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
            for rb in service.list_runbooks():
                auto = "auto" if rb.automatic and rb.match else "manual"
                print(f"{rb.id:28} {auto:6} {len(rb.steps):2} steps  {rb.title}")
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
            print(f"execution {execution.id}: {execution.state}")
            if not args.wait:
                return 0
            # The serving process does the work; all this process can do is look.
            while (await service.status(execution.id)).execution.state not in _ENDED:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            args.json = False
            args.execution = execution.id
            command = "status"
        if command == "status":
            record = await service.status(args.execution)
            shown = record_json(record, service.find_runbook(record.execution.runbook))
            if args.json:
                _print(shown)
            else:
                _summary(shown)
            return 0 if record.execution.state not in ("failed", "rolled_back") else 1
        async with _audited(service, actor, command, args.execution):
            if command == "cancel":
                execution = await service.cancel(args.execution, actor, args.reason)
            elif command == "approve":
                execution = await service.approve(args.execution, actor, Role.ADMIN)
            else:
                execution = await service.reject(args.execution, actor, Role.ADMIN)
        print(f"execution {execution.id}: {execution.state}")
        return 0


async def _drill(
    args: argparse.Namespace, config: Config, service: AutomationService, actor: str
) -> int:
    """Through the serving process's own webhook, as Alertmanager would post it."""
    headers: dict[str, str] = {}
    auth = config.webhook.auth
    basic = None
    if auth.bearer_tokens:
        headers["Authorization"] = f"Bearer {auth.bearer_tokens[0]}"
    elif auth.basic_auth is not None:
        basic = aiohttp.BasicAuth(auth.basic_auth.username, auth.basic_auth.password)
    host = config.listen_host if config.listen_host not in ("0.0.0.0", "::") else "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{config.listen_port}/webhook"
    async with aiohttp.ClientSession(headers=headers, auth=basic) as http:

        async def inject(payload: dict[str, Any]) -> None:
            async with http.post(url, json=payload) as response:
                if response.status != 200:
                    text = await response.text()
                    raise FirebreakError(f"{url} answered {response.status}: {text[:200]}")

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


def _summary(record: dict[str, Any]) -> None:
    dry = " (dry run)" if record["dry_run"] else ""
    print(f"execution {record['id']} of {record['runbook']}: {record['state']}{dry}")
    print(f"  trigger: {record['trigger']} by {record['actor']}, started {record['created_at']}")
    if record["error"]:
        print(f"  error: {record['error']}")
    for step in record["steps"]:
        took = step["duration_seconds"]
        timing = f" {took:.2f}s" if took is not None else ""
        print(f"  {step['phase']:8} {step['step_id']:24} {step['state']:16}{timing}")
        if step["error"]:
            print(f"           {step['error']}")
