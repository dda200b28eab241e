"""Client addresses: the networks configuration trusts (``api.trusted_proxies``,
``webhook.trusted_senders``) and the client a request comes from behind trusted proxies.

``X-Forwarded-For`` is a list every proxy appends the address of its own peer to, so only the
entries written by proxies Firebreak trusts are facts; anything to their left was written by
the client and may be forged. The client is therefore the right-most address that is not a
trusted proxy (as nginx's ``real_ip_recursive`` finds it), and the header counts only when the
connection itself comes from a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["AddressSet", "TrustedProxies", "check_network", "client_address", "parse_address"]


def check_network(entry: str) -> str | None:
    """What is wrong with a configured address or CIDR range, or None."""
    try:
        ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return "expected an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8"
    return None


def parse_address(text: str) -> Address | None:
    """An address as a peer name or an ``X-Forwarded-For`` entry gives it: ``1.2.3.4``,
    ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:5678``; an IPv4 address mapped into
    IPv6 (a dual-stack socket's ``::ffff:1.2.3.4``) as the IPv4 address. None when it is not
    one (``unknown``, a host name, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class AddressSet:
    """Addresses and CIDR ranges, from entries ``check_network`` accepted."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AddressSet:
        return cls(tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries))

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            address = parse_address(address)
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return any(
            address.version == network.version and address in network for network in self.networks
        )

    def __bool__(self) -> bool:
        return bool(self.networks)


def client_address(remote: str | None, forwarded_for: Sequence[str], proxies: AddressSet) -> str:
    """The address a request comes from: its peer's, or, when the peer is a trusted proxy, the
    right-most address of ``X-Forwarded-For`` (every header of that name, in order) that is not
    a trusted proxy. When every entry is a trusted proxy, the left-most; an entry that is not
    an address stops the walk at the trusted proxy that wrote it."""
    if not proxies or not forwarded_for:
        return remote or ""
    parsed = parse_address(remote or "")
    if parsed is None or parsed not in proxies:
        return remote or ""
    peer = str(parsed)
    entries = [entry for header in forwarded_for for entry in header.split(",")]
    found = peer
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            if entry.strip():
                return found
            continue  # "a,,b" or a trailing comma: no entry at all
        found = str(address)
        if address not in proxies:
            return found
    return found


class TrustedProxies:
    """``api.trusted_proxies``, replaced whole by a configuration reload."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.replace(entries)

    def replace(self, entries: Iterable[str]) -> None:
        self.addresses = AddressSet.of(entries)

    def client(self, remote: str | None, forwarded_for: Sequence[str]) -> str:
        """The client address of a request from ``remote`` (see ``client_address``)."""
        return client_address(remote, forwarded_for, self.addresses)
