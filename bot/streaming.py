"""Streaming a reply into platform messages: one message edited as text arrives.

Every adapter that edits messages (Discord, Slack) drives a `MessageStreamer` with its own
`MessageTarget`. Edits are throttled by a token bucket the adapter shares across all streams
that draw on the same platform budget, deltas that arrive while waiting are coalesced into
one edit, the final text is always flushed, and text past the platform's message length
continues in further messages, split at natural boundaries.

Any platform call may fail. A failed call is tried again within the same budget after a
short pause; a message that cannot be edited any more is replaced by a new one holding its
whole text. When nothing reaches the user any more (not even a new message), `deliver`
raises `Unreachable` at once, so the caller stops generating for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bot.ratelimit import TokenBucket
from bot.reply import (
    Accepted,
    Attachment,
    Checkpoint,
    MessageBreak,
    Notice,
    Progress,
    Reply,
    TextDelta,
)
from bot.splitting import split_text

H = TypeVar("H")
T = TypeVar("T")

log = logging.getLogger(__name__)

# Pauses before the second and third try of a failed call: a brief outage (one 503, one
# refused edit) heals within them, and the reply's pace barely changes.
RETRY_DELAYS_S = (0.5, 1.5)


class Unreachable(Exception):
    """The platform takes none of the reply's calls any more: nobody sees what follows."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def never_permanent(error: Exception) -> bool:
    """The default judgement: any failed call may succeed when tried again."""
    return False


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
    # Calls tried again after a failure, and messages replaced because edits kept failing.
    retries: int = 0
    replaced: int = 0
    messages: list[str] = field(default_factory=list)


