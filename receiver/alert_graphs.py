"""Graphs of alerts where people see them (docs/graphs.md): in the thread of the first Slack
message about alerts from a Prometheus rule, and inline in their e-mail.

Slack: the first message about alerts gets, in its thread, the graph of the rule's expression
over the last hour with the alert's start marked.

A firing notice that starts a Slack message enqueues one ``graph`` job per expression among its
alerts (at most ``_GRAPHS_PER_MESSAGE``), keyed by the message and the expression, so each
message gets each graph once. The job draws the graph from the configured Prometheus
(``receiver.graphs``) and shares it in the thread; when there is nothing to draw (Prometheus
out of reach, too slow, the expression refused) it says so in the thread instead, once, and is
done: a graph an hour late shows a different hour. Slack's own trouble is retried like a
notice's: throttled waits, a failure is retried, a refusal is dead-lettered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta

from receiver.delivery import Sent
from receiver.graphs import Grapher, GraphUnavailable, NoGraph, expression_of
from receiver.graphs.render import plain
from receiver.job_handlers import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.model import Alert, NewJob
from receiver.notify.base import ChannelError, ChannelRejected, ChannelThrottled, NoticeAlert
from receiver.notify.email import GraphLookup, InlineGraph
from receiver.notify.slack import SlackChannel
from receiver.notify.slack.mrkdwn import escape_within
from receiver.reactions import alert_ids
from receiver.store import Store

# A message about a group of alerts from many rules shows the first few rules' graphs.
_GRAPHS_PER_MESSAGE = 3
_COMMENT_EXPRESSION_CHARS = 300
_NOT_IN_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SlackGraphs:
    """Enqueues and runs ``graph`` jobs for the Slack channels of one configuration."""

    def __init__(self, grapher: Grapher, store: Store, channels: Mapping[str, SlackChannel]):
        self._grapher = grapher
        self._store = store
        self._channels = channels

    def handlers(self) -> dict[str, Handler]:
        return {"graph": self.graph}

    def after_sent(self, sent: Sent) -> list[NewJob]:
        """A graph job per expression of a new Slack message's alerts."""
        if sent.channel not in self._channels or not sent.new_message:
            return []
        by_expression: dict[str, list[int]] = {}
        for alert in sorted(sent.alerts, key=lambda a: a.id):
            expression = expression_of(alert.generator_url)
            if expression is not None:
                by_expression.setdefault(expression, []).append(alert.id)
        return [
            NewJob(
                kind="graph",
                payload={"alert_ids": ids, "channel": sent.channel, "reference": sent.reference},
                due_at=sent.now,
                idempotency_key=f"graph:{sent.channel}:{sent.reference}:{_digest(expression)}",
            )
            for expression, ids in list(by_expression.items())[:_GRAPHS_PER_MESSAGE]
        ]

    async def graph(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        channel = self._channels.get(p["channel"])
        if channel is None:
            return Done("channel_gone")  # a reload took the channel away
        async with self._store.connection() as conn:
            alerts = await self._store.alerts_by_ids(conn, alert_ids(ctx.jobs))
        if not alerts:
            return Done("alerts_gone")
        first = min(alerts, key=lambda a: (a.starts_at, a.id))
        key = _digest(ctx.job.idempotency_key)
        # Slack's thread is read first (a rate-limited read) only where an earlier run may have
        # shared it: one failed, was taken over, or ended in doubt; not one merely deferred.
        again = ctx.earlier_attempts()
        try:
            graph = await self._grapher.graph(
                first.generator_url, labels=first.labels, starts_at=first.starts_at, now=ctx.now
            )
        except NoGraph as exc:
            # Said instead of drawn, once per message and expression.
            said = channel.note_once(
                p["reference"], _no_graph(exc), key=f"graph-note:{key}", attempt=again
            )
            return await _sent(ctx, said, "no_graph")
        shared = channel.attach_image(
            p["reference"],
            graph.png,
            filename=f"{_filename(first)}-{key}.png",
            title=f"{first.labels.get('alertname', 'alert')}: the last hour",
            comment=_comment(graph.expression, len(alerts)),
            attempt=again,
        )
        return await _sent(ctx, shared, "graphed")


async def _sent(ctx: JobContext, call: Awaitable[None], outcome: str) -> Outcome:
    """``call`` to Slack, its trouble as the job's outcome: throttled waits, a failure is
    retried, a refusal dead-lettered."""
    channel = ctx.job.payload["channel"]
    # Until Slack answers, the post may happen without this run knowing: cut off here, or its
    # answer lost, the job is left in doubt and the next run looks in the thread first.
    ctx.in_doubt = True
    try:
        await call
    except ChannelThrottled as exc:
        ctx.in_doubt = exc.sent  # held back (paced, or 429) before anything was posted
        return Defer(until=ctx.now + timedelta(seconds=exc.retry_after or 1.0), reason=str(exc))
    except ChannelRejected as exc:
        return DeadLetter(f"{channel} refused the graph: {exc}")
    except ChannelError as exc:
        return Retry(f"{channel}: {exc}")
    return Done(outcome)


def email_graphs(grapher: Grapher) -> GraphLookup:
    """What an e-mail shows inline: the graph of each expression among its alerts (at most
    ``_GRAPHS_PER_MESSAGE``), or why there is none."""

    async def lookup(alerts: Sequence[NoticeAlert], now: datetime) -> list[InlineGraph]:
        firsts: dict[str, NoticeAlert] = {}
        for alert in alerts:
            expression = expression_of(alert.generator_url)
            if expression is not None:
                firsts.setdefault(expression, alert)
        found = []
        for expression, alert in list(firsts.items())[:_GRAPHS_PER_MESSAGE]:
            shown = plain(expression, _COMMENT_EXPRESSION_CHARS)
            try:
                graph = await grapher.graph(
                    alert.generator_url, labels=alert.labels, starts_at=alert.starts_at, now=now
                )
            except NoGraph as exc:
                found.append(InlineGraph(f"No graph of {shown}: {exc}."))
            else:
                caption = f"The last hour of {shown}; the dashed line is when it started."
                found.append(InlineGraph(caption, graph.png))
        return found

    return lookup


def _filename(alert: Alert) -> str:
    """The alert's name as a file name: letters, digits, ``_.-`` only."""
    name = _NOT_IN_FILENAME.sub("-", alert.labels.get("alertname", "alert")).strip("-.")
    return (name or "alert")[:60] + "-graph"


def _comment(expression: str, alerts: int) -> str:
    shown = escape_within(expression, _COMMENT_EXPRESSION_CHARS)
    of = f" ({alerts} alerts)" if alerts > 1 else ""
    return (
        f":chart_with_upwards_trend: The last hour of `{shown}`{of}; "
        "the dashed line is when it started."
    )


def _no_graph(problem: NoGraph) -> str:
    reason = escape_within(str(problem), 400)
    if isinstance(problem, GraphUnavailable):
        return f":warning: No graph: {reason}."
    return f":grey_question: No graph: {reason}."
