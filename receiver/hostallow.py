"""Where runbook ``http`` steps may go: ``automation.http_allow``, parsed and matched.

Entries are host names (``api.example.com``, ``*.example.com``), addresses (``10.0.0.7``,
``::1``), CIDR ranges (``10.0.0.0/8``), each optionally with a port (``host:443``,
``[::1]:8080``; not for ranges). Everything not listed is refused.

A request passes when every address its host resolves to is allowed: by an address entry, or
because the name is listed. A listed *name* never carries a request to a loopback,
link-local (169.254.0.0/16: cloud metadata), unspecified, multicast or reserved address: a
name can be made to resolve anywhere (DNS rebinding), so such addresses need an address entry
of their own (``127.0.0.1:8080``).

Cloud metadata addresses (``169.254.0.0/16``, ``fd00:ec2::254``, ``100.100.100.200``, IPv6
link-local, and IPv6 forms that carry one of them inside: IPv4-mapped, IPv4-compatible, 6to4,
NAT64, Teredo) are refused whatever the list says, even by an address or range entry that
covers them: they hand out the host's cloud credentials, and no runbook step has business
there.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAME = re.compile(r"(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?")
_BRACKETED = re.compile(r"\[(?P<host>[^\[\]]+)\](?::(?P<port>[0-9]{1,5}))?")


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One allow-list entry: a name pattern or a network, and a port or any port (None)."""

    text: str
    name: str | None = None  # lower case, no trailing dot; "*.example.com" for subdomains
    network: Network | None = None
    port: int | None = None

    def allows_name(self, host: str, port: int) -> bool:
        if self.name is None or self.port not in (None, port):
            return False
        host = host.lower().rstrip(".")
        if self.name.startswith("*."):
            return host.endswith(self.name[1:])
        return host == self.name

    def allows_address(self, address: Address, port: int) -> bool:
        return (
            self.network is not None
            and self.port in (None, port)
            and address.version == self.network.version
            and address in self.network
        )


def parse_entry(text: str) -> HostEntry:
    """An entry of ``automation.http_allow``; raises ``ValueError`` saying what was expected."""
    raw = text.strip()
    port: int | None = None
    host = raw
    if bracketed := _BRACKETED.fullmatch(raw):
        host = bracketed["host"]
        port = int(bracketed["port"]) if bracketed["port"] else None
    elif raw.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        host, _, digits = raw.partition(":")
        if not digits.isdigit():
            raise ValueError(f"{raw!r}: expected host:port with a numeric port")
        port = int(digits)
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{raw!r}: port must be between 1 and 65535")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if port is not None and network.num_addresses > 1:
            raise ValueError(f"{raw!r}: a port goes with one address, not a range")
        return HostEntry(raw, network=network, port=port)
    if "/" in host or not _NAME.fullmatch(host):
        raise ValueError(
            f"{raw!r}: expected a host name, an IP address or a CIDR range, optionally with "
            ":port (e.g. api.example.com:443, 10.0.0.0/8, [::1]:8080)"
        )
    return HostEntry(raw, name=host.lower().rstrip("."), port=port)


def check_entry(text: str) -> str | None:
    """For the configuration walker: None, or what is wrong with the entry."""
    try:
        parse_entry(text)
    except ValueError as exc:
        return str(exc)
    return None


# Where clouds answer with the machine's own credentials and configuration.
_METADATA: tuple[tuple[Network, str], ...] = (
    (
        ipaddress.ip_network("169.254.0.0/16"),
        "link-local: AWS, GCP, Azure, OCI, OpenStack metadata",
    ),
    (ipaddress.ip_network("100.100.100.200/32"), "Alibaba Cloud metadata"),
    (ipaddress.ip_network("192.0.0.192/32"), "Oracle Cloud Classic metadata"),
    (ipaddress.ip_network("168.63.129.16/32"), "Azure WireServer"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "AWS metadata over IPv6"),
    (ipaddress.ip_network("fe80::/10"), "IPv6 link-local"),
)
# IPv6 prefixes whose last 32 bits are an IPv4 address: IPv4-compatible, SIIT-translated,
# NAT64 (well-known and local-use prefixes). Mapped, 6to4 and Teredo have their own accessors.
_CARRY_V4 = tuple(
    ipaddress.IPv6Network(text)
    for text in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and reaches through a translator)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found += address.teredo
    if any(address in prefix for prefix in _CARRY_V4) and int(address) > 1:  # not :: or ::1
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def metadata(address: Address) -> str | None:
    """Why ``address`` is a cloud metadata address, refused whatever the allow-list says;
    None when it is not one."""
    for network, what in _METADATA:
        if address.version == network.version and address in network:
            return what
    if isinstance(address, ipaddress.IPv6Address):
        for inner in embedded_ipv4(address):
            if (why := metadata(inner)) is not None:
                return f"{why}, as {inner} inside an IPv6 address"
    return None


