"""What escalation reads of alerts (their states, whole alerts) is what was stored: times as
aware UTC to the microsecond, labels as sent, every later change; and stored JSON reads back
as the standard library wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from receiver.alertmanager import parse_webhook
from receiver.model import Actor, AlertStatus
from receiver.store import Store
from receiver.store.ingest import ReceivedWebhook
from receiver.store.rows import ALERT_COLUMNS, alert_from_row
from receiver.store.store import AlertState
from receiver.store.tables import alerts, jobs
from tests.payloads import alert, fingerprint_of, webhook

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def received(payload: dict[str, Any], request_id: str, at: datetime = NOW) -> ReceivedWebhook:
    return ReceivedWebhook(parse_webhook(payload), request_id, at)


async def states(store: Store, ids: list[int]) -> dict[int, AlertState]:
    async with store.connection() as conn:
        return await store.alert_states(conn, ids, with_labels=True)


async def test_new_alerts_read_as_stored(store: Store) -> None:
    batch = [
        received(
            webhook(
                # An offset and nanoseconds: stored (and read) as UTC to the microsecond.
                alert("A", starts_at="2026-11-23T10:00:00.987654321+02:00"),
                alert("B", labels={"team": "<b>ops</b>"}),
            ),
            "r1",
            NOW - timedelta(seconds=1),
        ),
        # B again in the same batch, resolved: its end and the later arrival are what is kept.
        received(webhook(alert("B", labels={"team": "<b>ops</b>"}, status="resolved")), "r2"),
        received(webhook(alert("C", starts_at="2026-11-23T08:00:00Z")), "r3"),
    ]
    outcome = await store.ingest(batch, NOW)
    ids = list(outcome.new_alert_ids)
    read = await states(store, ids)
    assert list(read) == sorted(ids)
    by_name = {s.labels["alertname"]: s for s in read.values()}
    assert by_name["A"].starts_at == datetime(2026, 11, 23, 8, 0, 0, 987654, tzinfo=UTC)
    assert by_name["A"].starts_at.utcoffset() == timedelta(0)
    assert by_name["A"].status is AlertStatus.FIRING and by_name["A"].ends_at is None
    assert by_name["A"].first_seen_at == NOW - timedelta(seconds=1)
    assert by_name["B"].status is AlertStatus.RESOLVED
    assert by_name["B"].ends_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert by_name["B"].labels["team"] == "<b>ops</b>"
    assert by_name["C"].first_seen_at == NOW
    assert by_name["C"].group_key == batch[2].notification.group_key
    async with store.connection() as conn:
        whole = {a.id: a for a in await store.alerts_by_ids(conn, ids)}
    for alert_id, state in read.items():
        found = whole[alert_id]
        assert (found.status, found.starts_at, found.ends_at, found.first_seen_at) == (
            state.status,
            state.starts_at,
            state.ends_at,
            state.first_seen_at,
        )
        assert (found.labels, found.group_key) == (state.labels, state.group_key)
        assert found.fingerprint == fingerprint_of(dict(found.labels))
        assert found.annotations["summary"] == f"{found.labels['alertname']} on checkout"
        assert found.last_seen_at == state.first_seen_at and found.extra == {}


async def test_what_changed_after_arrival_is_read(store: Store) -> None:
    await store.ingest(
        [received(webhook(alert("A"), alert("B"), alert("C"), alert("D")), "r1")], NOW
    )
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(alerts.c.alertname, alerts.c.id))
        ids = {name: alert_id for name, alert_id in rows}
    a, b, c, d = (ids[name] for name in "ABCD")
    person = Actor("alice", "api")
    await store.acknowledge(a, person, None, "r2", NOW)
    await store.snooze(b, NOW + timedelta(hours=1), person, None, "r3", NOW)
    await store.ingest([received(webhook(alert("C", status="resolved")), "r4")], NOW)
    async with store.engine.begin() as conn:
        await conn.execute(delete(alerts).where(alerts.c.id == d))
    read = await states(store, [a, b, c, d])
    assert sorted(read) == sorted([a, b, c])
    assert read[a].acknowledged_at == NOW
    assert read[b].snoozed_until == NOW + timedelta(hours=1)
    assert read[c].status is AlertStatus.RESOLVED
    assert read[c].ends_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    async with store.connection() as conn:
        whole = {x.id: x for x in await store.alerts_by_ids(conn, [a, b, c, d])}
    assert sorted(whole) == sorted([a, b, c])
    assert (whole[a].acknowledged_at, whole[a].acknowledged_by) == (NOW, "alice")
    assert whole[b].snoozed_until == NOW + timedelta(hours=1)
    assert (whole[c].status, whole[c].ends_at) == (read[c].status, read[c].ends_at)


async def test_stored_json_the_fast_reader_refuses_reads_as_written(store: Store) -> None:
    """Payloads written by the standard library (an integer past 64 bits, NaN) read back."""
    payload: dict[str, Any] = {
        "big": 2**70,
        "text": "caf\u00e9",
        "list": [1, 2.5, -(2**65), -(2**63) - 5, 2**64 - 1],
    }
    if store.dialect == "sqlite":  # PostgreSQL's jsonb has no NaN
        payload["nan"] = float("nan")
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(jobs).values(
                kind="probe",
                payload=payload,
                state="done",
                due_at=NOW,
                idempotency_key="probe",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with store.connection() as conn:
        (read,) = (await conn.execute(select(jobs.c.payload))).scalars()
    assert read["big"] == 2**70 and type(read["big"]) is int
    assert read["list"] == [1, 2.5, -(2**65), -(2**63) - 5, 2**64 - 1]
    assert [type(n) for n in read["list"]] == [int, float, int, int, int]
    assert read["text"] == "caf\u00e9"
    if store.dialect == "sqlite":
        assert read["nan"] != read["nan"]


async def test_reads_by_id_are_what_the_column_types_read(store: Store) -> None:
    """Escalation's reads by id (on SQLite the driver's own SQL, its values converted by hand)
    give what SQLAlchemy's column types make of the same rows: times, JSON (the largest 64-bit
    integer, non-ASCII text), an alert without extras, state changes, ids past one IN list."""
    grafana = {
        **alert("G", labels={"team": "caf\u00e9 \U0001f525"}),
        "values": {"A": 2**64 - 1, "B": 1.5},
        "valueString": "[ var='A' value=1 ]",
    }
    many = [alert(f"M{i}") for i in range(520)]
    outcome = await store.ingest([received(webhook(grafana, alert("A"), *many), "r1")], NOW)
    ids = list(outcome.new_alert_ids)
    person = Actor("alice", "api")
    await store.acknowledge(ids[1], person, None, "r2", NOW + timedelta(seconds=1))
    await store.snooze(ids[2], NOW + timedelta(hours=1), person, None, "r3", NOW)
    await store.resolve(ids[3], person, None, "r4", NOW + timedelta(seconds=2))
    async with store.connection() as conn:
        rows = await conn.execute(select(*ALERT_COLUMNS).where(alerts.c.id.in_(ids)))
        expected = {a.id: a for a in map(alert_from_row, rows)}
        whole = await store.alerts_by_ids(conn, [*reversed(ids), -1])
        with_labels = await store.alert_states(conn, ids, with_labels=True)
        bare = await store.alert_states(conn, ids)
    assert len(expected) == 522
    assert {a.id: a for a in whole} == expected
    (g,) = (a for a in expected.values() if a.labels["alertname"] == "G")
    assert g.extra == {"values": {"A": 2**64 - 1, "B": 1.5}, "valueString": "[ var='A' value=1 ]"}
    assert g.labels["team"] == "caf\u00e9 \U0001f525"
    assert list(with_labels) == list(bare) == sorted(ids)
    for alert_id, state in with_labels.items():
        found = expected[alert_id]
        assert state == AlertState(
            found.id,
            found.status,
            found.acknowledged_at,
            found.snoozed_until,
            found.group_key,
            found.starts_at,
            found.ends_at,
            found.labels,
            found.first_seen_at,
        )
        assert bare[alert_id] == AlertState(
            found.id,
            found.status,
            found.acknowledged_at,
            found.snoozed_until,
            found.group_key,
            found.starts_at,
            found.ends_at,
            {},
            found.first_seen_at,
        )
    assert with_labels[ids[1]].acknowledged_at == NOW + timedelta(seconds=1)
    assert with_labels[ids[3]].status is AlertStatus.RESOLVED


async def test_alerts_read_by_id_come_back_once_each(store: Store) -> None:
    """Ids go in an IN list of a power of two in number (three as four, the last repeated):
    every alert asked for comes back once, and none other."""
    batch = [received(webhook(alert(name)), f"r-{name}") for name in "ABCDE"]
    outcome = await store.ingest(batch, NOW)
    ids = sorted(outcome.new_alert_ids)
    assert sorted(await states(store, ids[:3])) == ids[:3]
    async with store.connection() as conn:
        read = await store.alerts_by_ids(conn, ids[1:4])
    assert sorted(a.id for a in read) == ids[1:4]


async def test_reads_for_the_runner_turn_decode_after_the_unit_as_the_eager_reads(
    store: Store,
) -> None:
    """The job runner's turn reads its jobs' alerts in its unit of work (on SQLite the writer's
    thread) and its handlers look them up afterwards: what they find then, once the unit has
    committed and the alerts changed again, is what the unit read, as the eager reads give it."""
    outcome = await store.ingest(
        [received(webhook(alert("A", labels={"team": "caf\u00e9"}), alert("B")), "r1")], NOW
    )
    ids = list(outcome.new_alert_ids)
    async with store.connection() as conn:
        a, b = (
            x.id
            for x in sorted(
                await store.alerts_by_ids(conn, ids), key=lambda x: x.labels["alertname"]
            )
        )
    await store.acknowledge(a, Actor("alice", "api"), None, "r2", NOW + timedelta(seconds=1))

    def read(conn: Any) -> tuple[Any, ...]:
        return (
            store.alerts_read_in(conn, [*ids, -1]),
            store.alert_states_read_in(conn, ids, with_labels=True),
            store.alerts_by_ids_in(conn, ids),
            store.alert_states_in(conn, ids, with_labels=True),
        )

    whole, states_read, eager_whole, eager_states = await store.unit(read)
    await store.resolve(b, Actor("bob", "api"), None, "r3", NOW + timedelta(seconds=2))
    assert sorted(whole) == sorted(ids) and -1 not in whole and len(whole) == 2
    assert {i: whole[i] for i in whole} == {a.id: a for a in eager_whole}
    assert list(states_read) == list(eager_states) == sorted(ids)
    assert {i: states_read[i] for i in ids} == eager_states
    assert whole[a].acknowledged_at == NOW + timedelta(seconds=1)
    assert whole[a].labels["team"] == "caf\u00e9"
    assert whole[b].status is AlertStatus.FIRING  # as read, not as resolved since
    assert whole[a] is whole[a]  # decoded once
