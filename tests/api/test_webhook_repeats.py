"""The ``webhook`` channel is at-least-once: a notice whose answer was lost (the receiver took
it, the answer came after the timeout) is sent again by its job, with the same
``X-Firebreak-Idempotency-Key`` and the same body, so the receiver can drop the repeat. On
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.api.test_escalation import eventually, start  # noqa: F401 - start: a fixture
from tests.conftest import WEBHOOK_TOKEN, auth
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook


async def test_a_notice_whose_answer_was_lost_comes_again_under_the_same_key(
    receiver: WebhookReceiver,
    start: Any,  # noqa: F811
) -> None:
    receiver.script(Reply.timeout(2))  # taken, but answered after the channel's timeout
    client = await start(receiver, timeout="300ms", tier2_after="1h", group_window="0s")
    resp = await client.post("/webhook", json=webhook(alert("A")), headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200
    await eventually(lambda: len(receiver.requests) == 2, client=client)
    first, again = receiver.requests
    key = first.headers["X-Firebreak-Idempotency-Key"]
    assert key.startswith("notify:")
    assert again.headers["X-Firebreak-Idempotency-Key"] == key
    assert again.body == first.body
    assert receiver.json(1)["idempotency_key"] == key