def special(address: Address) -> str | None:
    """Why a name alone may not lead to ``address``, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return special(address.ipv4_mapped)
    for kind, test in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
    ):
        if test:
            return kind
    return None


class HostAllowList:
    """The parsed ``automation.http_allow``."""

    def __init__(self, entries: tuple[str, ...] | list[str] = ()) -> None:
        self.entries = tuple(parse_entry(e) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def name_allowed(self, host: str, port: int) -> bool:
        return any(e.allows_name(host, port) for e in self.entries)

    def address_allowed(self, address: Address, port: int) -> bool:
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None and self.address_allowed(mapped, port):
            return True
        return any(e.allows_address(address, port) for e in self.entries)

    def refusal(self, host: str, port: int, addresses: list[str]) -> str | None:
        """Why a request to ``host:port`` resolving to ``addresses`` is refused, or None."""
        if not addresses:
            return f"{host} resolves to no address"
        by_name = self.name_allowed(host, port)
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone
            if (why := metadata(address)) is not None:
                shown = host if host == text else f"{host} ({text})"
                return (
                    f"{shown} is a cloud metadata address ({why}); Firebreak never connects "
                    "there, whatever automation.http_allow says"
                )
            if self.address_allowed(address, port):
                continue
            if not by_name:
                shown = host if host == text else f"{host} ({text})"
                return f"{shown} port {port} is not on automation.http_allow"
            if kind := special(address):
                return (
                    f"{host} resolves to {text} ({kind}); a listed name never leads there, only "
                    f"an address entry such as {text}:{port} in automation.http_allow does"
                )
        return None

    def static_refusal(self, host: str, port: int) -> str | None:
        """What ``refusal`` can tell without resolving: a literal address, or an unlisted name
        (which an address entry might still allow once resolved)."""
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            if self.name_allowed(host, port):
                return None
            return f"{host} port {port} is not on automation.http_allow by name"
        return self.refusal(host, port, [host.strip("[]")])


# Ranges an entry should not open wholesale: every host in them becomes a target of steps.
_PRIVATE: tuple[tuple[Network, str], ...] = (
    (ipaddress.ip_network("10.0.0.0/8"), "RFC 1918"),
    (ipaddress.ip_network("172.16.0.0/12"), "RFC 1918"),
    (ipaddress.ip_network("192.168.0.0/16"), "RFC 1918"),
    (ipaddress.ip_network("100.64.0.0/10"), "carrier-grade NAT"),
    (ipaddress.ip_network("fc00::/7"), "unique local"),
    (ipaddress.ip_network("127.0.0.0/8"), "loopback"),
    (ipaddress.ip_network("::1/128"), "loopback"),
)


def range_warnings(entries: tuple[str, ...] | list[str]) -> list[str]:
    """For ``check-config``: entries that open a private range (more than one address of it)
    or cover cloud metadata addresses (refused anyway)."""
    found: list[str] = []
    for index, text in enumerate(entries):
        try:
            entry = parse_entry(text)
        except ValueError:
            continue  # the configuration walker reports it
        network = entry.network
        if network is None or network.num_addresses == 1:
            continue
        where = f"automation.http_allow[{index}]: {text}"
        opened = [
            f"{private} ({what})"
            for private, what in _PRIVATE
            if private.version == network.version and network.overlaps(private)
        ]
        if opened:
            found.append(
                f"{where} opens private addresses wholesale: {', '.join(opened)}; every host "
                "there becomes reachable from runbook steps, so list the hosts (or the "
                "narrowest range) they call"
            )
        covered = [
            what
            for meta, what in _METADATA
            if meta.version == network.version and network.overlaps(meta)
        ]
        if covered:
            found.append(
                f"{where} covers cloud metadata addresses ({'; '.join(covered)}); they are "
                "refused whatever the list says"
            )
    return found
