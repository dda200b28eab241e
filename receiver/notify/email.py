"""The ``email`` channel: one multipart/alternative message (plain text and HTML) per notice.

Each send opens one SMTP connection (implicit TLS, or STARTTLS, or plain as configured),
authenticates when a username is set, sends, and quits: notices are rare enough that a
persistent connection would mostly be a connection to keep alive.

A firing notice about alerts from a Prometheus rule carries the graph of the rule's expression
over the last hour (``graphs:``, docs/graphs.md) as an inline image of the HTML body
(``multipart/related``, referenced by ``cid:``), with a line naming it in the plain text; when
there is no graph, both say why.

The ``Message-ID`` is derived from the notice's idempotency key, so every retry of one notice
carries the same id and mail systems (and people) can tell a retry from a new message; it is
also the delivery reference, and later notices of the same alerts quote earlier ones in
``In-Reply-To``/``References`` so a mail client threads them. SMTP cannot be asked whether an
earlier attempt's message was taken, so e-mail is sent at least once: a retry after an answer
lost once the server had the message sends it again, under the same ``Message-ID``.

How SMTP failures map (the reply code's first digit is SMTP's own verdict):

* 4xx anywhere (greylisting, mailbox busy, ``451``), timeouts, refused or dropped connections,
  TLS failures: ``ChannelError``, try again.
* 5xx (``550`` unknown mailbox, ``554`` rejected content, ``535`` bad credentials): permanent,
  ``ChannelRejected``. A 5xx *greeting* is the exception: the server refused the connection
  before seeing the notice, so that is a ``ChannelError``.
* ``starttls=True`` and the server does not offer STARTTLS: ``ChannelError``, never a
  plain-text fallback. It is a property of the server at that moment (a relay restarted with
  the wrong configuration, a middlebox stripping the extension), not of the notice, and
  dead-lettering a page for something an operator can fix in minutes would lose it; the
  retries and the circuit breaker make the outage visible instead. The same holds for a server
  that offers no AUTH although a username is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import html as html_lib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses
from typing import Final

import aiosmtplib

from receiver.model import system_clock
from receiver.notify import render
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    Delivery,
    Notice,
    NoticeAlert,
    NoticeKind,
)
from receiver.notify.links import NoticeLinks
from receiver.notify.templated import MessageTemplate, fallback_note

__all__ = ["EmailChannel", "GraphLookup", "InlineGraph", "message_id", "parse_recipients"]

logger = logging.getLogger("firebreak.notify.email")

_DOMAIN_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
# Deliberately plain: the local part and domain without spaces, controls, brackets or commas.
# Anything fancier (quoted local parts) is not worth the risk of mis-splitting a target.
_ADDRESS_RE: Final = re.compile(
    r"[^\s@<>,;\"()\[\]\\\x00-\x1f\x7f]+@[^\s@<>,;\"()\[\]\\\x00-\x1f\x7f]+"
)
_MESSAGE_ID_RE: Final = re.compile(r"<[^\s<>]+@[^\s<>]+>")
_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class InlineGraph:
    """A graph a message shows inline, or (``png`` None) why it shows none; ``caption`` is
    plain text, escaped where it lands."""

    caption: str
    png: bytes | None = None


# The graphs of a notice's alerts up to a moment: one per expression, none for alerts that
# carry none.
GraphLookup = Callable[[Sequence[NoticeAlert], datetime], Awaitable[Sequence[InlineGraph]]]


def message_id(idempotency_key: str, domain: str) -> str:
    """``<hex@domain>``: the same key always gives the same id. Hashed, because a key may
    hold characters a Message-ID cannot; 128 bits, which keeps the header short enough not to
    be folded (some parsers keep the fold's whitespace in the id) for domains of up to 30
    characters."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def parse_recipients(text: str) -> list[str]:
    """Split a comma-separated recipient list (``a@x, Ops <b@y>``) into bare addresses.
    Raises ``ValueError`` naming the first entry that is not a plain address."""
    found: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "\n" in part or "\r" in part:
            raise ValueError(f"not an e-mail address: {part!r}")
        parsed = getaddresses([part])
        address = parsed[0][1] if len(parsed) == 1 else ""
        if not _ADDRESS_RE.fullmatch(address):
            raise ValueError(f"not an e-mail address: {part!r}")
        if address not in found:
            found.append(address)
    return found


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


class EmailChannel:
    """Sends notices over SMTP with aiosmtplib; see the module docstring for error mapping."""

    kind = "email"

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        starttls: bool = True,
        use_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        sender: str,
        default_to: Sequence[str] = (),
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        hostname_for_message_id: str | None = None,
        clock: Callable[[], datetime] = system_clock,
        template: MessageTemplate | None = None,
        links: NoticeLinks | None = None,
        graphs: GraphLookup | None = None,
    ) -> None:
        """``timeout`` bounds the whole exchange, connect to QUIT; ``graphs`` draws what a
        firing notice shows inline (its own timeout bounds it). ``tls_context`` replaces the
        system trust store (e.g. a private CA); certificates are always verified.
        ``hostname_for_message_id`` defaults to the sender's domain. Raises ``ValueError`` on
        a configuration that cannot work or would leak the password."""
        if starttls and use_tls:
            raise ValueError(f"email channel {name}: starttls and use_tls exclude each other")
        if timeout <= 0:
            raise ValueError(f"email channel {name}: timeout must be positive")
        if username and not (starttls or use_tls) and host not in _LOOPBACK:
            raise ValueError(
                f"email channel {name}: a username needs starttls or use_tls, or the password "
                "would cross the network in clear text"
            )
        try:
            senders = parse_recipients(sender)
            default = parse_recipients(",".join(default_to))
        except ValueError as exc:
            raise ValueError(f"email channel {name}: {exc}") from None
        if len(senders) != 1:
            raise ValueError(f"email channel {name}: sender must be one address")
        domain = hostname_for_message_id or senders[0].rsplit("@", 1)[1]
        if not _DOMAIN_RE.fullmatch(domain):
            raise ValueError(f"email channel {name}: {domain!r} is not a host name")
        self.name = name
        self._host = host
        self._port = port
        self._starttls = starttls
        self._use_tls = use_tls
        self._username = username or None
        self._password = password
        self._sender_header = " ".join(sender.split())
        self._envelope_sender = senders[0]
        self._default_to = default
        self._timeout = timeout
        self._tls_context = tls_context
        self._domain = domain
        self._clock = clock
        self._template = template
        self._links = links or NoticeLinks()
        self._graphs = graphs

    def build_message(
        self, notice: Notice, recipients: Sequence[str], graphs: Sequence[InlineGraph] = ()
    ) -> EmailMessage:
        """The message for ``notice``, ``graphs`` inline; public so the rendering can be
        previewed and tested."""
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["Subject"] = render.subject(notice)
        msg["From"] = self._sender_header
        msg["To"] = ", ".join(recipients)
        msg["Date"] = format_datetime(self._clock().astimezone(UTC), usegmt=True)
        msg["Message-ID"] = message_id(notice.idempotency_key, self._domain)
        references = [r for r in notice.references if _MESSAGE_ID_RE.fullmatch(r)]
        if references:
            msg["In-Reply-To"] = references[-1]
            msg["References"] = " ".join(references[-10:])  # the newest few thread just as well
        # RFC 3834: tells vacation responders and list servers not to answer an alert.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Firebreak-Kind"] = notice.kind.value
        text, html = self.bodies(notice)
        cids = [
            message_id(f"{notice.idempotency_key}#graph{i}", self._domain)
            for i in range(len(graphs))
        ]
        text, html = _with_graphs(text, html, graphs, cids)
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_body(preferencelist=("html",))
        assert isinstance(html_part, MIMEPart)  # the alternative just added
        for i, (graph, cid) in enumerate(zip(graphs, cids, strict=True)):
            if graph.png is not None:
                html_part.add_related(
                    graph.png,
                    maintype="image",
                    subtype="png",
                    cid=cid,
                    filename=f"graph-{i + 1}.png",
                    disposition="inline",
                )
        return msg

    def rendering(self, notice: Notice) -> tuple[str, str, str]:
        """Subject, plain-text body and HTML body, as ``build_message`` puts them in."""
        return (render.subject(notice), *self.bodies(notice))

    def bodies(self, notice: Notice) -> tuple[str, str]:
        """The plain-text and HTML bodies, with acknowledge links when they are configured."""
        text, html = self._laid_out(notice)
        acks: list[tuple[NoticeAlert, str]] = []
        for alert in notice.alerts:
            url = self._links.acknowledge_url(notice, alert)
            if url:
                acks.append((alert, url))
        if not acks:
            return text, html
        text += "\nAcknowledge (opens a page to confirm):\n" + "".join(
            f"  {render.alert_name(a)} (id {a.id}): {url}\n" for a, url in acks
        )
        items = "".join(
            f'<li><a href="{html_lib.escape(url, quote=True)}">Acknowledge '
            f"{html_lib.escape(render.alert_name(a))} (id {a.id})</a></li>"
            for a, url in acks
        )
        html = html.replace("</body>", f"<ul>{items}</ul>\n</body>", 1)
        return text, html

    def _laid_out(self, notice: Notice) -> tuple[str, str]:
        """The plain-text and HTML bodies: the template's when the channel has one and it
        renders, else the built-in ones (with a note when the template failed)."""
        if self._template is None:
            return render.text_body(notice), render.html_body(notice)
        text, html = self._template(notice, "text"), self._template(notice, "html")
        if text.text is not None and html.text is not None:
            return text.text, _html_document(html.text)
        note = fallback_note(text.problem or html.problem or "no output")
        default_html = render.html_body(notice).replace(
            "\n<p><strong>", f"\n<p><em>{html_lib.escape(note)}</em></p>\n<p><strong>", 1
        )
        return f"{note}\n\n{render.text_body(notice)}", default_html

    def _recipients(self, target: str) -> list[str]:
        try:
            recipients = parse_recipients(target) if target.strip() else self._default_to
        except ValueError as exc:
            raise ChannelRejected(f"email {self.name}: {exc}") from None
        if not recipients:
            raise ChannelRejected(f"email {self.name}: no recipients (empty target, no default_to)")
        return list(recipients)

    async def send(self, notice: Notice, target: str) -> Delivery:
        recipients = self._recipients(target)
        graphs: Sequence[InlineGraph] = ()
        if self._graphs is not None and notice.kind is NoticeKind.FIRING:
            graphs = await self._graphs(notice.alerts, self._clock())
        message = self.build_message(notice, recipients, graphs)
        where = f"email {self.name} ({self._host}:{self._port})"
        try:
            async with asyncio.timeout(self._timeout):
                refused, _ = await aiosmtplib.send(
                    message,
                    sender=self._envelope_sender,
                    recipients=recipients,
                    hostname=self._host,
                    port=self._port,
                    username=self._username,
                    password=self._password if self._username else None,
                    # The domain we name ourselves in EHLO; aiosmtplib would otherwise ask DNS.
                    local_hostname=self._domain,
                    timeout=self._timeout,
                    use_tls=self._use_tls,
                    # False, not None: None means "upgrade if offered", which silently sends in
                    # clear text when the offer is missing.
                    start_tls=self._starttls,
                    tls_context=self._tls_context,
                )
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise ChannelError(f"{where}: greeting refused: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = " ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(_is_permanent(r.code) for r in exc.recipients):
                raise ChannelRejected(f"{where}: recipients refused: {codes}") from None
            raise ChannelError(f"{where}: recipients refused for now: {codes}") from None
        except aiosmtplib.SMTPResponseException as exc:  # auth, sender, data, helo
            stage = (
                "authentication failed"
                if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
                else "refused"
            )
            reason = f"{where}: {stage}: {exc.code} {exc.message}"
            if _is_permanent(exc.code):
                raise ChannelRejected(reason) from None
            raise ChannelError(reason) from None
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. a non-ASCII address, no SMTPUTF8
            raise ChannelRejected(f"{where}: {exc.message}") from None
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            raise ChannelError(f"{where}: no answer within {self._timeout:g}s") from None
        except aiosmtplib.SMTPException as exc:  # disconnects, missing STARTTLS or AUTH
            raise ChannelError(f"{where}: {exc.message}") from None
        except ssl.SSLError as exc:
            raise ChannelError(f"{where}: TLS failed: {exc}") from None
        except OSError as exc:
            raise ChannelError(f"{where}: {exc}") from None
        except ValueError as exc:  # aiosmtplib refusing an address it cannot send safely
            raise ChannelRejected(f"{where}: {exc}") from None
        if refused:
            # Delivered to the others; retrying would send them a duplicate, so only say so.
            logger.warning(
                "some recipients refused",
                extra={
                    "channel": self.name,
                    "idempotency_key": notice.idempotency_key,
                    "refused": {k: f"{v.code} {v.message}" for k, v in refused.items()},
                },
            )
        return Delivery(reference=str(message["Message-ID"]))

    async def close(self) -> None:
        """Nothing to release: each send uses its own connection."""


def _with_graphs(
    text: str, html: str, graphs: Sequence[InlineGraph], cids: Sequence[str]
) -> tuple[str, str]:
    """The bodies with the graphs: a line each in the text, an image (or the reason there is
    none) each at the end of the HTML."""
    if not graphs:
        return text, html
    lines, blocks = [], []
    for graph, cid in zip(graphs, cids, strict=True):
        caption = html_lib.escape(graph.caption)
        if graph.png is None:
            lines.append(graph.caption)
            blocks.append(f"<p><em>{caption}</em></p>")
        else:
            lines.append(f"{graph.caption} (a graph in the HTML version of this message)")
            source = html_lib.escape(f"cid:{cid[1:-1]}", quote=True)
            blocks.append(
                f'<p>{caption}<br><img src="{source}" alt="{caption}" width="800" height="320"></p>'
            )
    text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    html = html.replace("</body>", "\n".join(blocks) + "\n</body>", 1)
    return text, html


def _html_document(body: str) -> str:
    """A template's HTML output as a whole document (its values are escaped already)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family: sans-serif; font-size: 14px;">\n{body}\n</body></html>\n'
    )
