"""Channel history for /summarize through discord.py's `channel.history`."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import UserError
from bot.i18n import N_, _
from bot.invocation import HistoryMessage

log = logging.getLogger(__name__)

NO_INTENT = N_(
    "I can't read message text here: the bot needs the Message Content intent. A server "
    "admin or the bot's owner can switch it on in the Discord Developer Portal "
    "(Bot > Privileged Gateway Intents), then restart me."
)
NO_ACCESS = N_(
    "I can't read this channel's history: I need the View Channel and Read Message "
    "History permissions here."
)


class DiscordHistory:
    """The recent messages of one channel or thread, oldest first."""

    def __init__(self, channel: Any, *, message_content: bool) -> None:
        self._channel = channel
        # Whether the gateway connection has the privileged Message Content intent.
        self._message_content = message_content

    async def recent(self, limit: int) -> list[HistoryMessage]:
        """Up to `limit` of the latest messages with text (discord.py pages the requests)."""
        if not self._message_content:
            log.warning(
                "discord: /summarize needs the Message Content intent, which this bot "
                "does not have (enable it in the Developer Portal, Bot page)"
            )
            raise UserError(_(NO_INTENT))
        if not hasattr(self._channel, "history"):
            raise UserError(_("I can't read the history of this kind of channel."))
        messages: list[HistoryMessage] = []
        try:
            async for message in self._channel.history(limit=limit):
                if message.type not in (discord.MessageType.default, discord.MessageType.reply):
                    continue
                text = message.content.strip()
                if text:
                    name = message.author.display_name
                    messages.append(HistoryMessage(name, text, message.created_at))
        except discord.Forbidden:
            raise UserError(_(NO_ACCESS)) from None
        except discord.HTTPException as exc:
            raise UserError(
                _(
                    "Discord would not give me this channel's messages ({status}).",
                    status=exc.status,
                )
            ) from None
        messages.reverse()
        return messages
