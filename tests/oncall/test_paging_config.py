"""Tier entries that page people: what check-config says of them, naming the key and what was
expected; and the chain frozen into an escalation keeps them as entries, not as people."""

from __future__ import annotations

import pytest

from receiver.chains import snapshot, thawed
from receiver.config import NotifyTarget
from tests.unit.config.common import parse, problems

BASE = """\
channels:
  chat: {type: webhook, webhook: {url: "https://chat.example.com/hook"}}
  mail: {type: email, email: {host: h, sender: f@example.com}}
people:
  - {id: alice, email: alice@example.com}
"""


def _with(tiers: str, paging: str = "paging: {email: mail}") -> str:
    return f"{BASE}{paging}\nescalation_policies:\n  p:\n    tiers: [{tiers}]\n"


def test_person_entry_parses() -> None:
    config = parse(_with("{notify: [{person: alice}, chat]}"))
    entries = config.escalation_policies["p"].tiers[0].notify
    assert entries == (NotifyTarget(person="alice"), NotifyTarget(channel="chat"))
    assert entries[0].people == ("person", "alice") and str(entries[0]) == "person:alice"
    assert config.paging.channels() == {"email": "mail"}


@pytest.mark.parametrize(
    ("tiers", "paging", "expected"),
    [
        (
            "{notify: [{person: zed}]}",
            "paging: {email: mail}",
            "f.yml:9:24: escalation_policies.p.tiers[0].notify[0].person: unknown person "
            '"zed"; defined: alice',
        ),
        (
            "{notify: [{schedule: payments}]}",
            "paging: {email: mail}",
            "f.yml:9:24: escalation_policies.p.tiers[0].notify[0].schedule: unknown schedule "
            '"payments"; defined: none',
        ),
        (
            "{notify: [{team: core}]}",
            "paging: {email: mail}",
            "f.yml:9:24: escalation_policies.p.tiers[0].notify[0].team: unknown team "
            '"core"; defined: none',
        ),
        (
            "{notify: [{person: alice, channel: chat}]}",
            "paging: {email: mail}",
            "f.yml:9:23: escalation_policies.p.tiers[0].notify[0]: expected exactly one of "
            "channel, person, schedule and team; found channel, person",
        ),
        (
            "{notify: [{person: alice, target: x@example.com}]}",
            "paging: {email: mail}",
            "f.yml:9:39: escalation_policies.p.tiers[0].notify[0].target: a target goes with "
            "a channel, not with person",
        ),
        (
            "{notify: [{person: alice}]}",
            "",
            "f.yml:7:1: escalation_policies: tiers page people, but paging names no channel "
            "to reach them through (paging.slack, paging.email, paging.pagerduty)",
        ),
        (
            "{notify: [chat]}",
            "paging: {email: chat}",
            'f.yml:6:10: paging.email: channel "chat" is of type webhook; expected a channel '
            "of type email",
        ),
        (
            "{notify: [chat]}",
            "paging: {slack: nowhere}",
            'f.yml:6:10: paging.slack: unknown channel "nowhere"; defined: chat, log, mail',
        ),
        (
            "{notify: [chat]}",
            "paging: {email: 3}",
            "f.yml:6:10: paging.email: expected a string, got a number",
        ),
    ],
)
def test_paging_problems(tiers: str, paging: str, expected: str) -> None:
    assert problems(_with(tiers, paging)) == [expected]


def test_chain_freezes_the_entry_not_who_it_reached() -> None:
    """A snapshot keeps ``schedule: payments`` as it is: who is on call is decided when the
    tier fires, and a chain frozen before people entries existed still thaws."""
    config = parse(_with("{notify: [{person: alice}, chat]}"))
    policy = config.escalation_policies["p"]
    chain = snapshot(policy)
    assert chain["tiers"][0]["notify"] == [{"person": "alice"}, ["chat", ""]]
    assert thawed(chain) == policy
    old = {"repeat": 0, "tiers": [{"after": 0.0, "notify": [["chat", "x"]]}]}
    assert thawed(old).tiers[0].notify == (NotifyTarget("chat", "x"),)


ONCALL = """\
people:
  - {id: alice, email: alice@example.com}
schedules:
  - {id: primary, handoff_notify: true, layers: [{members: [alice], start: "2026-01-05"}]}
teams:
  - {id: core, members: [alice], slack_user_group: S0CORE, schedules: [primary, nowhere]}
  - {id: ops, members: [alice], schedules: [primary]}
"""


def test_hand_off_problems() -> None:
    assert problems(ONCALL) == [
        'f.yml: teams[0].schedules[1]: unknown schedule "nowhere"; defined: primary',
        "f.yml: teams[1].schedules: follows schedules with no slack_user_group to follow them with",
    ]
