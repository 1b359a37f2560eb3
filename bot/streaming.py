"""Streaming a reply into platform messages: one message edited as text arrives.

Every adapter that edits messages (Discord, Slack) drives a `MessageStreamer` with its own
`MessageTarget`. Edits are throttled by a token bucket the adapter shares across all streams
that draw on the same platform budget, deltas that arrive while waiting are coalesced into
one edit, the final text is always flushed, and text past the platform's message length
continues in further messages, split at natural boundaries.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bot.ratelimit import TokenBucket
from bot.reply import Accepted, Attachment, MessageBreak, Notice, Progress, Reply, TextDelta
from bot.splitting import split_text

H = TypeVar("H")


class MessageTarget(Protocol[H]):
    """Where a streamed reply goes: post a message, edit it, show a notice."""

    @property
    def max_length(self) -> int:
        """The most characters one message may hold."""
        ...

    async def post(self, text: str, *, streaming: bool) -> H:
        """Send a new message; returns what `edit` needs to change it.

        `streaming` is True while more text may come (an adapter shows a Stop button),
        False once the message is final (Regenerate, Continue).
        """
        ...

    async def edit(self, handle: H, text: str, *, streaming: bool) -> None:
        """Replace a sent message's text (see `post` for `streaming`)."""
        ...

    async def delete(self, handle: H) -> None:
        """Remove a sent message (a "working…" message that got no reply)."""
        ...

    async def notice(self, notice: Notice) -> None:
        """Show a notice (ephemeral where the platform can)."""
        ...

    async def attach(self, attachment: Attachment) -> None:
        """Give the invoking user a file (ephemeral where the platform can)."""
        ...


@dataclass
class _Message(Generic[H]):
    handle: H | None = None
    text: str = ""
    shown: str = ""
    # Whether the platform shows it as still streaming (with a Stop button, say).
    live: bool = False
    # Finished: a late streaming update (a flush that was waiting) must not reopen it.
    done: bool = False
    # Shows a placeholder or progress line, not reply text: removed if no text follows.
    provisional: bool = False


@dataclass
class StreamStats:
    """What one delivery cost, for tests and metrics."""

    posts: int = 0
    edits: int = 0
    messages: list[str] = field(default_factory=list)


class MessageStreamer(Generic[H]):
    """Delivers one Reply to one MessageTarget within a shared edit budget."""

    def __init__(
        self,
        target: MessageTarget[H],
        bucket: TokenBucket,
        placeholder: str | None = None,
    ) -> None:
        self._target = target
        self._bucket = bucket
        # Posted as soon as the command is accepted ("working…"), then edited into the reply.
        self._placeholder = placeholder
        self._current: _Message[H] = _Message()
        self._dirty = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.stats = StreamStats()

    async def deliver(self, reply: Reply) -> StreamStats:
        """Consume the reply's events until it closes; the final text is always shown.

        If the platform refuses a call, the error propagates (the caller stops the run);
        if the delivery is cancelled, what was written so far is still shown.
        """
        flusher = asyncio.create_task(self._flush_when_allowed())
        failed = False
        try:
            async for event in reply.events():
                if isinstance(event, TextDelta):
                    self._current.text += event.text
                    if len(self._current.text) > self._target.max_length:
                        await self._overflow()
                    self._dirty.set()
                elif isinstance(event, MessageBreak):
                    await self._finish_message()
                elif isinstance(event, Notice):
                    await self._target.notice(event)
                elif isinstance(event, Attachment):
                    await self._target.attach(event)
                elif isinstance(event, Progress):
                    await self._show_provisional(event.text)
                elif (
                    isinstance(event, Accepted)
                    and self._placeholder
                    and self._current.handle is None
                ):
                    await self._show_provisional(self._placeholder)
        except Exception:
            failed = True
            raise
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if not failed:
                # Always flush the final text, even when the reader was cancelled.
                await asyncio.shield(self._finish_message())
        return self.stats

    async def _show_provisional(self, text: str) -> None:
        """Show a placeholder or progress line in the message until its text starts."""
        message = self._current
        if message.text.strip() or (message.handle is not None and not message.provisional):
            return  # the reply's own text is showing; progress no longer matters
        message.text = text
        try:
            await self._bucket.take()
            await self._send(message, streaming=True)
            message.provisional = True
        finally:
            message.text = ""

    async def _flush_when_allowed(self) -> None:
        while True:
            await self._dirty.wait()
            await self._bucket.take()
            self._dirty.clear()
            await self._send(self._current, streaming=True)

    async def _send(self, message: _Message[H], *, streaming: bool) -> None:
        async with self._send_lock:
            text = message.text.strip()
            if not text or (text == message.shown and streaming == message.live):
                return
            if streaming and message.done:
                return
            if message.handle is None:
                message.handle = await self._target.post(text, streaming=streaming)
                self.stats.posts += 1
            else:
                await self._target.edit(message.handle, text, streaming=streaming)
                self.stats.edits += 1
            message.shown, message.live = text, streaming
            message.provisional = False

    async def _finish_message(self) -> None:
        """Show the current message's final text, then start a new message."""
        message = self._current
        if message.handle is not None and message.provisional and not message.text.strip():
            # Accepted, then nothing to show (the handler stopped with a notice): the
            # "working…" or "in line" message would otherwise stay forever.
            await self._target.delete(message.handle)
            message.handle, message.shown, message.provisional = None, "", False
        text = message.text.strip()
        if text and (text != message.shown or message.live):
            await self._bucket.take()
            await self._send(message, streaming=False)
        message.done = True
        if message.shown and not message.provisional:
            self.stats.messages.append(message.shown)
        self._current = _Message()
        self._dirty.clear()

    async def _overflow(self) -> None:
        """The message grew past the limit: finish it at a boundary, continue in new ones."""
        text = self._current.text
        pieces = split_text(text, self._target.max_length)
        # The last piece keeps growing: keep the space or newline the next delta follows.
        trailing = text[len(text.rstrip()) :]
        self._current.text = pieces[0]
        await self._finish_message()
        for piece in pieces[1:-1]:
            self._current.text = piece
            await self._finish_message()
        self._current.text = pieces[-1] + trailing if len(pieces) > 1 else ""
