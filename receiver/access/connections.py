"""How many connections one client address may hold open (``api.max_connections_per_address``),
counted as connections are accepted, before a byte of a request is read."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from receiver.addresses import AddressSet, parse_address
from receiver.config import Config
from receiver.metrics import Metrics

log = logging.getLogger("firebreak.http")


@dataclass(frozen=True, slots=True)
class _Limits:
    per_address: int
    exempt: AddressSet


class ConnectionCap:
    """At most ``per_address`` open connections from one client address, except from ``exempt``
    ones (``webhook.trusted_senders``, where Alertmanager posts from, and
    ``api.trusted_proxies``, which carry many clients each). Per replica; replaced by a
    reload."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        self._metrics = metrics
        self._open: dict[str, int] = {}
        self._warned: set[str] = set()  # addresses told about once per spell at the cap
        self.replace(config)

    def replace(self, config: Config) -> None:
        exempt = [*config.webhook.trusted_senders, *config.api.trusted_proxies]
        self._limits = _Limits(config.api.max_connections_per_address, AddressSet.of(exempt))

    def open_from(self, address: str) -> int:
        """Connections ``address`` holds open now."""
        return self._open.get(address, 0)

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (and not counted) when it is one too
        many."""
        limits = self._limits
        held = self._open.get(address, 0)
        if held >= limits.per_address and address not in limits.exempt:
            self._metrics.connections_refused.inc()
            if address not in self._warned:
                self._warned.add(address)
                log.warning(
                    "refusing new connections from %s: it holds %d open, as many as "
                    "api.max_connections_per_address allows (list Alertmanager in "
                    "webhook.trusted_senders, a proxy in api.trusted_proxies)",
                    address,
                    held,
                    extra={"remote": address},
                )
            return False
        self._open[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self._open.get(address, 0) - 1
        if held > 0:
            self._open[address] = held
        else:
            self._open.pop(address, None)
        if held < self._limits.per_address:
            self._warned.discard(address)


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The address a connection comes from, as the edge names it (an IPv4 address mapped into
    IPv6 as IPv4); empty for a Unix socket."""
    peer = transport.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    parsed = parse_address(str(host))
    return str(parsed) if parsed is not None else str(host)
