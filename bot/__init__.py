"""Skald's core and the public API for plugin authors.

A plugin is a `Plugin` subclass whose handlers are marked with `@command` and take one
`Context`; options are a dataclass whose annotations declare types, bounds and choices.
"""

from bot.context import Context
from bot.ending import Ending
from bot.errors import UserError
from bot.invocation import ChannelRef, HistoryMessage, Invocation, User
from bot.options import AutocompleteRequest, NoOptions, Param, Range, UserId
from bot.plugin import Plugin, command
from bot.preferences import Pref
from bot.reply import Attachment
from engine import ChatMessage, GenerationParams

__all__ = [
    "Attachment",
    "AutocompleteRequest",
    "ChannelRef",
    "ChatMessage",
    "Context",
    "Ending",
    "GenerationParams",
    "HistoryMessage",
    "Invocation",
    "NoOptions",
    "Param",
    "Plugin",
    "Pref",
    "Range",
    "User",
    "UserError",
    "UserId",
    "command",
]
