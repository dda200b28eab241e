"""``/firebreak page <schedule|person|team> <message>``: a page raised by hand from Slack, as
the API and the console raise one. A mention (``@alice``) is read as the person whose
``slack_user_id`` it is; Slack's ``trigger_id`` names the request, so the same request sent
again raises one page."""

from __future__ import annotations

from collections.abc import Callable

from receiver.errors import InvalidInput, NotFound
from receiver.manual_pages import ManualPages
from receiver.notify.slack.mrkdwn import escape
from receiver.people import People
from receiver.slack.oncall import mentioned_user
from receiver.slack.parse import PageArgs
from receiver.slack.replies import Reply, describe, mention
from receiver.slack.roles import SlackUser

__all__ = ["PageCommands"]


class PageCommands:
    """The page subcommand over the manual pages service (None: not available here)."""

    def __init__(self, pages: ManualPages | None, people: Callable[[], People]) -> None:
        self._pages = pages
        self._people = people

    async def page(self, user: SlackUser, args: PageArgs) -> Reply:
        if self._pages is None:
            raise NotFound("paging by hand is not available here")
        # Slack's trigger_id is one per command typed: the same request again is the same page.
        request = f"slack:{user.id}:{args.request}" if args.request else ""
        page = self._pages.from_message(self.target(args.target), args.message, request=request)
        alert, created = await self._pages.raise_page(page, user.actor)
        if not created:
            return Reply(f"That page was raised already: {describe(alert)}.")
        whom = escape(str(page.target))
        return Reply(f"{mention(user)} paged {whom} about {describe(alert)}.", public=True)

    def target(self, written: str) -> str:
        """A page's target as typed, a mention of a person's Slack user (``@alice``) read as
        that person."""
        user = mentioned_user(written)
        if user is None:
            return written
        person = self._people().by_slack(user)
        if person is None:
            raise InvalidInput(
                "target", "that Slack user is not in people (by slack_user_id); name a person id"
            )
        return f"person:{person.id}"
