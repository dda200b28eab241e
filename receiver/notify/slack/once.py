"""Posting to Slack once per idempotency key: a message (``chat.postMessage``) or a thread
reply carries the key of the notice or job behind it in its metadata. A post first looks in
what this process remembers and, only when the caller says an earlier attempt may have posted
it (``attempt`` above 0: one failed or ended in doubt, or the job was taken over), in Slack: the
channel's history (``conversations.history``) for a message, the thread
(``conversations.replies``) for a reply. The first attempt looks nowhere: Slack's rate limits
on those reads are tight. Posts to one Slack channel are paced (``Pacer``)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from receiver.notify.base import ChannelThrottled
from receiver.notify.slack.files import find_in_thread
from receiver.notify.slack.pacer import Pacer, slack_call

__all__ = ["METADATA_EVENT", "MessageRef", "PostOnce"]

log = logging.getLogger("firebreak.slack")

METADATA_EVENT: Final = "firebreak_notice"
_REMEMBERED: Final = 10_000  # idempotency keys whose message this process remembers
_HISTORY_LOOKBACK: Final = 200  # messages searched for one posted by an earlier attempt


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a message lives: a Slack channel id and the message's ts."""

    channel: str
    ts: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.ts}"

    @classmethod
    def parse(cls, reference: str | None) -> MessageRef | None:
        channel, sep, ts = (reference or "").partition(":")
        return cls(channel, ts) if sep and channel and ts else None


class PostOnce:
    """Posts for one ``slack`` channel (named ``name`` in errors and logs), each key once."""

    def __init__(self, name: str, client: AsyncWebClient, pacer: Pacer) -> None:
        self._name = name
        self._client = client
        self._pacer = pacer
        self._posted: OrderedDict[str, MessageRef] = OrderedDict()

    async def post(
        self,
        idempotency_key: str,
        attempt: int,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> tuple[MessageRef, bool]:
        """The message (or thread reply) posted now or found posted already, and whether it
        was found (the caller may bring a message found up to date). ``key`` is what this
        process remembers the post by, when one idempotency key posts in several places."""
        key = key or f"{idempotency_key}#{thread_ts or ''}"
        known = self._posted.get(key)
        if known is None and attempt > 0:
            known = await self._find(channel, idempotency_key, thread_ts)
            if known is not None:
                self._remember(key, known)
        if known is not None:
            return known, True
        wait = self._pacer.take_post(channel)
        if wait > 0:
            raise ChannelThrottled(f"slack {self._name}: pacing posts to {channel}", wait)
        kwargs: dict[str, Any] = {}
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        answer = await slack_call(
            f"slack {self._name} chat.postMessage",
            self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"idempotency_key": idempotency_key},
                },
                **kwargs,
            ),
            pacer=self._pacer,
            channel=channel,
        )
        ref = MessageRef(str(answer.get("channel") or channel), str(answer["ts"]))
        self._remember(key, ref)
        return ref, False

    def _remember(self, key: str, ref: MessageRef) -> None:
        self._posted[key] = ref
        while len(self._posted) > _REMEMBERED:
            self._posted.popitem(last=False)

    async def _find(
        self, channel: str, key: str, thread_ts: str | None = None
    ) -> MessageRef | None:
        """The message (or, with ``thread_ts``, the reply in that thread) an earlier attempt
        posted with the idempotency key ``key``, from the channel's history or the thread."""
        where = f"slack {self._name}"
        if thread_ts is not None:
            ts = await find_in_thread(self._client, self._pacer, where, channel, thread_ts, key=key)
            if ts is not None:
                log.info("%s: found the thread reply an earlier attempt posted", where)
            return MessageRef(channel, ts) if ts is not None else None
        answer = await slack_call(
            f"{where} conversations.history",
            self._client.conversations_history(
                channel=channel, limit=_HISTORY_LOOKBACK, include_all_metadata=True
            ),
            pacer=self._pacer,
            channel=channel,
        )
        for item in answer.get("messages") or []:
            meta = item.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_EVENT and payload.get("idempotency_key") == key:
                log.info("%s: found the message an earlier attempt posted", where)
                return MessageRef(channel, str(item["ts"]))
        return None
