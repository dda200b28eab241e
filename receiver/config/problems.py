"""What the stages of loading share about problems: where they are reported, and the marker of
a value that did not convert."""

from __future__ import annotations

from typing import Any, Protocol

INVALID: Any = object()  # a value that did not convert; its problem is already recorded


class Reporter(Protocol):
    """Collects problems, each at a key path (``routes[0].match``) of the document."""

    def problem(self, path: str, text: str) -> None: ...
