"""Exceptions whose message is meant for the user who typed the command."""

from __future__ import annotations


class UserError(Exception):
    """A short, friendly message for the user; never logged as an incident."""

    def __init__(self, message: str, *, private: bool = True) -> None:
        super().__init__(message)
        self.message = message
        # Shown only to the user who typed the command where the platform can (ephemeral).
        self.private = private


class OptionError(UserError):
    """An option value that does not fit its declaration."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"`{option}`: {message}")
        self.option = option


class DeclarationError(Exception):
    """A plugin declares something the framework cannot accept (raised at load time)."""


class OutputBlocked(UserError):
    """The reply reached a phrase the channel's rating does not allow; it was stopped there."""

    def __init__(self, rating: str) -> None:
        super().__init__(
            f"The rest of this reply was withheld: it went beyond this channel's rating "
            f"({rating}).",
            private=False,
        )
