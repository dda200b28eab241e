"""Alert messages as Block Kit: what they show, and that nothing from an alert can break out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from receiver.notify.slack.blocks import (
    ACTION_RUNBOOK,
    MAX_ALERTS,
    MAX_RUNBOOK_BUTTONS,
    MessageAlert,
    MessageView,
    RunbookOffer,
    alert_ids_from_value,
    escape,
    ids_value,
    message,
    runbook_from_action,
)

STARTED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def make(
    id: int = 1, status: str = "firing", acknowledged_by: str | None = None, **labels: str
) -> MessageAlert:
    return MessageAlert(
        id=id,
        status=status,
        labels={"alertname": "DiskFull", "severity": "warning", "service": "db", **labels},
        annotations={"summary": "disk 91% full", "runbook_url": "https://rb.example/disk"},
        starts_at=STARTED,
        ends_at=None,
        generator_url="http://prometheus:9090/graph?g0.expr=up",
        acknowledged_by=acknowledged_by,
    )


def text_of(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_firing_message_shows_severity_summary_labels_links_and_buttons() -> None:
    view = MessageView(
        tier=0, escalation_policy="oncall", grafana_url="https://grafana.example/d/x"
    )
    text, blocks = message([make()], view)
    assert text == "[FIRING] DiskFull (warning)"
    shown = text_of(blocks)
    for part in (
        "disk 91% full",
        "`service=db`",
        "Started 2026-11-30T08:00:00Z",
        "<http://prometheus:9090/graph?g0.expr=up|Source>",
        "<https://rb.example/disk|Runbook>",
        "<https://grafana.example/d/x?var-alertname=DiskFull|Grafana>",
        "oncall tier 1",
    ):
        assert part in shown, part
    actions = blocks[-1]
    assert actions["type"] == "actions"
    assert [e["action_id"] for e in actions["elements"]] == ["firebreak_ack", "firebreak_resolve"]
    assert actions["elements"][0]["value"] == "1"


def test_states_change_the_headline_and_buttons() -> None:
    text, blocks = message([make(acknowledged_by="alice")], MessageView(silence_button=True))
    assert text.startswith("[ACKNOWLEDGED]")
    assert [e["text"]["text"] for e in blocks[-1]["elements"]] == ["Resolve", "Silence 1h"]
    text, blocks = message([make(status="resolved")], MessageView())
    assert text.startswith("[RESOLVED]")
    assert all(b["type"] != "actions" for b in blocks)


def test_alert_values_cannot_inject_markup_or_links() -> None:
    alert = MessageAlert(
        id=7,
        status="firing",
        labels={"alertname": "<!channel> & <http://evil|click>", "service": "a>b"},
        annotations={"summary": "*bold* <@U123>", "runbook_url": "javascript:alert(1)"},
        starts_at=STARTED,
        ends_at=None,
        generator_url="http://ok.example/a|b>c",
    )
    _, blocks = message([alert], MessageView())
    shown = text_of(blocks)
    assert "<!channel>" not in shown and "<@U123>" not in shown
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in shown
    assert "javascript:" not in shown  # not a link, and not shown as one
    # "|" and ">" never occur in a URL: a value holding them is refused, not linked.
    assert "<http://ok.example" not in shown
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_a_storm_is_capped_and_counted() -> None:
    alerts = [make(i, pod=f"p{i}") for i in range(1, 31)]
    text, blocks = message(alerts, MessageView())
    assert text == "[FIRING:30] DiskFull (warning)"
    assert sum(1 for b in blocks if "(id " in text_of([b])) == MAX_ALERTS
    assert "… and 20 more" in text_of(blocks)
    assert len(blocks) <= 50


def test_button_values_round_trip_and_stay_short() -> None:
    alerts = [make(i) for i in range(1, 1001)]
    value = ids_value(a.id for a in alerts)
    assert len(value) <= 2000
    ids = alert_ids_from_value(value)
    assert ids[:3] == [1, 2, 3] and len(ids) == value.count(",") + 1
    assert alert_ids_from_value("1,x") == []
    assert alert_ids_from_value("") == []


def test_one_run_button_per_runbook_offered_capped_and_the_rest_named() -> None:
    offers = (
        RunbookOffer("restart-web", (1,)),
        RunbookOffer("clear-cache", (), automatic=True),  # its automatic run comes first
        RunbookOffer("drain", (), execution_id=7, state="running"),  # runs now: no button
        *(RunbookOffer(f"extra-{i}", (1, 2)) for i in range(MAX_RUNBOOK_BUTTONS)),
    )
    _, blocks = message([make(1), make(2)], MessageView(runbooks=offers))
    actions = blocks[-1]["elements"]
    runs = [e for e in actions if e["action_id"].startswith(ACTION_RUNBOOK)]
    assert [e["text"]["text"] for e in runs] == [
        "Run restart-web",
        "Run extra-0 (2 alerts)",
        "Run extra-1 (2 alerts)",
    ]
    assert [runbook_from_action(e["action_id"]) for e in runs] == [
        "restart-web",
        "extra-0",
        "extra-1",
    ]
    assert [alert_ids_from_value(e["value"]) for e in runs] == [[1], [1, 2], [1, 2]]
    assert runs[0]["confirm"]["text"]["text"] == "Run restart-web for alert 1?"
    context = blocks[-2]["elements"][0]["text"]
    assert context.splitlines() == [
        ":gear: Runbook `clear-cache` starts by itself",
        ":gear: Runbook `drain`: execution 7 running",
        "Also written for these alerts: `extra-2` (`/firebreak run &lt;runbook&gt;`)",
    ]
    assert runbook_from_action("firebreak_ack") is None
    assert runbook_from_action(ACTION_RUNBOOK) is None


def test_a_resolved_message_offers_no_run_but_shows_the_last_one() -> None:
    offers = (RunbookOffer("restart-web", (), execution_id=3, state="succeeded"),)
    _, blocks = message([make(1, status="resolved")], MessageView(runbooks=offers))
    assert all(b["type"] != "actions" for b in blocks)
    assert ":gear: Runbook `restart-web`: execution 3 succeeded" in text_of(blocks)
