"""Client addresses behind trusted proxies: the right-most X-Forwarded-For entry no trusted proxy
wrote, and nothing from the header when the peer is not a trusted proxy."""

from __future__ import annotations

import pytest

from receiver.addresses import AddressSet, client_address, parse_address

PROXIES = AddressSet.of(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("remote", "headers", "expected"),
    [
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["198.51.100.1, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        # Several headers count as one list, in order.
        ("127.0.0.1", ["198.51.100.1", "203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7,, "], "203.0.113.7"),
        ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
        ("127.0.0.1", [" ,  "], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, 10.0.0.2, _hidden"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, garbage, 10.0.0.2"], "10.0.0.2"),
        ("::ffff:127.0.0.1", ["203.0.113.7:5678"], "203.0.113.7"),
        ("fd00::1", ["[2001:db8::9]:443"], "2001:db8::9"),
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: the header is ignored
        ("127.0.0.1", [], "127.0.0.1"),
        (None, ["198.51.100.1"], ""),
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_wrote(
    remote: str | None, headers: list[str], expected: str
) -> None:
    assert client_address(remote, headers, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], AddressSet()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::1]:80", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unknown", None),
        ("[::1", None),
        ("", None),
        ("300.1.1.1", None),
    ],
)
def test_addresses_as_peers_and_proxies_write_them(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed is not None else None) == expected


def test_membership_takes_mapped_addresses_and_refuses_what_is_not_one() -> None:
    assert "::ffff:10.1.2.3" in PROXIES
    assert "192.0.2.1" not in PROXIES
    assert "not-an-address" not in PROXIES
    assert 3 not in PROXIES
