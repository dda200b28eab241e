"""The ``slack`` channel: one Block Kit message per notice, kept current in place.

- A firing notice to a Slack channel that has no message about these alerts yet is posted
  (``chat.postMessage``); its delivery reference is ``<channel id>:<ts>``, which the
  notifications record keeps.
- A later notice about the same alerts to the same Slack channel (the next tier, a repeat, the
  resolve) goes into that message's thread and the message itself is re-rendered from the
  alerts' current state (``chat.update`` keyed by the stored channel and ts); so does an
  acknowledged notice, without a thread reply (the channel follows acknowledgements).
- Edits of one message from different jobs may reach Slack in another order than they were
  rendered in: each edit renders the message again once it has landed and edits again if the
  state changed meanwhile (``refresh``), so the edit that lands last shows the newest state.
- Posting is idempotent (``once``): a message or thread reply carries the idempotency key of
  the notice or job behind it, and an attempt after one that may have posted it looks for it
  in Slack first. A message found is updated instead of posted a second time; a reply found is
  not posted again.
- A target that is a Slack user id (a person a tier pages) is their direct message with the
  app, opened once (``conversations.open``): each page is a message of its own, and an
  acknowledgement or a resolve updates the messages there in place.
- Slack's rate limit answer (HTTP 429 with ``Retry-After``) becomes ``ChannelThrottled``: the
  job waits that long without spending an attempt or tripping the breaker. Posts to one Slack
  channel are paced to one a second, Slack's guidance, the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from receiver.notify.base import ChannelRejected, ChannelThrottled, Delivery, Notice, NoticeKind
from receiver.notify.render import subject, text_body
from receiver.notify.slack.blocks import (
    MessageAlert,
    MessageView,
    PagedPerson,
    RunbookOffer,
    message,
    thread_note,
)
from receiver.notify.slack.files import share_image
from receiver.notify.slack.mrkdwn import escape, escape_within, mrkdwn
from receiver.notify.slack.once import MessageRef, PostOnce
from receiver.notify.slack.pacer import Pacer, slack_call

__all__ = [
    "MessageState",
    "OfferLookup",
    "PagedLookup",
    "ReferenceLookup",
    "SlackChannel",
    "StateLookup",
]

log = logging.getLogger("firebreak.slack")

# Slack user ids (as people's slack_user_id): a target of this shape is a direct message.
SLACK_USER: Final = re.compile(r"[UW][A-Z0-9]{2,}")
_DIGEST_CHARS: Final = 2600  # a digest's body, escaped, inside a 3000-character section
# Edits of one message in a row while its state keeps changing under them (see ``refresh``);
# each change has a job of its own that edits it again.
_EDITS: Final = 3
_REMEMBERED: Final = 10_000  # messages whose highest tier shown this process remembers


@dataclass(frozen=True, slots=True)
class MessageState:
    """The alerts a message is about, as they are now, and the tier they last reached."""

    alerts: Sequence[MessageAlert]
    tier: int | None = None
    escalation_policy: str = ""


# Reads the current state of the alerts behind a message reference (the store, in the app).
StateLookup = Callable[[str], Awaitable[MessageState | None]]
# The references of the Slack messages already sent about some alerts, first sent first.
ReferenceLookup = Callable[[Sequence[int]], Awaitable[list[str]]]
# The runbooks written for a message's alerts and where their runs stand (the store, in the app).
OfferLookup = Callable[[Sequence[MessageAlert]], Awaitable[tuple[RunbookOffer, ...]]]
# The people tiers paged about some alerts, first paged first (the store, in the app).
PagedLookup = Callable[[Sequence[int]], Awaitable[tuple[PagedPerson, ...]]]


class SlackChannel:
    """Posts and updates alert messages through ``AsyncWebClient`` (chat:write scope)."""

    kind = "slack"
    threads = True  # escalation hands it the references of its earlier messages
    follows_acknowledgements = True  # an acknowledged notice updates the message

    def __init__(
        self,
        name: str,
        client: AsyncWebClient,
        *,
        default_channel: str | None,
        pacer: Pacer,
        state: StateLookup | None = None,
        view: MessageView | None = None,
        references: ReferenceLookup | None = None,
        runbooks: OfferLookup | None = None,
        paged: PagedLookup | None = None,
    ) -> None:
        """``state`` reads the alerts behind a message as they are now, so an update shows
        who acknowledged them; without it an update shows what the notice carried.
        ``view`` holds the message settings every message shares (Grafana, silence button);
        ``runbooks`` finds the runbooks a message offers to run; ``paged`` the people tiers
        paged about the alerts, whom a message mentions."""
        self.name = name
        self._client = client
        self._default = default_channel
        self._pacer = pacer
        self._state = state
        self._view = view if view is not None else MessageView()
        self._references = references
        self._runbooks = runbooks
        self._paged = paged
        self._once = PostOnce(name, client, pacer)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._direct: dict[str, str] = {}  # user id -> the id of their direct message with us
        self._tiers: OrderedDict[str, int] = OrderedDict()  # message -> highest tier shown

    # -- sending ----------------------------------------------------------------------------

    async def send(self, notice: Notice, target: str) -> Delivery:
        channel = target or self._default
        if not channel:
            raise ChannelRejected(f"slack {self.name}: no target and no default channel")
        if SLACK_USER.fullmatch(channel) is not None:
            return await self._send_direct(notice, await self._direct_message(channel))
        references = notice.references
        if notice.message and not references and notice.alerts and self._references is not None:
            # A runbook's notify step: its words belong in the thread of the alert's message.
            references = await self._references([a.id for a in notice.alerts])
            notice = dataclasses.replace(notice, references=tuple(references))
        parent = _parent(references, channel)
        if notice.kind is NoticeKind.ACKNOWLEDGED:
            # The message says who acknowledged; nothing goes to a channel that has none.
            if parent is not None:
                await self.refresh(str(parent), notice)
            return Delivery(reference=str(parent) if parent is not None else None)
        if parent is not None and notice.kind is not NoticeKind.DIGEST:
            await self._note(parent, notice)
            return Delivery(reference=str(parent))
        # A new message: the first tier, a digest, a tier reaching another Slack channel, or a
        # resolve in a channel that never heard the alerts fired.
        ref = await self._post_message(notice, channel)
        if notice.kind is NoticeKind.FIRING:
            # The messages elsewhere about these alerts say where the escalation went.
            async with _posted_already():
                for other in _firsts(notice.references, skip=channel):
                    await self._note(other, notice)
        return Delivery(reference=str(ref))

    async def _send_direct(self, notice: Notice, channel: str) -> Delivery:
        """A page in a person's direct message: each tier that pages them is a message of
        its own (a thread reply might go unnoticed); an acknowledgement or a resolve brings
        every message about the alerts there up to date instead of adding one."""
        if notice.kind in (NoticeKind.ACKNOWLEDGED, NoticeKind.RESOLVED):
            earlier = [
                ref
                for ref in map(MessageRef.parse, notice.references)
                if ref is not None and ref.channel == channel
            ]
            for ref in earlier:
                await self.refresh(str(ref), notice)
            if earlier or notice.kind is NoticeKind.ACKNOWLEDGED:
                return Delivery(reference=str(earlier[0]) if earlier else None)
        ref = await self._post_message(notice, channel)
        if notice.kind is NoticeKind.FIRING:
            # The alert's messages in channels mention whom it paged: bring them up to date.
            async with _posted_already():
                for other in _firsts(notice.references, skip=channel):
                    await self.refresh(str(other))
        return Delivery(reference=str(ref))

    async def direct(self, user: str, text: str, key: str, attempt: int = 0) -> str:
        """``text`` (mrkdwn, outside text escaped) in the direct message with ``user``, once
        per ``key`` (looked for in the conversation when ``attempt`` says an earlier one may
        have posted it); the message's reference."""
        channel = await self._direct_message(user)
        ref = await self._post_once(key, attempt, channel, *thread_note(text))
        return str(ref)

    async def set_user_group(self, group: str, users: Sequence[str]) -> None:
        """Make ``users`` the members of the Slack user group ``group``
        (``usergroups.users.update``, scope usergroups:write); setting the same members again
        changes nothing."""
        await slack_call(
            f"slack {self.name} usergroups.users.update",
            self._client.usergroups_users_update(usergroup=group, users=list(users)),
            pacer=self._pacer,
        )

    async def _direct_message(self, user: str) -> str:
        """The id of the direct message between the app and ``user``, opened if need be."""
        known = self._direct.get(user)
        if known is not None:
            return known
        answer = await slack_call(
            f"slack {self.name} conversations.open",
            self._client.conversations_open(users=user),
            pacer=self._pacer,
            channel=user,
        )
        found = str((answer.get("channel") or {}).get("id") or "")
        if not found:
            raise ChannelRejected(f"slack {self.name}: conversations.open gave no channel")
        self._direct[user] = found
        return found

    async def _note(self, parent: MessageRef, notice: Notice) -> None:
        """A reply in ``parent``'s thread saying what happened, and ``parent`` brought up to
        date. One Slack channel may be told twice about the same alerts (once as a tier's
        default channel, once by id): one lock and one note per message and text keep it
        single."""
        await self._reply(parent, _thread_text(notice), notice)

    async def note(self, reference: str, text: str, key: str, attempt: int = 0) -> None:
        """A reply in the thread of the message at ``reference`` (a runbook's progress), once
        per ``key`` (across processes too: the thread is looked in first when ``attempt`` says
        an earlier run of the job may have posted it), and the message brought up to date."""
        parent = MessageRef.parse(reference)
        if parent is not None:
            await self._reply(parent, text, None, key, attempt)

    async def _reply(
        self,
        parent: MessageRef,
        text: str,
        notice: Notice | None,
        key: str | None = None,
        attempt: int = 0,
    ) -> None:
        lock = self._locks.setdefault(str(parent), asyncio.Lock())
        async with lock:
            await self._post_once(
                notice.idempotency_key if notice is not None else key or text,
                notice.attempt if notice is not None else attempt,
                parent.channel,
                *thread_note(text),
                thread_ts=parent.ts,
                key=f"{parent}#{key or text}",
            )
            async with _posted_already():
                await self.refresh(str(parent), notice)

    async def _post_message(self, notice: Notice, channel: str) -> MessageRef:
        alerts = [MessageAlert.from_notice(a) for a in notice.alerts]
        if notice.kind is NoticeKind.DIGEST:
            # Escaped like any outside text: a summary cannot close the code block (its
            # backticks are look-alikes) nor post a mention or a link from inside it.
            body = escape_within(text_body(notice), _DIGEST_CHARS)
            text, blocks = thread_note(f"*{escape(subject(notice))}*\n```{body}```")
        elif notice.message and not alerts:
            text, blocks = thread_note(escape_within(notice.message, 2900))
        else:
            view = await self._offering(self._with_notice(notice), alerts)
            text, blocks = message(alerts, view)
            if notice.message:
                note = {"type": "section", "text": mrkdwn(escape_within(notice.message, 2900))}
                blocks.insert(0, note)
            else:
                # Found posted by an earlier attempt, the message may have been edited since
                # (the next tier, an acknowledgement): it is rendered again from the store.
                return await self._post_once(
                    notice.idempotency_key, notice.attempt, channel, text, blocks, notice=notice
                )
        return await self._post_once(notice.idempotency_key, notice.attempt, channel, text, blocks)

    async def _offering(self, view: MessageView, alerts: Sequence[MessageAlert]) -> MessageView:
        """``view`` with what the store says of ``alerts``: the runbooks on offer, who was
        paged."""
        if not alerts:
            return view
        if self._runbooks is not None:
            view = dataclasses.replace(view, runbooks=await self._runbooks(alerts))
        if self._paged is not None:
            view = dataclasses.replace(view, paged=await self._paged([a.id for a in alerts]))
        return view

    def _with_notice(self, notice: Notice, tier: int | None = None) -> MessageView:
        v = self._view
        return MessageView(
            tier=notice.tier if tier is None else tier,
            escalation_policy=notice.escalation_policy,
            grafana_url=v.grafana_url,
            silence_button=v.silence_button,
            drill=notice.drill,
            template=v.template,
            route=notice.route,
        )

    async def _post_once(
        self,
        idempotency_key: str,
        attempt: int,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        key: str | None = None,
        notice: Notice | None = None,
    ) -> MessageRef:
        """Post unless this message (or thread reply) went out already (``PostOnce``); a top
        message found posted is brought up to date instead: an alert message (``notice``)
        from its alerts' state now, any other with what it was to say."""
        ref, found = await self._once.post(
            idempotency_key, attempt, channel, text, blocks, thread_ts=thread_ts, key=key
        )
        if found and thread_ts is None:
            if notice is not None:
                await self.refresh(str(ref), notice)
            else:
                await self._update(ref, text, blocks)
        return ref

    async def note_once(self, reference: str, text: str, key: str, attempt: int = 1) -> None:
        """A reply in the thread of the message at ``reference``, once per ``key`` across
        processes too (the path of ``note``, the message left as it is): the thread is looked
        in first for a reply carrying the key when ``attempt`` says an earlier one may have
        posted it."""
        parent = MessageRef.parse(reference)
        if parent is None:
            raise ChannelRejected(f"slack {self.name}: {reference!r} is not a message reference")
        text, blocks = thread_note(text)
        await self._post_once(
            key, attempt, parent.channel, text, blocks, thread_ts=parent.ts, key=f"{parent}#{key}"
        )

    async def attach_image(
        self,
        reference: str,
        image: bytes,
        *,
        filename: str,
        title: str,
        comment: str,
        attempt: int = 1,
    ) -> None:
        """``image`` (a graph) in the thread of the message at ``reference``, once per
        ``filename`` (looked for in the thread when ``attempt`` says an earlier one may have
        shared it)."""
        parent = MessageRef.parse(reference)
        if parent is None:
            raise ChannelRejected(f"slack {self.name}: {reference!r} is not a message reference")
        await share_image(
            self._client,
            self._pacer,
            f"slack {self.name}",
            channel=parent.channel,
            thread_ts=parent.ts,
            image=image,
            filename=filename,
            title=title,
            comment=comment,
            attempt=attempt,
        )

    # -- updating ---------------------------------------------------------------------------

    async def refresh(self, reference: str, notice: Notice | None = None) -> None:
        """Re-render the message at ``reference`` from its alerts' current state.

        Several jobs edit one message (a tier's notice, a page's direct message, an
        acknowledgement, a snooze, a runbook's note) and Slack applies their edits in the
        order they arrive, which need not be the order they were rendered in. So after its
        edit lands, an edit renders the message once more and, if the state changed since it
        read it (an edit rendered later may have landed first), edits again: whichever edit
        lands last then shows the newest state. Nothing changed, nothing more is sent."""
        ref = MessageRef.parse(reference)
        if ref is None:
            return
        sent: tuple[str, list[dict[str, Any]]] | None = None
        for _ in range(_EDITS):
            shown = await self._render(ref, notice)
            if shown is None or shown == sent:
                return
            await self._update(ref, *shown)
            sent = shown

    async def _render(
        self, ref: MessageRef, notice: Notice | None
    ) -> tuple[str, list[dict[str, Any]]] | None:
        """The message at ``ref`` as its alerts stand now (as ``notice`` carried them when
        the store knows none yet), at the highest tier it is known to have reached."""
        state = await self._state(str(ref)) if self._state is not None else None
        if state is not None and state.alerts:
            base = self._with_notice(notice) if notice is not None else self._view
            view = dataclasses.replace(
                base,
                tier=self._reached(ref, _highest(base.tier, state.tier)),
                escalation_policy=base.escalation_policy or state.escalation_policy,
            )
            return message(state.alerts, await self._offering(view, state.alerts))
        if notice is not None:
            alerts = [MessageAlert.from_notice(a) for a in notice.alerts]
            view = self._with_notice(notice, self._reached(ref, notice.tier))
            return message(alerts, await self._offering(view, alerts))
        return None

    def _reached(self, ref: MessageRef, tier: int | None) -> int | None:
        """The highest tier the message at ``ref`` has shown, ``tier`` included. A tier's
        notice is recorded only once its job is done, after its edit: an edit rendered from
        the store meanwhile (a page's direct message of the same tier) must not step the
        message back a tier."""
        key = str(ref)
        reached = _highest(tier, self._tiers.get(key))
        if reached is not None:
            self._tiers[key] = reached
            self._tiers.move_to_end(key)
            while len(self._tiers) > _REMEMBERED:
                self._tiers.popitem(last=False)
        return reached

    async def _update(self, ref: MessageRef, text: str, blocks: list[dict[str, Any]]) -> None:
        held = self._pacer.held(ref.channel)
        if held > 0:
            raise ChannelThrottled(f"slack {self.name}: {ref.channel} is rate limited", held)
        await slack_call(
            f"slack {self.name} chat.update",
            self._client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks),
            pacer=self._pacer,
            channel=ref.channel,
        )

    async def close(self) -> None:
        """The client's HTTP session belongs to the application."""


