"""Exceptions whose message is meant for the user who typed the command."""

from __future__ import annotations

from bot.i18n import Message, _, choice


class UserError(Exception):
    """A short, friendly message for the user; never logged as an incident.

    The message is a catalog message (`UserError(_("..."))`), rendered in the reader's
    language, or a plain string shown as it is.
    """

    def __init__(self, message: Message, *, private: bool = True) -> None:
        super().__init__(str(message))
        self.message = message
        # Shown only to the user who typed the command where the platform can (ephemeral).
        self.private = private


class OptionError(UserError):
    """An option value that does not fit its declaration."""

    def __init__(self, option: str, message: Message) -> None:
        super().__init__(_("`{option}`: {problem}", option=option, problem=message))
        self.option = option


class DeclarationError(Exception):
    """A plugin declares something the framework cannot accept (raised at load time)."""


class OutputBlocked(UserError):
    """The reply reached a phrase the channel's rating does not allow; it was stopped there."""

    def __init__(self, rating: str) -> None:
        super().__init__(
            _(
                "The rest of this reply was withheld: it went beyond this channel's rating "
                "({rating}).",
                rating=choice(rating),
            ),
            private=False,
        )
