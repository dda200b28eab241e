"""A real SMTP server on loopback (aiosmtpd) with STARTTLS and AUTH, for the e-mail channel.

The server's certificate comes from a throw-away ``trustme`` CA; ``client_tls_context()``
trusts that CA and nothing else, so the client really verifies the certificate. AUTH (PLAIN and
LOGIN) is offered only after STARTTLS, as aiosmtpd insists (``auth_require_tls``). Messages are
recorded parsed by the standard library; ``fail_rcpt``/``fail_data`` queue error replies for the
next RCPT TO or DATA commands (``"451 4.3.0 Try again later"``, ``"550 5.1.1 No such user"``).

aiosmtpd's ``Controller`` runs the server on its own thread and event loop, so ``start()`` and
``stop()`` are plain blocking calls.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.ports import free_port

SERVER_NAME = "smtp.test"


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One accepted message: envelope, parsed message, and how the session was secured."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    tls: bool
    login: str | None


class _Handler:
    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.rcpt_replies: deque[str] = deque()
        self.data_replies: deque[str] = deque()
        self.lock = threading.Lock()  # the server thread writes, the test thread reads

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            if self.rcpt_replies:
                return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.data_replies:
                return self.data_replies.popleft()
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.auth_data
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            raw=raw,
            tls=session.ssl is not None,
            login=login if isinstance(login, str) else None,
        )
        with self.lock:
            self.messages.append(mail)
        return "250 2.0.0 Message accepted for delivery"


class FakeSmtpServer:
    """``FakeSmtpServer(ca, users={"alerts": "pw"})``; ``tls=False`` offers no STARTTLS."""

    def __init__(
        self,
        ca: trustme.CA | None = None,
        *,
        users: dict[str, str] | None = None,
        tls: bool = True,
    ) -> None:
        self.ca = ca or trustme.CA()
        self.users = dict(users or {})
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = free_port()
        self._handler = _Handler()
        server_context: ssl.SSLContext | None = None
        if tls:
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
        self._controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_NAME,
            ready_timeout=5.0,
            tls_context=server_context,
            require_starttls=tls,
            authenticator=self._authenticate,
            auth_require_tls=tls,
        )

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA (and only it)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = user in self.users and self.users[user] == password
        # auth_data becomes session.auth_data, which handle_DATA reads back as the login.
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler.lock:
            return list(self._handler.messages)

    def fail_rcpt(self, *replies: str) -> None:
        """Answer the next RCPT TO commands with these replies (e.g. ``"550 5.1.1 No such
        user"``)."""
        with self._handler.lock:
            self._handler.rcpt_replies.extend(replies)

    def fail_data(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies (e.g. ``"451 4.3.0 Try again"``)."""
        with self._handler.lock:
            self._handler.data_replies.extend(replies)

    def start(self) -> FakeSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
