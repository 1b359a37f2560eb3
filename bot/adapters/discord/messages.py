"""One reply to one interaction, as Discord messages: the deferred response, then more.

The first message is the interaction's deferred response; longer replies continue in
follow-up messages. An interaction token lasts 15 minutes, so a reply still streaming near
that limit continues as a normal channel message, and so does one whose message Discord
will no longer let us edit (30046).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from bot.i18n import N_, SOURCE_LANGUAGE, translate
from bot.ratelimit import TokenBucket
from bot.reply import Attachment, Notice

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
# Interaction tokens last 15 minutes; stop using one a minute before, while edits still land.
TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 60
TOO_MANY_OLD_EDITS = 30046
MISSING_PERMISSIONS = 50013

Message = discord.Message | discord.WebhookMessage | discord.InteractionMessage
STOP, REGENERATE, CONTINUE = N_("Stop"), N_("Regenerate"), N_("Continue")


def controls(
    key: str, *, streaming: bool, can_continue: bool, language: str = SOURCE_LANGUAGE
) -> discord.ui.View:
    """Stop while a reply streams; Regenerate (and Continue where offered) once it is done.

    The labels are in the channel's language: everyone sees the buttons.
    """
    view = discord.ui.View(timeout=None)
    if streaming:
        view.add_item(
            discord.ui.Button(
                label=translate(language, STOP),
                style=discord.ButtonStyle.danger,
                custom_id=f"skald:stop:{key}",
            )
        )
    else:
        view.add_item(
            discord.ui.Button(
                label=translate(language, REGENERATE),
                style=discord.ButtonStyle.secondary,
                custom_id=f"skald:regenerate:{key}",
            )
        )
        if can_continue:
            view.add_item(
                discord.ui.Button(
                    label=translate(language, CONTINUE),
                    style=discord.ButtonStyle.primary,
                    custom_id=f"skald:continue:{key}",
                )
            )
    # The adapter answers these buttons itself (they must work after a restart too), so
    # the view never enters discord.py's view store, where it would stay forever.
    view.stop()
    return view


@dataclass(slots=True)
class Sent:
    """One logical message of a reply, and the Discord message that shows it now."""

    message: Message | None
    # True while it is the interaction's own response or a follow-up (token-bound).
    via_token: bool
    original: bool = False
    # Characters of the logical message shown by earlier Discord messages (after a move).
    offset: int = 0
    shown: str = ""


class InteractionReply:
    """A MessageTarget for one interaction: its response, follow-ups, then channel messages."""

    max_length = MESSAGE_LIMIT

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        *,
        key: str = "",
        can_continue: bool = False,
        thread: discord.abc.Messageable | None = None,
        clock: Callable[[], float] = time.monotonic,
        issued_at: float | None = None,
        language: str = SOURCE_LANGUAGE,
    ) -> None:
        self._interaction = interaction
        # The channel's language: the buttons' labels.
        self._language = language
        self._key = key
        self._can_continue = can_continue
        # Given: the reply's messages go into this thread (a running story's) instead.
        self._thread = thread
        self._clock = clock
        self._expires = (clock() if issued_at is None else issued_at) + (
            TOKEN_LIFETIME_S - TOKEN_MARGIN_S
        )
        # The deferred response ("Skald is thinking…") until it is used or removed.
        self._original_pending = True
        self._first: Sent | None = None
        self._live = True
        self.messages: list[Sent] = []

    # -- MessageTarget --

    def _token_valid(self) -> bool:
        return self._clock() < self._expires

    def _view(self, sent: Sent | None) -> discord.ui.View | None:
        if not self._key or (sent is not None and sent is not self._first):
            return None
        return controls(
            self._key,
            streaming=self._live,
            can_continue=self._can_continue,
            language=self._language,
        )

    async def post(self, text: str, *, streaming: bool) -> Sent:
        """The deferred response if unused, else a follow-up, else a channel message."""
        first = self._first is None
        view = self._view(None) if first else None
        sent = Sent(None, via_token=False)
        if self._thread is not None:
            sent.message = await self._thread.send(text, view=_or_missing(view))
        elif self._token_valid() and self._original_pending:
            # Taken before the edit goes out: a reply stopped while it is on its way must
            # not then delete the response as unused (it may already show this text).
            self._original_pending = False
            try:
                sent.message = await self._interaction.edit_original_response(
                    content=text, view=view
                )
            except Exception:
                self._original_pending = True  # refused: still the unused "thinking…"
                raise
            sent.via_token, sent.original = True, True
        elif self._token_valid():
            sent.message = await self._interaction.followup.send(
                text, view=_or_missing(view), wait=True
            )
            sent.via_token = True
        else:
            sent.message = await self._channel().send(text, view=_or_missing(view))
        sent.shown = text
        if first:
            self._first = sent
        self.messages.append(sent)
        return sent

    async def edit(self, handle: Sent, text: str, *, streaming: bool) -> None:
        """Edit in place; past the token's life or Discord's edit limit, continue in a new one."""
        if handle.via_token and not self._token_valid():
            await self._move(handle, text, "the interaction token is about to expire")
            return
        try:
            await self._edit_message(handle, text[handle.offset :].strip())
        except discord.HTTPException as exc:
            if exc.code != TOO_MANY_OLD_EDITS:
                raise
            await self._move(handle, text, "Discord refuses more edits to this message")
            return
        handle.shown = text

    async def _edit_message(self, handle: Sent, content: str) -> None:
        view = self._view(handle)
        if handle.original:
            await self._interaction.edit_original_response(content=content, view=view)
        elif handle.message is not None:
            await handle.message.edit(content=content, view=view)
        elif content:
            # Moved to the channel before any of its text was new: this is its first part.
            handle.message = await (self._thread or self._channel()).send(content)

    async def _move(self, handle: Sent, text: str, why: str) -> None:
        """Keep what the old message shows; the rest of the text goes in a channel message."""
        log.info("discord: reply continues in a channel message (%s)", why)
        if handle.via_token and handle is self._first and self._key:
            # Its Stop button would outlive the token: show it finished where we still can.
            with contextlib.suppress(discord.HTTPException):
                await self._edit_message(handle, handle.shown[handle.offset :].strip())
        rest = text[len(handle.shown) :].strip()
        handle.offset = len(handle.shown)
        handle.via_token, handle.original = False, False
        handle.message = None
        if rest:
            handle.message = await (self._thread or self._channel()).send(rest)
        handle.shown = text

    async def delete(self, handle: Sent) -> None:
        """Remove a message of this reply."""
        if handle.original:
            await self._interaction.delete_original_response()
        elif handle.message is not None:
            await handle.message.delete()
        if handle is self._first and len(self.messages) == 1:
            # The reply's only message went (replaced after failed edits): the next one
            # takes its place, with the buttons.
            self._first = None
            self.messages.clear()

    async def notice(self, notice: Notice) -> None:
        """An ephemeral follow-up only the user sees (public where it is not private)."""
        await self.drop_pending()
        if self._token_valid():
            await self._interaction.followup.send(notice.text, ephemeral=notice.private)
        elif not notice.private:
            await self._channel().send(notice.text)
        else:
            log.info("discord: a private notice came after the interaction token expired")

    async def attach(self, attachment: Attachment) -> None:
        """An ephemeral follow-up with the file, for the user who asked."""
        await self.drop_pending()
        if not self._token_valid():
            log.info("discord: a file came after the interaction token expired")
            return
        file = discord.File(io.BytesIO(attachment.content), filename=attachment.filename)
        await self._interaction.followup.send(file=file, ephemeral=True)

    # -- around the stream --

    async def drop_pending(self) -> None:
        """Remove the unused "thinking…" response (so the next follow-up is not merged into it)."""
        if self._original_pending and self._token_valid():
            self._original_pending = False
            with contextlib.suppress(discord.NotFound):
                await self._interaction.delete_original_response()

    async def finish(self, bucket: TokenBucket) -> None:
        """The reply is over: swap Stop for Regenerate/Continue; drop an unused response."""
        self._live = False
        await self.drop_pending()
        first = self._first
        if first is None or not self._key or first.message is None:
            return
        if first.via_token and not self._token_valid():
            return
        await bucket.take()
        await self._edit_message(first, first.shown[first.offset :].strip())

    def _channel(self) -> discord.abc.Messageable:
        channel = self._interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            return channel
        client: discord.Client = self._interaction.client
        return client.get_partial_messageable(self._interaction.channel_id or 0)


def _or_missing(view: discord.ui.View | None) -> Any:
    """discord.py's send() takes no view as MISSING, not None."""
    return view if view is not None else discord.utils.MISSING
