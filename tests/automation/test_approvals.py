"""Who may approve: responders and admins, narrowed by a step's approvers, compared as people
(one person through Slack and an API token is one approver)."""

from __future__ import annotations

from receiver.automation.approvals import may_approve
from receiver.config import ApiToken, PersonConfig
from receiver.model import Role
from receiver.people import People

PEOPLE = People(
    [PersonConfig(id="alice", slack_user_id="U0ALICE"), PersonConfig(id="dan")],
    [ApiToken(token="t" * 20, role=Role.ADMIN, name="alice-laptop", person="alice")],
)


def who(actor: str) -> frozenset[str]:
    return PEOPLE.identities(actor)


def test_viewers_never_approve() -> None:
    assert not may_approve(who("api:carol"), Role.VIEWER, [])
    assert not may_approve(who("api:carol"), Role.VIEWER, ["carol"])


def test_without_approvers_any_responder_may() -> None:
    assert may_approve(who("slack:U123"), Role.RESPONDER, [])


def test_approvers_name_people_actors_and_roles() -> None:
    approvers = ["bob", "slack:U999", "role:admin"]
    assert may_approve(who("api:bob"), Role.RESPONDER, approvers)
    assert may_approve(who("slack:U999"), Role.RESPONDER, approvers)
    assert may_approve(who("cli:root"), Role.ADMIN, approvers)
    assert not may_approve(who("slack:U123"), Role.RESPONDER, approvers)
    assert not may_approve(who("api:dave"), Role.RESPONDER, ["role:nobody"])


def test_a_person_is_named_by_any_of_their_identities() -> None:
    # Alice approves from the API; the step names her Slack user, or her person id.
    assert may_approve(who("person:alice"), Role.RESPONDER, ["slack:U0ALICE"])
    assert may_approve(who("person:alice"), Role.RESPONDER, ["alice"])
    assert may_approve(who("slack:U0ALICE"), Role.RESPONDER, ["api:alice-laptop"])
    assert not may_approve(who("person:dan"), Role.RESPONDER, ["slack:U0ALICE"])


def test_one_person_through_two_interfaces_is_one_person() -> None:
    assert PEOPLE.resolve("slack:U0ALICE") == "person:alice"
    assert PEOPLE.resolve("slack:U0OTHER") == "slack:U0OTHER"
    assert PEOPLE.same_person("slack:U0ALICE", "person:alice")
    assert PEOPLE.same_person("person:alice", "api:alice-laptop")
    assert not PEOPLE.same_person("person:alice", "person:dan")
    assert not PEOPLE.same_person("slack:U0OTHER", "person:alice")
    # Unmapped identities keep comparing by name across interfaces, as before.
    assert PEOPLE.same_person("api:erin", "cli:erin")
