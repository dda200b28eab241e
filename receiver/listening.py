"""``firebreak serve``'s address: bound before anything starts, and announced once it serves.

Binding first means a busy port is found before the store is opened, migrations run or a job
is claimed, and is reported in one line that names the address and what to do. The
announcement says where the console is and which token from the configuration logs in to it.
"""

from __future__ import annotations

import errno
import socket

from receiver.config import ApiToken, Config

# The token values firebreak.example.yml falls back to when its environment variables are not
# set. Only these are ever printed: they are on the page that says how to log in, and a
# server still using one should say so. Any other token is a secret and is named, not shown.
EXAMPLE_TOKENS = frozenset({"change-me-admin", "change-me-viewer", "change-me-webhook"})

_WHAT_TO_DO = "choose another with --listen or FIREBREAK_LISTEN"
_REASONS = {
    errno.EADDRINUSE: "address already in use — is another Firebreak running? " + _WHAT_TO_DO,
    errno.EACCES: "permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; "
    + _WHAT_TO_DO,
    errno.EADDRNOTAVAIL: "address not available — it is not an address of this machine; "
    + _WHAT_TO_DO,
}


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address ``host`` resolves to (as aiohttp would bind them),
    ready to be handed to the server. Raises ``OSError`` (``socket.gaierror`` for a name that
    does not resolve); nothing stays bound then."""
    infos = socket.getaddrinfo(
        host, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in infos))
    bound: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            bound.append(sock)
            # As asyncio does: a restart may take the port while old connections linger in
            # TIME_WAIT, never while another process listens on it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def cannot_listen(listen: str, exc: OSError) -> str:
    """One line for a failed bind: the address, the reason, and what to do."""
    if isinstance(exc, socket.gaierror):
        host = listen.rsplit(":", 1)[0]
        return f"cannot listen on {listen}: cannot resolve {host} ({exc.strerror}); {_WHAT_TO_DO}"
    reason = _REASONS.get(exc.errno or 0) or f"{exc.strerror or exc}; {_WHAT_TO_DO}"
    return f"cannot listen on {listen}: {reason}"


def base_url(config: Config, *, tls: bool) -> str:
    """Where a browser on this machine reaches the server (a wildcard address becomes
    loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.listen_host, config.listen_host)
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{config.listen_port}"


def console_login(config: Config) -> str:
    """Which token from the configuration logs in to the console: the one with the highest
    role, by its name and role; its value only when it is one of the example's."""
    tokens = config.api.tokens
    if not tokens:
        return "no api.tokens are configured, so nobody can log in to the console"
    index, token = max(enumerate(tokens), key=lambda pair: (pair[1].role, -pair[0]))
    named = f'"{token.name}"' if token.name else f"api.tokens[{index}]"
    role = token.role.name.lower()
    text = f"log in with the API token {named} (role {role})"
    if _is_example(token):
        text += (
            f": {token.token} — the example's token; set real tokens through the environment "
            "before anyone else can reach this port"
        )
    return text


def _is_example(token: ApiToken) -> bool:
    return token.token is not None and token.token in EXAMPLE_TOKENS
