"""`firebreak serve` terminating TLS itself: clients that trust the CA get in, and SIGHUP picks
up a renewed certificate without a restart."""

from __future__ import annotations

import signal
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.e2e.conftest import FirebreakServer, wait_until

pytestmark = pytest.mark.e2e

CA = trustme.CA()


def _write_cert(tmp: Path, serial_hint: str) -> None:
    cert = CA.issue_cert("127.0.0.1", "localhost", organization_name=serial_hint)
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(tmp / "cert.pem"), append=True)


@pytest.fixture
def firebreak_extra_config(tmp_path: Path) -> str:
    _write_cert(tmp_path, "first")
    return f"""
tls:
  cert_file: "{tmp_path / "cert.pem"}"
  key_file: "{tmp_path / "key.pem"}"
"""


def _organization(url: str) -> str:
    """The organization in the certificate the server presents, checked against the CA."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context()
    CA.configure_trust(context)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert tls.recv(64).startswith(b"HTTP/1.1 200")
        subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
        return str(subject["organizationName"])


def test_https_with_a_trusted_ca_and_certificate_reload_on_sighup(
    firebreak_server: FirebreakServer, tmp_path: Path
) -> None:
    assert _organization(firebreak_server.url) == "first"
    # A client that does not trust the CA is refused during the handshake.
    assert firebreak_server.url.startswith("https://")
    host, port = firebreak_server.url.removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname=host)

    _write_cert(tmp_path, "renewed")
    firebreak_server.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: _organization(firebreak_server.url) == "renewed",
        timeout=10,
        what="the renewed certificate served after SIGHUP",
    )
    time.sleep(0.1)
    assert firebreak_server.proc.poll() is None  # SIGHUP did not stop it
