"""Who may approve: responders and admins, narrowed by a step's approvers."""

from __future__ import annotations

from receiver.automation.approvals import may_approve
from receiver.model import Role


def test_viewers_never_approve() -> None:
    assert not may_approve("api:carol", Role.VIEWER, [])
    assert not may_approve("api:carol", Role.VIEWER, ["carol"])


def test_without_approvers_any_responder_may() -> None:
    assert may_approve("slack:U123", Role.RESPONDER, [])


def test_approvers_name_people_actors_and_roles() -> None:
    approvers = ["bob", "slack:U999", "role:admin"]
    assert may_approve("api:bob", Role.RESPONDER, approvers)
    assert may_approve("slack:U999", Role.RESPONDER, approvers)
    assert may_approve("cli:root", Role.ADMIN, approvers)
    assert not may_approve("slack:U123", Role.RESPONDER, approvers)
    assert not may_approve("api:dave", Role.RESPONDER, ["role:nobody"])