class MessageStreamer(Generic[H]):
    """Delivers one Reply to one MessageTarget within a shared edit budget."""

    def __init__(
        self,
        target: MessageTarget[H],
        bucket: TokenBucket,
        placeholder: str | None = None,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        permanent: Callable[[Exception], bool] = never_permanent,
        call_timeout_s: float | None = None,
    ) -> None:
        """`permanent` tells errors no retry can mend (only the adapter knows its platform);
        a call that takes longer than `call_timeout_s` counts as failed."""
        self._target = target
        self._bucket = bucket
        self._retry_delays = tuple(retry_delays)
        self._permanent = permanent
        self._call_timeout = call_timeout_s
        # Replaced messages whose removal failed: tried once more when the reply ends.
        self._stale: list[H] = []
        # Posted as soon as the command is accepted ("working…"), then edited into the reply.
        self._placeholder = placeholder
        self._current: _Message[H] = _Message()
        self._dirty = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.stats = StreamStats()

    async def deliver(self, reply: Reply) -> StreamStats:
        """Consume the reply's events until it closes; the final text is always shown.

        Raises `Unreachable` as soon as the platform takes no call at all (the caller then
        stops the generation). If the delivery is cancelled, what was written so far is
        still shown where the platform allows.
        """
        reply.confirm_delivery()
        try:
            return await self._deliver(reply)
        finally:
            # A writer waiting for its text to show must not wait for a reader that is gone.
            reply.reader_gone()

    async def _deliver(self, reply: Reply) -> StreamStats:
        flusher = asyncio.create_task(self._flush_when_allowed())
        reader = asyncio.create_task(self._read(reply))
        for task in (flusher, reader):
            # Their errors are read below; a cancelled delivery must not leave them unread.
            task.add_done_callback(_mark_read)
        try:
            # The reader ends with the reply; the flusher ends only when the platform takes
            # nothing more, and then the reply must not wait for the reader.
            await asyncio.wait({flusher, reader}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._halt(reader, flusher)
            with contextlib.suppress(Exception):
                # Shown even though the reader was cancelled; a platform error now has
                # nobody to report to.
                await asyncio.shield(self._finish_message())
            raise
        if reader.done():
            await self._halt(flusher)
        else:
            # The platform takes nothing any more: no call of the reader's can land, so
            # there is nothing to wait for.
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        for task in (flusher, reader):
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise Unreachable(error) from error
        try:
            await asyncio.shield(self._finish_message())
        except Exception as exc:
            raise Unreachable(exc) from exc
        await self._drop_stale()
        return self.stats

    async def _halt(self, *tasks: asyncio.Task[None]) -> None:
        """Cancel the tasks, but never in the middle of a call: a post cut off after the
        platform made the message would leave it behind, and the text would show twice."""
        async with self._send_lock:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, reply: Reply) -> None:
        """Turn each event into messages; text goes out with the flusher, at the budget's pace."""
        async for event in reply.events():
            if isinstance(event, TextDelta):
                self._current.text += event.text
                if len(self._current.text) > self._target.max_length:
                    await self._overflow()
                self._dirty.set()
            elif isinstance(event, MessageBreak):
                await self._finish_message()
            elif isinstance(event, Notice):
                await self._aside(self._target.notice, event)
            elif isinstance(event, Attachment):
                await self._aside(self._target.attach, event)
            elif isinstance(event, Progress):
                await self._show_provisional(event.text)
            elif isinstance(event, Accepted) and self._placeholder and self._current.handle is None:
                await self._show_provisional(self._placeholder)
            elif isinstance(event, Checkpoint):
                try:
                    await self._show_now()
                except BaseException:
                    event.settle(False)
                    raise
                event.settle(True)

    async def _aside(self, call: Callable[[T], Awaitable[None]], event: T) -> None:
        """A notice or a file: tried like any call, but its loss does not end the reply."""
        try:
            await self._retrying(lambda: call(event))
        except Exception as exc:
            log.warning("reply: a %s could not be shown: %s", type(event).__name__, _describe(exc))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Make a platform call; after a failure, try again within the budget, then give up."""
        for delay in self._retry_delays:
            try:
                async with asyncio.timeout(self._call_timeout):
                    return await call()
            except Exception as exc:
                if self._permanent(exc):
                    raise
                log.info("reply: a call failed (%s); trying again", _describe(exc))
            self.stats.retries += 1
            await asyncio.sleep(delay)
            await self._bucket.take()
        async with asyncio.timeout(self._call_timeout):
            return await call()

    async def _drop_stale(self) -> None:
        """Remove replaced messages whose removal failed earlier (they show a Stop button)."""
        for handle in self._stale:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._call_timeout):
                    await self._target.delete(handle)
        self._stale.clear()

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

    async def _show_now(self) -> None:
        """Show the current message's text as it stands, without waiting for the flusher."""
        message = self._current
        if message.text.strip() and message.text.strip() != message.shown:
            await self._bucket.take()
            await self._send(message, streaming=True)

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
            handle = message.handle
            if handle is None:
                message.handle = await self._retrying(
                    lambda: self._target.post(text, streaming=streaming)
                )
                self.stats.posts += 1
            else:
                try:
                    await self._retrying(
                        lambda: self._target.edit(handle, text, streaming=streaming)
                    )
                    self.stats.edits += 1
                except Exception as exc:
                    await self._replace(message, handle, text, streaming, exc)
            message.shown, message.live = text, streaming
            message.provisional = False

    async def _replace(
        self, message: _Message[H], handle: H, text: str, streaming: bool, error: Exception
    ) -> None:
        """Edits keep failing: remove the message, and show its whole text in a new one."""
        log.warning("reply: a message could not be edited (%s); posting anew", _describe(error))
        try:
            async with asyncio.timeout(self._call_timeout):
                await self._target.delete(handle)
        except Exception:
            self._stale.append(handle)
        message.handle = await self._retrying(lambda: self._target.post(text, streaming=streaming))
        self.stats.posts += 1
        self.stats.replaced += 1

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


def _describe(error: BaseException) -> str:
    """The error's kind and first words, for a log line (never a traceback)."""
    return f"{type(error).__name__}: {str(error)[:200]}"


def _mark_read(task: asyncio.Task[None]) -> None:
    """Read a finished task's error, so asyncio never reports it as never retrieved."""
    if not task.cancelled():
        task.exception()
