"""The errors Firebreak raises on purpose.

Each one says what a user did wrong or what went wrong outside the process; the HTTP layer turns
them into status codes in one place (``web/middleware.py``) and the CLI into exit codes.
"""

from __future__ import annotations


class FirebreakError(Exception):
    """Base class of every error Firebreak raises deliberately."""


class ConfigError(FirebreakError):
    """The configuration is invalid; ``problems`` lists each finding as ``file: key.path: what``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class InvalidInput(FirebreakError):
    """A request carried a value that is malformed or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class MatcherError(InvalidInput):
    """A label matcher does not follow Alertmanager's matcher syntax."""


class UnsupportedMediaType(FirebreakError):
    """The request body is not of a content type the endpoint accepts."""


class PayloadTooLarge(FirebreakError):
    """The request body is larger than the configured limit."""


class Unauthenticated(FirebreakError):
    """No credentials, or credentials that match nothing configured."""


class Forbidden(FirebreakError):
    """The caller is known but its role does not allow the action."""


class NotFound(FirebreakError):
    """The thing asked for does not exist."""


class Conflict(FirebreakError):
    """The action does not fit the current state (e.g. acknowledging a resolved alert)."""


class HeldBack(Conflict):
    """A run by hand that the kill switch or storm control held back; the execution
    ``execution_id`` records it (``skipped``, with the reason)."""

    def __init__(self, message: str, execution_id: int) -> None:
        super().__init__(message)
        self.execution_id = execution_id


class RequestTimeout(FirebreakError):
    """The client did not send its whole request in time."""


class TooManyFailures(FirebreakError):
    """This client failed to authenticate too often; ``retry_after`` seconds until it may try."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(FirebreakError):
    """The database could not be reached or could not commit; the caller should retry."""
