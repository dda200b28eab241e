"""The people directory (``people`` in firebreak.yml): one person behind an API token, a
console session and a Slack user, so that approvals, four eyes, the audit trail and the
actors of executions name the person, whichever interface they acted through.

An actor is spelled ``person:<id>`` when the credential is mapped to a person, else as
before: ``api:<token name>``, ``console:<token name>``, ``slack:<user id>``, ``cli:<user>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from receiver.config import ApiToken, PersonConfig, TeamConfig

PERSON = "person:"


def person_actor(person_id: str) -> str:
    return f"{PERSON}{person_id}"


class People:
    """Who is who: by Slack user id, and every spelling one person acts under."""

    def __init__(
        self,
        people: Sequence[PersonConfig] = (),
        tokens: Sequence[ApiToken] = (),
        teams: Sequence[TeamConfig] = (),
    ) -> None:
        self._by_id = {p.id: p for p in people}
        self._teams = {t.id: t for t in teams}
        self._by_slack = {p.slack_user_id: p.id for p in people if p.slack_user_id}
        self._aliases: dict[str, set[str]] = {
            p.id: {person_actor(p.id), p.id}
            | ({f"slack:{p.slack_user_id}"} if p.slack_user_id else set())
            for p in people
        }
        for token in tokens:
            if token.person in self._aliases and token.name:
                self._aliases[token.person] |= {f"api:{token.name}", f"console:{token.name}"}

    def get(self, person_id: str) -> PersonConfig | None:
        return self._by_id.get(person_id)

    @property
    def all(self) -> tuple[PersonConfig, ...]:
        return tuple(self._by_id.values())

    def by_slack(self, user_id: str) -> PersonConfig | None:
        """The person a Slack user id is mapped to."""
        person = self._by_slack.get(user_id)
        return self._by_id[person] if person else None

    def team(self, team_id: str) -> TeamConfig | None:
        return self._teams.get(team_id)

    @property
    def teams(self) -> tuple[TeamConfig, ...]:
        return tuple(self._teams.values())

    def members(self, team_id: str) -> tuple[PersonConfig, ...]:
        """The people of a team, in the order the team lists them (none for an unknown team)."""
        team = self._teams.get(team_id)
        if team is None:
            return ()
        return tuple(self._by_id[m] for m in team.members if m in self._by_id)

    def teams_of(self, person_id: str) -> tuple[TeamConfig, ...]:
        """The teams a person is a member of."""
        return tuple(t for t in self._teams.values() if person_id in t.members)

    def person_of(self, actor: str) -> PersonConfig | None:
        """The person an actor (``person:<id>``, ``slack:<user>``) is, when mapped to one."""
        actor = self.resolve(actor)
        if actor.startswith(PERSON):
            return self._by_id.get(actor[len(PERSON) :])
        return None

    def slack_actor(self, user_id: str) -> str:
        """How a Slack user acts: ``person:<id>`` when mapped, else ``slack:<user id>``."""
        person = self._by_slack.get(user_id)
        return person_actor(person) if person else f"slack:{user_id}"

    def resolve(self, actor: str) -> str:
        """An actor as its person, when its interface identity is mapped to one."""
        interface, _, name = actor.partition(":")
        if interface == "slack" and name in self._by_slack:
            return person_actor(self._by_slack[name])
        return actor

    def identities(self, actor: str) -> frozenset[str]:
        """Every spelling the actor is known by: itself, its bare name, and for a person
        each interface identity mapped to them (what a step's ``approvers`` may name)."""
        actor = self.resolve(actor)
        found = {actor, actor.split(":", 1)[-1]}
        if actor.startswith(PERSON):
            found |= self._aliases.get(actor[len(PERSON) :], set())
        return frozenset(found)

    def same_person(self, actor: str, other: str) -> bool:
        """Whether two actors are one person: the same person through any interface, or
        (unmapped) the same name through another interface (``api:alice``, ``cli:alice``)."""
        return bool(self.identities(actor) & self.identities(other))
