"""The configuration in force: the services built from it at start, and a reload (SIGHUP,
``POST /-/reload``) that reads the file and the runbooks again and swaps them in as one."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import warnings
from typing import Any

from aiohttp import web

from receiver.alertmanager import parse_webhook_body
from receiver.automation.definitions import Runbooks, load_runbooks
from receiver.automation.drills import Drills, Inject
from receiver.automation.mode import announce, mode_line
from receiver.config import Config, load_config, weak_secrets_for_listen
from receiver.errors import ConfigError, StoreUnavailable
from receiver.model import Notification, ReloadResult
from receiver.obs import request_id_var
from receiver.services import Services, build_services
from receiver.templates import check_templates
from receiver.typedefs import (
    AUTOMATION,
    BUILT,
    CLOCK,
    CONFIG,
    CONFIG_PATH,
    CONNECTION_CAP,
    DRILLS,
    HTTP,
    INGESTOR,
    LASTING,
    METRICS,
    MONOTONIC,
    PIPELINE,
    RUNNER,
    STORE,
    TOKEN_AUTH,
    TRUSTED_PROXIES,
    WEBHOOK_AUTH,
)

log = logging.getLogger("firebreak.app")


def services_for(app: web.Application, config: Config, runbooks: Runbooks) -> Services:
    """``build_services`` over what the application holds: its store, clock, metrics and HTTP
    session, what lasts across reloads, and its ingestor and runner (once they run)."""

    async def submit(notification: Notification) -> None:
        if INGESTOR not in app:
            raise StoreUnavailable("the receiver is starting")  # the job is retried
        await app[INGESTOR].submit(notification, None)

    def wake() -> None:
        if RUNNER in app:
            app[RUNNER].wake()

    return build_services(
        config,
        app[STORE],
        app[CLOCK],
        app[METRICS],
        app[HTTP],
        runbooks,
        app[LASTING],
        submit=submit,
        wake=wake,
    )


def drills_for(app: web.Application, built: Services) -> Drills:
    """Drills over ``built``'s automation, injecting through the application's ingestor."""
    return Drills(built.automation, app[STORE], app[CLOCK], _injector(app), app[MONOTONIC])


def _injector(app: web.Application) -> Inject:
    """Drills inject their synthetic webhook where Alertmanager's go: parsed and ingested."""

    async def inject(payload: dict[str, Any]) -> None:
        notification = parse_webhook_body(json.dumps(payload).encode())
        await app[INGESTOR].submit(notification, request_id_var.get())

    return inject


# Sections (and keys) read only at start: a reload that changes them says a restart is needed.
RESTART_ONLY = (
    "listen",
    "database",
    "ingest",
    "jobs",
    "shutdown_grace",
    "tls",
    "slack",
    "log",
    "api.header_timeout",
)


def _setting(config: Config, key: str) -> Any:
    return functools.reduce(getattr, key.split("."), config)


_reloading = asyncio.Lock()


async def reload_config(app: web.Application) -> ReloadResult:
    """Read the configuration file and the runbooks again and put them in force at once, as
    one: channels, policies, routes, runbooks, tokens, checks. An invalid new configuration is
    refused with its problems and the old one stays in force, as Prometheus does."""
    async with _reloading:
        metrics = app[METRICS]
        path = app[CONFIG_PATH]
        try:
            if not path:
                raise ConfigError(["this process was not started from a configuration file"])
            config = load_config(path)
            if app[CONFIG].listen_from != "listen":  # --listen or FIREBREAK_LISTEN: still so
                old = app[CONFIG]
                config = dataclasses.replace(config, listen=old.listen, listen_from=old.listen_from)
                if problems := weak_secrets_for_listen(config):
                    raise ConfigError(problems)
            runbooks = load_runbooks(config)
            if problems := check_templates(config):  # a template that fails stays out
                raise ConfigError(problems)
        except ConfigError as exc:
            metrics.config_reloads.labels("failure").inc()
            metrics.config_last_reload_successful.set(0)
            log.error(
                "configuration reload refused; the old one stays: %s", "; ".join(exc.problems)
            )
            return ReloadResult(False, tuple(exc.problems))
        old = app[CONFIG]
        restart = tuple(k for k in RESTART_ONLY if _setting(old, k) != _setting(config, k))
        was = mode_line(old.automation, app[BUILT][-1].executor.runbooks)
        built = services_for(app, config, runbooks)
        app[BUILT].append(built)
        runner = app[RUNNER]
        runner.replace_handlers(built.handlers, built.escalation.horizons(), built.preloads)
        app[TOKEN_AUTH].replace(config.api.tokens)
        app[WEBHOOK_AUTH].replace(config.webhook.auth)
        app[TRUSTED_PROXIES].replace(config.api.trusted_proxies)
        app[CONNECTION_CAP].replace(config)
        with warnings.catch_warnings():
            # aiohttp frowns on changing a running application's state; these few keys are
            # what a reload exists to change, each swapped whole.
            warnings.simplefilter("ignore", DeprecationWarning)
            app[CONFIG] = config
            app[PIPELINE] = built.guard
            app[AUTOMATION] = built.automation
            app[DRILLS] = drills_for(app, built)
        # In force from here: the metrics say so before the first await, so that whoever sees
        # the new configuration at work also sees it counted.
        metrics.config_reloads.labels("success").inc()
        metrics.config_last_reload_successful.set(1)
        metrics.config_last_reload_success.set_to_current_time()
        await built.seed(app[STORE], app[CLOCK]())
        if restart:
            log.warning("configuration reloaded; %s take effect at a restart", ", ".join(restart))
        else:
            log.info("configuration reloaded")
        if mode_line(config.automation, runbooks) != was:
            announce(config.automation, runbooks)
        return ReloadResult(True, (), restart)
