"""An image in the thread of a Slack message: Slack's external upload, as ``files_upload_v2``
does it (``files.getUploadURLExternal``, the bytes to the upload URL it answers,
``files.completeUploadExternal`` sharing the file in the thread). Scope: files:write.

Sharing is kept single: the file's name carries a key of the job that shares it, and an
attempt that comes after an earlier one (a retry, a job claimed again) first looks for a file
of that name in the thread (``conversations.replies``) and shares nothing when it finds one —
the earlier upload may have gone through with its answer lost, or its process gone before the
job was marked done. A first attempt does not look: Slack's rate limits on reads are tight.
"""

from __future__ import annotations

import logging
from typing import Final

from slack_sdk.errors import SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from receiver.notify.base import ChannelError, ChannelThrottled
from receiver.notify.slack.pacer import Pacer, slack_call

log = logging.getLogger("firebreak.slack")

_REPLIES_LOOKED_AT: Final = 200  # a thread's replies searched for an earlier attempt's file


async def share_image(
    client: AsyncWebClient,
    pacer: Pacer,
    where: str,
    *,
    channel: str,
    thread_ts: str,
    image: bytes,
    filename: str,
    title: str,
    comment: str,
    attempt: int = 1,
) -> None:
    """``image`` shared in the thread of the message ``thread_ts`` of ``channel``, with
    ``comment`` (mrkdwn, outside text escaped) above it, once per ``filename``; ``attempt``
    above 0 says an earlier attempt may have shared it."""
    if attempt > 0 and await find_in_thread(
        client, pacer, where, channel, thread_ts, filename=filename
    ):
        log.info("%s: found the file an earlier attempt shared", where)
        return
    wait = pacer.take_post(channel)
    if wait > 0:
        raise ChannelThrottled(f"{where}: pacing posts to {channel}", wait)
    try:
        await slack_call(
            f"{where} files.upload_v2",
            client.files_upload_v2(
                content=image,
                filename=filename,
                title=title,
                alt_txt=title[:1000],
                channel=channel,
                thread_ts=thread_ts,
                initial_comment=comment,
            ),
            pacer=pacer,
            channel=channel,
        )
    except SlackRequestError as exc:  # the upload URL did not take the bytes
        raise ChannelError(f"{where} files.upload_v2: {exc}") from None


async def find_in_thread(
    client: AsyncWebClient,
    pacer: Pacer,
    where: str,
    channel: str,
    thread_ts: str,
    *,
    filename: str | None = None,
    key: str | None = None,
) -> str | None:
    """The ts of the reply in the thread of ``thread_ts`` that holds a file named
    ``filename``, or that was posted with the idempotency key ``key`` in its metadata
    (``conversations.replies``); None when there is none."""
    answer = await slack_call(
        f"{where} conversations.replies",
        client.conversations_replies(
            channel=channel, ts=thread_ts, limit=_REPLIES_LOOKED_AT, include_all_metadata=True
        ),
        pacer=pacer,
        channel=channel,
    )
    for message in answer.get("messages") or []:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        names = [f.get("name") for f in message.get("files") or [] if isinstance(f, dict)]
        if (key is not None and payload.get("idempotency_key") == key) or (
            filename is not None and filename in names
        ):
            return str(message.get("ts") or thread_ts)
    return None
