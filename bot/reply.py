"""The neutral reply stream: a handler writes into it, an adapter reads from it.

Handlers never wait on a platform: writes go into a queue, and each adapter turns the
events into what its platform accepts (console prints, Discord edits, Slack updates).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More text for the message being streamed."""

    text: str


@dataclass(frozen=True, slots=True)
class MessageBreak:
    """End the message being streamed; further text starts a new message."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A short message outside the stream: an error, a validation problem, a hint."""

    text: str
    kind: Literal["info", "error"] = "info"
    # Adapters show private notices only to the invoking user where they can (ephemeral).
    private: bool = True


@dataclass(frozen=True, slots=True)
class Accepted:
    """The command passed validation and checks; its handler is starting (show "working")."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the work stands before any text ("3rd in line"); replaced by the reply's text."""

    text: str


ReplyEvent = TextDelta | MessageBreak | Notice | Accepted | Progress


class Reply:
    """One invocation's replies, in order; closed when the handler is done."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ReplyEvent | None] = asyncio.Queue()
        self._closed = False
        self._parts: list[str] = []
        self.generated = False

    # -- the writer's side (handlers, through Context) --

    async def write(self, text: str) -> None:
        """Stream more text into the current message."""
        if text and not self._closed:
            self._parts.append(text)
            self._queue.put_nowait(TextDelta(text))

    async def send(self, text: str) -> None:
        """Send a whole message of its own (ends the current one first)."""
        await self.new_message()
        await self.write(text)
        await self.new_message()

    async def new_message(self) -> None:
        """Finish the current message; the next write starts another."""
        if not self._closed:
            self._queue.put_nowait(MessageBreak())

    def accept(self) -> None:
        """Tell the adapter the command is accepted and the work begins."""
        if not self._closed:
            self._queue.put_nowait(Accepted())

    def progress(self, text: str) -> None:
        """Say where the work stands until the reply's text starts (a place in line)."""
        if not self._closed:
            self._queue.put_nowait(Progress(text))

    async def notice(
        self, text: str, *, kind: Literal["info", "error"] = "info", private: bool = True
    ) -> None:
        """Tell the user something outside the generated text."""
        if not self._closed:
            self._queue.put_nowait(Notice(text, kind, private))

    def close(self) -> None:
        """No more events; readers finish after the queued ones."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    def mark_generated(self) -> None:
        """Note that the reply carries model-written text (adapters may keep it as history)."""
        self.generated = True

    @property
    def closed(self) -> bool:
        """True once the handler has finished."""
        return self._closed

    @property
    def text(self) -> str:
        """All generated text written so far (not notices)."""
        return "".join(self._parts)

    # -- the reader's side (adapters) --

    async def events(self) -> AsyncIterator[ReplyEvent]:
        """Every event in order until the reply is closed."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event
