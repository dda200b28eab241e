"""The ``slack`` channel and everything it renders: alert messages kept current in place
(``channel``), posted once per idempotency key (``once``), their Block Kit (``blocks``),
Slack's mrkdwn escaping (``mrkdwn``) and the pacing of Web API calls (``pacer``). Pure
rendering and wire calls: what a message shows comes from lookups the application hands in,
never from the store directly."""

from __future__ import annotations

from receiver.notify.slack.channel import (
    MessageState,
    OfferLookup,
    PagedLookup,
    ReferenceLookup,
    SlackChannel,
    StateLookup,
)
from receiver.notify.slack.once import MessageRef
from receiver.notify.slack.pacer import Pacer, slack_call

__all__ = [
    "MessageRef",
    "MessageState",
    "OfferLookup",
    "Pacer",
    "PagedLookup",
    "ReferenceLookup",
    "SlackChannel",
    "StateLookup",
    "slack_call",
]
