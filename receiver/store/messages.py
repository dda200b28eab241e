"""Queries over the notifications record that find the messages sent about alerts, so that a
channel can thread onto and update a message it posted before (Slack's channel and ts)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.store.tables import notifications


async def message_references(
    conn: AsyncConnection, alert_ids: Sequence[int], channels: Sequence[str]
) -> list[str]:
    """The references of messages ``channels`` sent about any of ``alert_ids``, first sent
    first."""
    if not alert_ids:
        return []
    rows = await conn.execute(
        select(notifications.c.reference, func.min(notifications.c.id).label("first"))
        .where(
            notifications.c.alert_id.in_(list(alert_ids)),
            notifications.c.channel.in_(list(channels)),
            notifications.c.reference.is_not(None),
        )
        .group_by(notifications.c.reference)
        .order_by("first")
    )
    return [row.reference for row in rows]


async def message_alerts(
    conn: AsyncConnection, channels: Sequence[str], reference: str
) -> tuple[list[int], int | None]:
    """The alerts a message of one of ``channels`` is about, and the highest tier they reached
    on any of those channels."""
    rows = await conn.execute(
        select(notifications.c.alert_id).where(
            notifications.c.channel.in_(list(channels)),
            notifications.c.reference == reference,
        )
    )
    ids = sorted({row.alert_id for row in rows})
    if not ids:
        return [], None
    tier = (
        await conn.execute(
            select(func.max(notifications.c.tier)).where(
                notifications.c.alert_id.in_(ids), notifications.c.channel.in_(list(channels))
            )
        )
    ).scalar()
    return ids, tier


async def messages_about(
    conn: AsyncConnection, alert_ids: Sequence[int], channels: Sequence[str]
) -> list[tuple[str, str]]:
    """Every (channel, reference) of messages ``channels`` sent about ``alert_ids``."""
    if not alert_ids or not channels:
        return []
    rows = await conn.execute(
        select(notifications.c.channel, notifications.c.reference)
        .where(
            notifications.c.alert_id.in_(list(alert_ids)),
            notifications.c.channel.in_(list(channels)),
            notifications.c.reference.is_not(None),
        )
        .distinct()
        .order_by(notifications.c.channel, notifications.c.reference)
    )
    return [(row.channel, row.reference) for row in rows]


async def alert_under_reference(
    conn: AsyncConnection, channels: Sequence[str], reference: str
) -> int | None:
    """The alert a message of one of ``channels`` recorded as ``reference`` was first sent
    about, if any (a PagerDuty dedup_key names one alert). Another channel's message under the
    same reference does not count: a reference is only unique within the channels that made
    it."""
    if not channels:
        return None
    found: int | None = (
        await conn.execute(
            select(notifications.c.alert_id)
            .where(
                notifications.c.channel.in_(list(channels)),
                notifications.c.reference == reference,
            )
            .order_by(notifications.c.id)
            .limit(1)
        )
    ).scalar()
    return found
