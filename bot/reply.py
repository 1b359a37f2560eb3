"""The neutral reply stream: a handler writes into it, an adapter reads from it.

Handlers never wait on a platform: writes go into a queue, and each adapter turns the
events into what its platform accepts (console prints, Discord edits, Slack updates).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.errors import OutputBlocked
from bot.i18n import Languages, Message, render
from bot.safety import Blocked, Matcher, StreamFilter


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
class Attachment:
    """A file for the user (an export): adapters upload it, or say where it was saved."""

    filename: str
    content: bytes
    # Where the core saved it on the bot's own machine (the console shows this path).
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the work stands before any text ("3rd in line"); replaced by the reply's text."""

    text: str


@dataclass(frozen=True, slots=True, eq=False)
class Checkpoint:
    """Asks the reader to show everything before it now; `shown` is settled once it has
    (True), or once it never will (False)."""

    shown: asyncio.Future[bool]

    def settle(self, shown: bool) -> None:
        """Answer the writer waiting in `Reply.delivered` (only the first answer counts)."""
        if not self.shown.done():
            self.shown.set_result(shown)


ReplyEvent = TextDelta | MessageBreak | Notice | Accepted | Attachment | Progress | Checkpoint


class Reply:
    """One invocation's replies, in order; closed when the handler is done.

    Catalog messages written here are rendered at once: public ones in the channel's
    language, private ones (notices, progress) in the person's (see `speak`).
    """

    def __init__(self, languages: Languages | None = None) -> None:
        self.languages = languages or Languages()
        self._queue: asyncio.Queue[ReplyEvent | None] = asyncio.Queue()
        self._closed = False
        self._parts: list[str] = []
        self.generated = False
        # The channel's content filter (set by the router) and the text it holds back.
        self._matcher: Matcher | None = None
        self._rating = ""
        self._filter: StreamFilter | None = None
        self._stopped = False
        # Set by a reader that answers Checkpoints (see `delivered`), and once it stops.
        self._confirmed = False
        self._reader_gone = False
        self._checkpoints: list[Checkpoint] = []

    def speak(self, languages: Languages) -> None:
        """Render what comes next in these languages (the router sets them once known)."""
        self.languages = languages

    def render(self, message: Message, *, private: bool = False) -> str:
        """A message as text for everyone (False) or for the person who asked (True)."""
        return render(message, self.languages.of(private))

    def guard(self, matcher: Matcher, rating: str) -> None:
        """Filter everything written from now on against the channel's rating."""
        self._matcher, self._rating = matcher, rating

    # -- the writer's side (handlers, through Context) --

    async def write(self, message: Message, *, filtered: bool = True) -> None:
        """Stream more text into the current message; raises OutputBlocked on a blocked phrase.

        The filter holds back the shortest tail that could still become a blocked phrase,
        so a phrase split across writes never shows. `filtered=False` is only for text the
        channel's admins wrote themselves (their own filter list, say).
        """
        text = self.render(message)
        if not text or self._closed or self._stopped:
            return
        if filtered and self._matcher is not None:
            if self._filter is None:
                self._filter = self._matcher.stream()
            text = self._pass(lambda f: f.feed(text))
        else:
            self._flush_filter()
        self._emit(text)

    async def flush(self) -> None:
        """Show the text the filter held back (the writer is done); raises OutputBlocked."""
        self._flush_filter()

    def blocks(self, text: str) -> bool:
        """True when text has a phrase the channel's rating blocks (nothing is raised)."""
        return self._matcher is not None and self._matcher.find(text) is not None

    def check(self, text: str) -> None:
        """Raise OutputBlocked when text that is not streamed (a quiz) has a blocked phrase."""
        if self._matcher is not None and self._matcher.find(text) is not None:
            self._stopped = True
            raise OutputBlocked(self._rating)

    async def send(self, message: Message) -> None:
        """Send a whole message of its own (ends the current one first)."""
        await self.new_message()
        await self.write(message)
        await self.new_message()

    async def new_message(self) -> None:
        """Finish the current message; the next write starts another."""
        if not self._closed and not self._stopped:
            self._flush_filter()
            self._queue.put_nowait(MessageBreak())

    async def attach(self, attachment: Attachment) -> None:
        """Give the user a file."""
        if not self._closed:
            self._queue.put_nowait(attachment)

    def accept(self) -> None:
        """Tell the adapter the command is accepted and the work begins."""
        if not self._closed:
            self._queue.put_nowait(Accepted())

    def progress(self, message: Message) -> None:
        """Say where the work stands until the reply's text starts (a place in line)."""
        if not self._closed:
            self._queue.put_nowait(Progress(self.render(message, private=True)))

    async def notice(
        self, message: Message, *, kind: Literal["info", "error"] = "info", private: bool = True
    ) -> None:
        """Tell the user something outside the generated text."""
        if not self._closed:
            self._queue.put_nowait(Notice(self.render(message, private=private), kind, private))

    async def delivered(self) -> bool:
        """Wait until the user sees everything written so far; False if they never will.

        For work that must not be kept unless someone saw it whole (a story part): a reply
        whose delivery fails is cancelled meanwhile, or this answers False. Where the reader
        does not confirm delivery, True at once.
        """
        if self._reader_gone:
            return False
        if not self._confirmed or self._closed:
            return True
        checkpoint = Checkpoint(asyncio.get_running_loop().create_future())
        self._checkpoints.append(checkpoint)
        self._queue.put_nowait(checkpoint)
        try:
            return await checkpoint.shown
        finally:
            self._checkpoints.remove(checkpoint)

    def drop_held(self) -> None:
        """Forget the text the filter holds back: the reply failed, so it never shows."""
        self._filter = None

    def close(self) -> None:
        """No more events; readers finish after the queued ones."""
        if not self._closed:
            try:
                self._flush_filter()
            except OutputBlocked as exc:
                self._queue.put_nowait(Notice(self.render(exc.message), "error", private=False))
            self._closed = True
            self._queue.put_nowait(None)

    def _emit(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self._queue.put_nowait(TextDelta(text))

    def _flush_filter(self) -> None:
        if self._filter is not None and not self._stopped:
            self._emit(self._pass(lambda f: f.finish()))
        self._filter = None

    def _pass(self, step: Callable[[StreamFilter], str]) -> str:
        """Run the filter; on a match, stop the reply where it is and raise OutputBlocked."""
        assert self._filter is not None
        try:
            return step(self._filter)
        except Blocked:
            self._stopped = True
            self._filter = None
            raise OutputBlocked(self._rating) from None

    def mark_generated(self) -> None:
        """Note that the reply carries model-written text (adapters may keep it as history)."""
        self.generated = True

    @property
    def closed(self) -> bool:
        """True once the handler has finished."""
        return self._closed

    @property
    def stopped(self) -> bool:
        """True once the filter stopped the reply."""
        return self._stopped

    @property
    def text(self) -> str:
        """All text shown so far (not notices, nor what the filter held back)."""
        return "".join(self._parts)

    # -- the reader's side (adapters) --

    def confirm_delivery(self) -> None:
        """The reader answers every Checkpoint once what came before it is shown."""
        self._confirmed = True

    def reader_gone(self) -> None:
        """The reader stopped: nothing more will be shown, so no writer may wait for it."""
        self._reader_gone = True
        for checkpoint in self._checkpoints:
            checkpoint.settle(False)

    async def events(self) -> AsyncIterator[ReplyEvent]:
        """Every event in order until the reply is closed."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event
