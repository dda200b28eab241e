"""Guard rails of runbook steps: where ``http`` steps may connect, which programs ``shell``
steps may run, and the limits those programs run under.

The HTTP guard checks twice: before a request (for a clear step failure), and again in the
resolver of the session that makes it, on the very addresses the connection then uses, so a
name that resolves somewhere else the second time (DNS rebinding) is refused as well.
"""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from receiver.hostallow import HostAllowList

Resolve = Callable[[str, int], Awaitable[list[str]]]

# What a shell step's child gets when this process has no PATH of its own.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class Refused(OSError):
    """A connection the allow-list does not allow (an OSError: aiohttp reports it as the
    connection failing, and no byte is sent)."""


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC
    )
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


class HttpGuard:
    """``automation.http_allow`` with the resolver that checks it."""

    def __init__(self, allow: HostAllowList, resolve: Resolve = system_resolve) -> None:
        self.allow = allow
        self.resolve = resolve

    async def refusal(self, host: str, port: int) -> str | None:
        """Why a request to ``host:port`` may not be made, or None."""
        literal = self.allow.static_refusal(host, port)
        if _is_address(host):
            return literal
        try:
            addresses = await self.resolve(host, port)
        except OSError as exc:
            return f"cannot resolve {host}: {exc.strerror or exc}"
        return self.allow.refusal(host, port, addresses)

    def session(self) -> aiohttp.ClientSession:
        """A session whose every connection goes through this guard's resolver."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self), use_dns_cache=False)
        return aiohttp.ClientSession(connector=connector, trust_env=False)


class GuardedHttp:
    """HTTP as ``http`` steps and python actions make it: the allow-list checked before the
    request and again at connect, redirects never followed (a 3xx is the answer), no proxy
    or credentials from the environment."""

    def __init__(self, guard: HttpGuard, session: aiohttp.ClientSession | None) -> None:
        self.guard = guard
        self._session = session

    @asynccontextmanager
    async def request(
        self, method: str, url: str | yarl.URL, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """``session.request`` after the guard's check; raises ``Refused`` (an OSError) for
        a destination the allow-list does not allow, before anything is sent."""
        target = yarl.URL(str(url))
        if target.scheme not in ("http", "https") or not target.host:
            raise Refused(errno.EINVAL, "expected an http:// or https:// URL with a host")
        refusal = await self.guard.refusal(target.host, target.port or 80)
        if self._session is None:
            refusal = refusal or "no guarded HTTP session"
        if refusal is not None:
            raise Refused(errno.EACCES, refusal)
        assert self._session is not None
        kwargs["allow_redirects"] = False
        async with self._session.request(method, target, **kwargs) as response:
            yield response

    def get(self, url: str | yarl.URL, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str | yarl.URL, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)


class GuardedResolver(AbstractResolver):
    """Resolves with the guard's resolver and refuses the host unless all its addresses pass."""

    def __init__(self, guard: HttpGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._guard.resolve(host, port)
        problem = self._guard.allow.refusal(host, port, addresses)
        if problem is not None:
            raise Refused(errno.EACCES, problem)
        results: list[ResolveResult] = []
        for address in addresses:
            inet = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, inet):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": inet,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise Refused(errno.EADDRNOTAVAIL, f"{host} has no address of the family asked for")
        return results

    async def close(self) -> None:
        return None


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ShellPolicy:
    """``automation.shell_allow`` and ``automation.shell_limits``."""

    allow: tuple[str, ...] = ()
    cpu_seconds: int = 60
    address_space_bytes: int = 2 * 1024**3

    def executable(self, program: str, path: str) -> tuple[str | None, str]:
        """The absolute path to run for ``program`` (looked up in ``path`` when it is a bare
        name), or None and why it may not run."""
        found = shutil.which(program, path=path) if "/" not in program else program
        if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
            return None, f"{program!r} is not an executable file (PATH={path})"
        found = os.path.abspath(found)
        for entry in self.allow:
            if "/" not in entry:
                # A name allows that program as PATH finds it, whichever way it is written.
                entry_path = shutil.which(entry, path=path)
                if entry_path is not None and _same_file(os.path.abspath(entry_path), found):
                    return found, ""
            elif _same_file(os.path.abspath(entry), found):
                return found, ""
        allowed = ", ".join(self.allow) or "nothing (it is empty)"
        return None, f"{program!r} ({found}) is not on automation.shell_allow; it allows {allowed}"

    def preexec(self) -> Callable[[], Any]:
        """Runs in the child between fork and exec: the resource limits, and no core dumps."""
        cpu, memory = self.cpu_seconds, self.address_space_bytes

        def limit() -> None:
            # The soft CPU limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        return limit


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def child_environment(
    env_allow: tuple[str, ...] | list[str], env: dict[str, str], parent: dict[str, str]
) -> dict[str, str]:
    """A shell step's environment: PATH, the variables it passes through by name, and the ones
    it sets; nothing else of this process's environment (tokens, database URLs) leaks."""
    child = {"PATH": parent.get("PATH") or DEFAULT_PATH}
    child.update({name: parent[name] for name in env_allow if name in parent})
    child.update(env)
    return child