@contextlib.asynccontextmanager
async def _posted_already() -> AsyncIterator[None]:
    """Around what follows a post within one send: held back there, the send says that part
    of it went out, so that the job's next run looks for the post instead of posting again
    (in this process it is remembered; another replica, or this one restarted, must ask)."""
    try:
        yield
    except ChannelThrottled as exc:
        raise ChannelThrottled(str(exc), exc.retry_after, sent=True) from None


def _highest(a: int | None, b: int | None) -> int | None:
    return max(a, b) if a is not None and b is not None else (a if b is None else b)


def _parent(references: Sequence[str], channel: str) -> MessageRef | None:
    """The first message about these alerts in ``channel``, if any."""
    for reference in references:
        ref = MessageRef.parse(reference)
        if ref is not None and ref.channel == channel:
            return ref
    return None


def _firsts(references: Sequence[str], skip: str) -> list[MessageRef]:
    """The first message about these alerts in each Slack channel but ``skip``."""
    found: dict[str, MessageRef] = {}
    for reference in references:
        ref = MessageRef.parse(reference)
        if ref is not None and ref.channel != skip:
            found.setdefault(ref.channel, ref)
    return list(found.values())


def _thread_text(notice: Notice) -> str:
    if notice.message:  # a runbook's notify step
        where = f" ({notice.route})" if notice.route else ""
        return f":gear: {escape_within(notice.message, 2800)}{escape(where)}"
    if notice.kind is NoticeKind.RESOLVED:
        return f":white_check_mark: Resolved ({len(notice.alerts)} alert(s))."
    tier = (notice.tier or 0) + 1
    policy = escape(notice.escalation_policy or "policy")
    text = f":rotating_light: Escalated: {policy} tier {tier}"
    if notice.repeat:
        text += f", repeat {notice.repeat}"
    return text + "."
