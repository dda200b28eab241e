"""The host guard's hard floor: cloud metadata addresses are refused whatever
``automation.http_allow`` says, in every spelling that reaches them; and check-config warns
of entries that open private ranges wholesale."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.automation.guards import HttpGuard, system_resolve
from receiver.cli import main
from receiver.hostallow import HostAllowList, metadata, range_warnings

# Entries that would let anything through, were metadata not refused before they are read.
EVERYTHING = ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
        "169.254.170.2",  # ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud Classic
        "168.63.129.16",  # Azure WireServer
        "fe80::a9fe:a9fe",  # IPv6 link-local
        "fe80::1%eth0",  # with a zone
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:a9fe:a9fe",  # the same, in hex
        "::169.254.169.254",  # IPv4-compatible
        "::ffff:0:a9fe:a9fe",  # SIIT-translated
        "64:ff9b::a9fe:a9fe",  # NAT64, well-known prefix
        "64:ff9b:1::a9fe:a9fe",  # NAT64, local-use prefix
        "2002:a9fe:a9fe::1",  # 6to4
        "::ffff:100.100.100.200",
        "64:ff9b::6464:64c8",  # 100.100.100.200 through NAT64
    ],
)
def test_metadata_addresses_are_refused_even_when_the_list_covers_them(address: str) -> None:
    bare = address.split("%", 1)[0]
    for entries in (EVERYTHING, [bare], [f"[{bare}]:80" if ":" in bare else f"{bare}:80"]):
        refusal = HostAllowList(entries).refusal("metadata.internal", 80, [address])
        assert refusal is not None and "cloud metadata address" in refusal, (entries, refusal)
        assert "whatever automation.http_allow says" in refusal
    # A literal address in a URL is refused before anything is resolved or sent.
    literal = HostAllowList(EVERYTHING).static_refusal(bare, 80)
    assert literal is not None and "cloud metadata" in literal


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "100.64.0.1", "100.100.100.201", "fd00:ec2::253", "2002:0a01:0203::1", "8.8.8.8"],
)
def test_neighbours_of_metadata_addresses_are_not_metadata(address: str) -> None:
    import ipaddress

    assert metadata(ipaddress.ip_address(address)) is None
    assert HostAllowList(EVERYTHING).refusal("h", 80, [address]) is None


@pytest.mark.parametrize(
    "host", ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518"]
)
async def test_numeric_spellings_resolve_to_metadata_and_are_refused(host: str) -> None:
    """What inet_aton accepts (decimal, hex, octal, short forms) is a name to yarl and aiohttp;
    the resolver turns it into 169.254.169.254, and the guard refuses that."""
    guard = HttpGuard(HostAllowList([host, *EVERYTHING]), resolve=system_resolve)
    refusal = await guard.refusal(host, 80)
    assert refusal is not None and "cloud metadata address" in refusal, refusal


def test_range_warnings_name_private_ranges_opened_wholesale() -> None:
    found = range_warnings(
        [
            "10.0.0.0/8",
            "10.1.2.3",  # one address: a deliberate choice, no warning
            "api.example.com",
            "100.64.0.0/10",
            "fd00::/8",
            "127.0.0.0/8",
            "127.0.0.1",
            "[::1]:8080",
            "192.168.10.0/24",
            "169.254.0.0/16",
            "8.8.8.0/24",
        ]
    )
    assert [w.split(":", 1)[0] for w in found] == [
        "automation.http_allow[0]",
        "automation.http_allow[3]",
        "automation.http_allow[3]",
        "automation.http_allow[4]",
        "automation.http_allow[4]",
        "automation.http_allow[5]",
        "automation.http_allow[8]",
        "automation.http_allow[9]",
    ]
    assert found[0].startswith(
        "automation.http_allow[0]: 10.0.0.0/8 opens private addresses wholesale: "
        "10.0.0.0/8 (RFC 1918)"
    )
    assert "100.64.0.0/10 (carrier-grade NAT)" in found[1]
    assert "covers cloud metadata addresses (Alibaba Cloud metadata)" in found[2]
    assert "fc00::/7 (unique local)" in found[3]
    assert "(AWS metadata over IPv6)" in found[4]
    assert "127.0.0.0/8 (loopback)" in found[5]
    assert "192.168.0.0/16 (RFC 1918)" in found[6]
    assert found[7].startswith("automation.http_allow[9]: 169.254.0.0/16 covers cloud metadata")
    everything = range_warnings(["0.0.0.0/0"])
    assert "RFC 1918" in everything[0] and "carrier-grade NAT" in everything[0]
    assert "covers cloud metadata addresses" in everything[1]


def test_check_config_warns_of_private_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text('automation: {http_allow: ["10.0.0.0/8", "10.0.0.7:443"]}\n')
    assert main(["check-config", "--config", str(path)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "http_allow" in line]
    assert warnings == [
        "  warning: automation.http_allow[0]: 10.0.0.0/8 opens private addresses wholesale: "
        "10.0.0.0/8 (RFC 1918); every host there becomes reachable from runbook steps, so "
        "list the hosts (or the narrowest range) they call"
    ]
