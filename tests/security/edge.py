"""What the edge attack tests share: a gzip bomb, a real ``firebreak serve`` on loopback, and
raw HTTP over sockets (from a chosen source address)."""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import config_text
from tests.e2e.conftest import FirebreakServer, free_port, start_firebreak

_MIB = bytes(1 << 20)


@functools.cache
def gzip_bomb(mebibytes: int = 1000) -> bytes:
    """A valid gzip body of about 1 MB that inflates to ``mebibytes`` MiB of zeros.

    Built from one full-flushed deflate block repeated: after a full flush the compressor
    starts afresh, so each MiB of zeros compresses to the same bytes (a second instead of the
    seconds compressing a gigabyte takes)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(_MIB) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(_MIB, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return header + block * mebibytes + deflate.flush(zlib.Z_FINISH) + trailer


@contextlib.contextmanager
def serving(
    tmp_path: Path,
    extra: str = "",
    edit: Callable[[str], str] = lambda text: text,
    **sections: str,
) -> Iterator[FirebreakServer]:
    """``firebreak serve`` on a free loopback port and a fresh SQLite file, with the tests'
    configuration plus ``extra`` at the top level and, for each of ``sections`` (``api``,
    ``webhook``, ``log``), YAML lines (indented by two) added to that section, then ``edit``ed;
    stopped on leaving the block."""
    port = free_port()
    db_path = tmp_path / "firebreak.db"
    text = config_text(f"sqlite+aiosqlite:///{db_path}", extra)
    text = text.replace('listen: "127.0.0.1:9095"', f'listen: "127.0.0.1:{port}"', 1)
    for section, lines in sections.items():
        assert f"\n{section}:\n" in text, f"the tests' configuration has no {section} section"
        text = text.replace(f"\n{section}:\n", f"\n{section}:\n{lines}", 1)
    config_path = tmp_path / "firebreak.yml"
    config_path.write_text(edit(text))
    log_path = tmp_path / "firebreak.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_firebreak(config_path, url, log_path)
    try:
        yield FirebreakServer(
            url=url, db_path=db_path, config_path=config_path, log_path=log_path, proc=proc
        )
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def port_of(server: FirebreakServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def connect(
    server: FirebreakServer, source: str = "127.0.0.1", timeout: float = 5.0
) -> socket.socket:
    """A TCP connection to ``server`` from the loopback address ``source`` (127.0.0.0/8 is all
    this machine's, so 127.0.0.2 is a second client address)."""
    sock = socket.create_connection(
        ("127.0.0.1", port_of(server)), timeout=timeout, source_address=(source, 0)
    )
    return sock


def served(sock: socket.socket) -> socket.socket:
    """``sock`` once the server has accepted it and answered one request on it (kept alive):
    a connection the client has opened may still wait in the listen backlog, uncounted."""
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: firebreak\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before answering: {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    length = int(re.search(rb"(?i)content-length: *([0-9]+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        body += sock.recv(65536)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket times out)."""
    chunks: list[bytes] = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def request(
    server: FirebreakServer,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    source: str = "127.0.0.1",
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a connection of its own; (status, body)."""
    with connect(server, source) as sock:
        lines = [f"{method} {path} HTTP/1.1", "Host: firebreak", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = read_all(sock)
    head, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, rest
