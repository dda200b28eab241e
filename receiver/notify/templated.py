"""What a channel is given to render a message from a user's template (docs/templates.md).

A channel calls its ``MessageTemplate`` with the notice and its *sink* — what the text ends up
in, which decides how every value of the template is escaped: ``mrkdwn`` (Slack), ``card``
(Teams TextBlock markdown), ``html`` and ``text`` (e-mail). ``Rendered.text`` is None when the
channel has no template (the built-in layout is used) and also when the template failed; then
``problem`` says why, and the channel puts ``fallback_note(problem)`` in its default message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

from receiver.notify.base import Notice

__all__ = ["SINKS", "MessageTemplate", "Rendered", "Sink", "fallback_note"]

Sink = Literal["mrkdwn", "card", "html", "text"]
SINKS: Final[tuple[Sink, ...]] = ("mrkdwn", "card", "html", "text")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template's output for one sink, or why there is none."""

    text: str | None = None
    problem: str | None = None


class MessageTemplate(Protocol):
    """Renders a channel's (or the notice's route's) template for ``sink``."""

    def __call__(self, notice: Notice, sink: Sink) -> Rendered: ...


def fallback_note(problem: str) -> str:
    """The line a message carries when its template failed and the default layout is shown."""
    return f"The message template failed ({problem}); this is the default layout."
