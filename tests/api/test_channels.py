"""The notification channels against real local servers: an aiohttp webhook receiver and an
aiosmtpd SMTP server with STARTTLS and AUTH. Every failure mode is produced by the server
itself (a status, a slow answer, an SMTP reply code), not by mocking the client."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import aiohttp
import pytest
import trustme

from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Notice,
    NoticeAlert,
    NoticeKind,
)
from receiver.notify.email import EmailChannel, message_id
from receiver.notify.log import LogChannel
from receiver.notify.render import html_body, subject, text_body
from receiver.notify.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    sign,
    verify_signature,
)
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.ports import free_port

SECRET = "whsec-0123456789abcdef"
STARTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_alert(
    id: int = 1,
    *,
    alertname: str = "HighErrorRate",
    severity: str = "critical",
    status: str = "firing",
    **labels: str,
) -> NoticeAlert:
    return NoticeAlert(
        id=id,
        fingerprint=f"fp{id:04d}",
        status=status,
        labels={"alertname": alertname, "severity": severity, "service": "checkout", **labels},
        annotations={
            "summary": f"5xx above 5% on pod {id}",
            "runbook_url": "https://runbooks.example/high-error-rate",
        },
        starts_at=STARTED + timedelta(seconds=id),
        ends_at=None if status == "firing" else STARTED + timedelta(minutes=5),
        generator_url=f"http://prometheus.example/graph?g0.expr=up&id={id}",
    )


def make_notice(
    kind: NoticeKind = NoticeKind.FIRING, key: str = "notify:42:0", count: int = 3
) -> Notice:
    status = "resolved" if kind is NoticeKind.RESOLVED else "firing"
    return Notice(
        kind=kind,
        idempotency_key=key,
        alerts=tuple(make_alert(i, status=status, pod=f"web-{i}") for i in range(1, count + 1)),
        group_key='{}:{alertname="HighErrorRate"}',
        route="checkout",
        escalation_policy="checkout-oncall",
        tier=0 if kind is NoticeKind.FIRING else None,
        repeat=1,
    )


# --- webhook ------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def webhook(
    url: str, session: aiohttp.ClientSession, *, timeout: float = 2.0, secret: str | None = SECRET
) -> WebhookChannel:
    return WebhookChannel(
        "hook",
        url,
        session=session,
        secret=secret,
        timeout=timeout,
        headers={"Authorization": "Bearer abc", "X-Firebreak-Signature": "forged"},
    )


async def test_webhook_body_and_headers(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    delivery = await webhook(receiver.url, session).send(make_notice(count=1), "")
    assert delivery.reference == "evt-1"  # the receiver's JSON "id"
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer abc"  # configured headers pass through
    assert request.headers[IDEMPOTENCY_HEADER] == "notify:42:0"
    assert abs(int(request.headers[TIMESTAMP_HEADER]) - time.time()) < 5
    assert request.headers["User-Agent"].startswith("Firebreak/")
    assert request.signature_ok  # and the configured "forged" signature did not win
    assert receiver.json() == {
        "version": "1",
        "kind": "firing",
        "idempotency_key": "notify:42:0",
        "group_key": '{}:{alertname="HighErrorRate"}',
        "route": "checkout",
        "escalation_policy": "checkout-oncall",
        "tier": 0,
        "repeat": 1,
        "drill": False,
        "suppressed": 0,
        "alerts": [
            {
                "id": 1,
                "fingerprint": "fp0001",
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "severity": "critical",
                    "service": "checkout",
                    "pod": "web-1",
                },
                "annotations": {
                    "summary": "5xx above 5% on pod 1",
                    "runbook_url": "https://runbooks.example/high-error-rate",
                },
                "starts_at": "2024-05-01T12:00:01Z",
                "ends_at": None,
                "generator_url": "http://prometheus.example/graph?g0.expr=up&id=1",
            }
        ],
    }


async def test_webhook_resolved_body_has_end_times(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    await webhook(receiver.url, session).send(make_notice(NoticeKind.RESOLVED, count=2), "")
    body = receiver.json()
    assert body["kind"] == "resolved"
    assert body["tier"] is None
    assert [a["ends_at"] for a in body["alerts"]] == ["2024-05-01T12:05:00Z"] * 2


async def test_webhook_signature_verifies_and_fails_when_tampered(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    await webhook(receiver.url, session).send(make_notice(), "")
    [request] = receiver.requests
    assert request.signature_ok is True
    ts, body = request.headers[TIMESTAMP_HEADER], request.body
    header = request.headers[SIGNATURE_HEADER]
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    now = int(ts)
    assert verify_signature(SECRET, ts, body, header, now=now)
    assert verify_signature(SECRET, ts, body, header, now=datetime.fromtimestamp(now, UTC))
    # Any change to body, timestamp, secret or signature fails.
    assert not verify_signature(SECRET, ts, body.replace(b"critical", b"warning"), header, now=now)
    assert not verify_signature(SECRET, ts, body + b" ", header, now=now)
    assert not verify_signature(SECRET, str(now + 1), body, header, now=now)
    assert not verify_signature("other-secret", ts, body, header, now=now)
    flipped = header[:-1] + ("1" if header[-1] == "0" else "0")
    assert not verify_signature(SECRET, ts, body, flipped, now=now)
    assert not verify_signature(SECRET, ts, body, header.upper(), now=now)
    assert not verify_signature(SECRET, ts, body, None, now=now)
    assert not verify_signature(SECRET, None, body, header, now=now)
    assert not verify_signature(SECRET, " " + ts, body, header, now=now)
    # A captured request replayed later than the tolerance is refused.
    assert verify_signature(SECRET, ts, body, header, now=now + 300)
    assert not verify_signature(SECRET, ts, body, header, now=now + 301)
    assert not verify_signature(SECRET, ts, body, header, now=now + 61, tolerance=60)
    # Several signatures (secret rotation): any one matching is enough.
    rotated = f"{sign('old-secret', ts, body)}, {header}"
    assert verify_signature(SECRET, ts, body, rotated, now=now)
    # The scheme as documented: hex HMAC-SHA256 of "<timestamp>.<body>".
    import hashlib
    import hmac

    digest = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert header == f"sha256={digest}"


async def test_webhook_without_secret_is_unsigned(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    await webhook(receiver.url, session, secret=None).send(make_notice(), "")
    [request] = receiver.requests
    assert SIGNATURE_HEADER not in request.headers
    assert request.signature_ok is False


async def test_webhook_idempotency_key_and_body_identical_across_sends(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    channel = webhook(receiver.url, session)
    notice = make_notice(key="notify:7:2")
    receiver.script(500)
    with pytest.raises(ChannelError):
        await channel.send(notice, "")
    await channel.send(notice, "")
    first, second = receiver.requests
    assert first.headers[IDEMPOTENCY_HEADER] == second.headers[IDEMPOTENCY_HEADER] == "notify:7:2"
    assert first.body == second.body
    await channel.send(make_notice(key="notify:7:3"), "")
    assert receiver.requests[2].headers[IDEMPOTENCY_HEADER] == "notify:7:3"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_webhook_server_errors_are_retryable(
    receiver: WebhookReceiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.script(Reply(status, body=b"upstream sad"))
    with pytest.raises(ChannelError) as caught:
        await webhook(receiver.url, session).send(make_notice(), "")
    assert type(caught.value) is ChannelError  # neither rejected nor throttled
    assert f"HTTP {status}" in str(caught.value)
    assert "upstream sad" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
async def test_webhook_client_errors_are_rejected(
    receiver: WebhookReceiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.script(Reply(status, body=b"x" * 5000))
    with pytest.raises(ChannelRejected) as caught:
        await webhook(receiver.url, session).send(make_notice(), "")
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert len(message) < 400  # the body is quoted, truncated


async def test_webhook_429_is_throttled_with_retry_after_seconds(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    receiver.script(Reply.throttled("7"))
    with pytest.raises(ChannelThrottled) as caught:
        await webhook(receiver.url, session).send(make_notice(), "")
    assert caught.value.retry_after == 7.0


async def test_webhook_429_with_an_http_date(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=90)
    receiver.script(Reply.throttled(format_datetime(when, usegmt=True)), Reply.throttled(None))
    channel = webhook(receiver.url, session)
    with pytest.raises(ChannelThrottled) as caught:
        await channel.send(make_notice(), "")
    assert caught.value.retry_after == pytest.approx(90, abs=3)
    with pytest.raises(ChannelThrottled) as caught:
        await channel.send(make_notice(), "")
    assert caught.value.retry_after is None


async def test_webhook_timeout_is_retryable(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    receiver.script(Reply.timeout(10))
    started = time.monotonic()
    with pytest.raises(ChannelError) as caught:
        await webhook(receiver.url, session, timeout=0.3).send(make_notice(), "")
    assert type(caught.value) is ChannelError
    assert "no answer within 0.3s" in str(caught.value)
    assert time.monotonic() - started < 3


async def test_webhook_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    channel = webhook(f"http://127.0.0.1:{free_port()}/hook", session)
    with pytest.raises(ChannelError) as caught:
        await channel.send(make_notice(), "")
    assert type(caught.value) is ChannelError


async def test_webhook_redirect_is_rejected_and_not_followed(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    receiver.script(Reply.redirect(receiver.base_url + "/elsewhere"))
    with pytest.raises(ChannelRejected) as caught:
        await webhook(receiver.url, session).send(make_notice(), "")
    assert "HTTP 302" in str(caught.value)
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_webhook_scripted_outage_then_delivery(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    """500, 500, timeout, 429, 200: what a job runner retrying one notice would see."""
    receiver.script(500, 500, Reply.timeout(10), Reply.throttled("2"), 200)
    channel = webhook(receiver.url, session, timeout=0.3)
    notice = make_notice()
    seen: list[str] = []
    for _ in range(5):
        try:
            await channel.send(notice, "")
        except ChannelError as exc:
            seen.append(type(exc).__name__)
        else:
            seen.append("delivered")
    assert seen == ["ChannelError"] * 3 + ["ChannelThrottled", "delivered"]
    assert len({r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests}) == 1
    assert all(r.signature_ok for r in receiver.requests)


async def test_webhook_target_url_and_reference_header(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    channel = webhook(receiver.url, session)
    receiver.script(Reply(202, headers={"X-Request-Id": "req-9"}))
    delivery = await channel.send(make_notice(), receiver.base_url + "/team-a?x=1")
    assert delivery.reference == "req-9"
    await channel.send(make_notice(), "team-a")  # not a URL: the configured url
    assert [r.path for r in receiver.requests] == ["/team-a?x=1", "/hook"]


async def test_webhook_errors_do_not_reveal_the_url_path(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    receiver.script(404)
    channel = webhook(receiver.base_url + "/hooks/T000/s3cr3t-token", session)
    with pytest.raises(ChannelRejected) as caught:
        await channel.send(make_notice(), "")
    assert "s3cr3t-token" not in str(caught.value)
    assert receiver.base_url in str(caught.value)


async def test_webhook_owns_a_session_when_given_none(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel("hook", receiver.url, secret=SECRET, timeout=2.0)
    try:
        await channel.send(make_notice(), "")
    finally:
        await channel.close()
    assert receiver.requests[0].signature_ok


def test_webhook_refuses_a_non_http_url() -> None:
    with pytest.raises(ValueError):
        WebhookChannel("hook", "ftp://example.com/x", timeout=1.0)


# --- email --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(ca, users={"alerts": "correct horse"}) as server:
        yield server


def mailer(
    server: FakeSmtpServer,
    *,
    password: str = "correct horse",
    tls_context: ssl.SSLContext | None = None,
    default_to: tuple[str, ...] = ("oncall@example.com",),
) -> EmailChannel:
    return EmailChannel(
        "mail",
        host=server.host,
        port=server.port,
        starttls=True,
        use_tls=False,
        username="alerts",
        password=password,
        sender="Firebreak <firebreak@example.com>",
        default_to=default_to,
        timeout=5.0,
        tls_context=tls_context or server.client_tls_context(),
        hostname_for_message_id="firebreak.example.com",
    )


def parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }


async def test_email_sent_over_starttls_with_auth(smtp: FakeSmtpServer) -> None:
    notice = make_notice(count=3)
    delivery = await mailer(smtp).send(notice, "")
    [mail] = smtp.messages
    assert mail.tls and mail.login == "alerts"
    assert mail.mail_from == "firebreak@example.com"
    assert mail.rcpt_tos == ("oncall@example.com",)
    message = mail.message
    assert message["Subject"] == "[FIRING:3] HighErrorRate checkout (critical)"
    assert message["From"] == "Firebreak <firebreak@example.com>"
    assert message["To"] == "oncall@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    bodies = parts(message)
    assert set(bodies) == {"text/plain", "text/html"}
    assert "5xx above 5% on pod 2" in bodies["text/plain"]
    assert "https://runbooks.example/high-error-rate" in bodies["text/plain"]
    assert "tier 1" in bodies["text/plain"]  # tier 0, shown counting from one
    assert '<a href="https://runbooks.example/high-error-rate">Runbook</a>' in bodies["text/html"]
    assert delivery.reference == message["Message-ID"]
    assert message["Message-ID"] == message_id("notify:42:0", "firebreak.example.com")


async def test_email_message_id_is_stable_across_retries(smtp: FakeSmtpServer) -> None:
    channel = mailer(smtp)
    notice = make_notice()
    smtp.fail_data("451 4.3.0 Try again later")
    with pytest.raises(ChannelError) as caught:
        await channel.send(notice, "")
    assert type(caught.value) is ChannelError
    assert "451" in str(caught.value)
    first = await channel.send(notice, "")
    second = await channel.send(notice, "")
    other = await channel.send(make_notice(key="notify:43:0"), "")
    assert first.reference == second.reference != other.reference
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert ids == [first.reference, first.reference, other.reference]


async def test_email_permanent_refusal_is_rejected(smtp: FakeSmtpServer) -> None:
    smtp.fail_rcpt("550 5.1.1 No such user")
    with pytest.raises(ChannelRejected) as caught:
        await mailer(smtp).send(make_notice(), "nobody@example.com")
    assert "550" in str(caught.value)
    smtp.fail_data("554 5.7.1 Message rejected")
    with pytest.raises(ChannelRejected):
        await mailer(smtp).send(make_notice(), "")
    assert smtp.messages == []


async def test_email_temporary_recipient_refusal_is_retryable(smtp: FakeSmtpServer) -> None:
    smtp.fail_rcpt("450 4.2.1 Mailbox busy")
    with pytest.raises(ChannelError) as caught:
        await mailer(smtp).send(make_notice(), "")
    assert type(caught.value) is ChannelError


async def test_email_wrong_password_is_rejected(smtp: FakeSmtpServer) -> None:
    with pytest.raises(ChannelRejected) as caught:
        await mailer(smtp, password="wrong").send(make_notice(), "")
    assert "authentication failed" in str(caught.value)
    assert smtp.messages == []


async def test_email_missing_starttls_is_retryable_not_plain_text(ca: trustme.CA) -> None:
    """STARTTLS required but not offered: ChannelError. The server's capabilities are its state
    at that moment (a relay restarted with the wrong config, a middlebox stripping STARTTLS),
    not a verdict on the notice, so the notice waits for an operator rather than being
    dead-lettered; and nothing, password included, is sent in clear text."""
    with FakeSmtpServer(ca, users={"alerts": "correct horse"}, tls=False) as plain:
        channel = mailer(plain, tls_context=ssl.create_default_context())
        with pytest.raises(ChannelError) as caught:
            await channel.send(make_notice(), "")
        assert type(caught.value) is ChannelError
        assert "STARTTLS" in str(caught.value)
        assert plain.messages == []


async def test_email_untrusted_certificate_is_retryable(smtp: FakeSmtpServer) -> None:
    stranger = trustme.CA()
    context = ssl.create_default_context()
    stranger.configure_trust(context)
    with pytest.raises(ChannelError) as caught:
        await mailer(smtp, tls_context=context).send(make_notice(), "")
    assert type(caught.value) is ChannelError
    assert smtp.messages == []


async def test_email_connection_refused_is_retryable() -> None:
    channel = EmailChannel(
        "mail",
        host="127.0.0.1",
        port=free_port(),
        sender="firebreak@example.com",
        default_to=["oncall@example.com"],
        timeout=2.0,
    )
    with pytest.raises(ChannelError) as caught:
        await channel.send(make_notice(), "")
    assert type(caught.value) is ChannelError


async def test_email_target_recipients(smtp: FakeSmtpServer) -> None:
    channel = mailer(smtp)
    await channel.send(make_notice(), "a@example.com, Ops Team <b@example.com>")
    assert smtp.messages[0].rcpt_tos == ("a@example.com", "b@example.com")
    with pytest.raises(ChannelRejected):
        await channel.send(make_notice(), "not an address")
    with pytest.raises(ChannelRejected):
        await channel.send(make_notice(), "a@example.com\r\nBcc: evil@example.com")
    with pytest.raises(ChannelRejected):
        await mailer(smtp, default_to=()).send(make_notice(), " ")
    assert len(smtp.messages) == 1


async def test_email_escapes_alert_content(smtp: FakeSmtpServer) -> None:
    evil = NoticeAlert(
        id=9,
        fingerprint="fp9",
        status="firing",
        labels={"alertname": "X<script>alert(1)</script>", "severity": "warning\r\nBcc: a@b.c"},
        annotations={"summary": "<b>bold</b> & more", "runbook_url": "javascript:alert(1)"},
        starts_at=STARTED,
        ends_at=None,
        generator_url="http://prom.example/?a=1&b=<2>",
    )
    notice = Notice(kind=NoticeKind.FIRING, idempotency_key="k", alerts=(evil,))
    await mailer(smtp).send(notice, "")
    message = smtp.messages[0].message
    assert "Bcc" not in message
    assert "\n" not in message["Subject"]
    html = parts(message)["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert 'href="javascript:' not in html
    assert 'href="http://prom.example/?a=1&amp;b=&lt;2&gt;"' in html


def test_subjects() -> None:
    assert subject(make_notice(count=3)) == "[FIRING:3] HighErrorRate checkout (critical)"
    assert (
        subject(make_notice(NoticeKind.RESOLVED)) == "[RESOLVED] HighErrorRate checkout (critical)"
    )
    digest = Notice(kind=NoticeKind.DIGEST, idempotency_key="d", alerts=(), suppressed=12)
    assert subject(digest) == "[DIGEST] 12 notifications held back"
    assert "held back 12 notifications" in text_body(digest)
    assert "held back 12 notifications" in html_body(digest)
    mixed = Notice(
        kind=NoticeKind.FIRING,
        idempotency_key="m",
        alerts=(
            make_alert(1, severity="warning"),
            make_alert(2, alertname="Latency", severity="critical", service="cart"),
        ),
        drill=True,
    )
    assert subject(mixed) == "[DRILL] [FIRING:2] HighErrorRate, Latency (critical)"
    many = make_notice(count=60)
    assert "... and 10 more alerts." in text_body(many)
    assert (
        len(
            subject(
                Notice(
                    kind=NoticeKind.FIRING,
                    idempotency_key="l",
                    alerts=(make_alert(alertname="A" * 500),),
                )
            )
        )
        <= 200
    )


# --- log ----------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[tuple[logging.Logger, _Records]]:
    logger = logging.getLogger("firebreak.test.notify.log")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = _Records()
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)


async def test_log_channel_writes_one_line_with_the_fields(
    log_records: tuple[logging.Logger, _Records],
) -> None:
    logger, handler = log_records
    channel = LogChannel("audit", logger=logger)
    delivery = await channel.send(make_notice(count=2), "team-a")
    assert delivery.reference == "notify:42:0"
    [record] = handler.records
    assert record.levelno == logging.WARNING
    fields = record.__dict__
    assert fields["channel"] == "audit"
    assert fields["kind"] == "firing"
    assert fields["idempotency_key"] == "notify:42:0"
    assert fields["alert_count"] == 2
    assert fields["alertnames"] == "HighErrorRate"
    assert fields["tier"] == 1  # the policy's first tier, counted as people count it
    assert fields["target"] == "team-a"
    await channel.send(make_notice(NoticeKind.RESOLVED), "")
    assert handler.records[1].levelno == logging.INFO
    assert handler.records[1].__dict__["tier"] is None
    assert len(handler.records) == 2
    await channel.close()
