"""Row 2, the whole bot: commands through an adapter-shaped driver into a local sink.

Each command goes the way a Discord interaction does after its deferral: an invocation,
`Core.dispatch` (router, validation, checks, preferences from SQLite, prompt rendering,
the plugin, the shared engine), and the reply consumed by the Discord adapter's own
`MessageStreamer`, paced by its per-channel `EditPacers` bucket, into a sink that keeps the
messages in memory instead of sending them to Discord.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from benchmarks.stats import RequestTiming, RoundResult
from benchmarks.workload import COMMANDS, Command, channel, invocation
from bot.adapters.discord.pacing import EditPacers
from bot.core import Core
from bot.invocation import ChannelRef
from bot.reply import Attachment, Notice, Reply, ReplyEvent, TextDelta
from bot.streaming import MessageStreamer

# Discord's message length (bot/adapters/discord/messages.py, which imports discord.py).
DISCORD_MESSAGE_LIMIT = 2000


class BenchError(Exception):
    """A command did not produce a reply, so its timings would mean nothing."""


class LocalSink:
    """A MessageTarget that keeps the messages in memory, as the platform would show them."""

    max_length = DISCORD_MESSAGE_LIMIT

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.notices: list[Notice] = []
        self.attachments: list[Attachment] = []
        self.calls = 0

    async def post(self, text: str, *, streaming: bool) -> int:
        """Keep a new message; its index is its handle."""
        self.calls += 1
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str, *, streaming: bool) -> None:
        """Replace a kept message's text."""
        self.calls += 1
        self.messages[handle] = text

    async def delete(self, handle: int) -> None:
        """Blank a kept message."""
        self.calls += 1
        self.messages[handle] = ""

    async def notice(self, notice: Notice) -> None:
        """Keep a notice."""
        self.notices.append(notice)

    async def attach(self, attachment: Attachment) -> None:
        """Keep a file (the benchmark's commands send none)."""
        self.attachments.append(attachment)


class TimedReply(Reply):
    """The adapter's side of a reply: notes when the model's text reaches it, and the end."""

    def __init__(self, inner: Reply, preamble_chars: int) -> None:
        super().__init__()
        self._inner = inner
        self._preamble = preamble_chars
        self._chars = 0
        self.first_text_at = 0.0
        self.closed_at = 0.0

    async def events(self) -> AsyncIterator[ReplyEvent]:
        """The inner reply's events, timed as they are read."""
        async for event in self._inner.events():
            if isinstance(event, TextDelta) and not self.first_text_at:
                self._chars += len(event.text)
                if self._chars > self._preamble:
                    self.first_text_at = time.perf_counter()
            yield event
        self.closed_at = time.perf_counter()


@dataclass(slots=True)
class Served:
    """One command's timings at the adapter, and when its last edit was shown."""

    timing: RequestTiming
    started: float
    closed_at: float
    shown_s: float
    edits: int


class EngineTokenLog(logging.Handler):
    """Collects the generated-token counts the vLLM engine logs for each request."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the count of one "request ...: N prompt tokens, M generated" line."""
        if record.levelno >= logging.WARNING:
            # The logger stops propagating while counting: pass on what the log would show.
            logging.getLogger().handle(record)
        args = record.args
        if (
            isinstance(record.msg, str)
            and record.msg.startswith("request %s:")
            and isinstance(args, tuple)
            and len(args) >= 3
            and isinstance(args[2], int)
        ):
            self.counts.append(args[2])

    def __enter__(self) -> EngineTokenLog:
        logger = logging.getLogger("engine.vllm_local")
        self._level, self._propagate = logger.level, logger.propagate
        # INFO is needed to see the counts, not to print a line per request.
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("engine.vllm_local")
        logger.removeHandler(self)
        logger.setLevel(self._level)
        logger.propagate = self._propagate


class BotDriver:
    """Types commands into a core as an adapter would and consumes the replies."""

    def __init__(self, core: Core, new_tokens: int) -> None:
        self.core = core
        self.new_tokens = new_tokens

    async def serve(
        self, command: Command, where: ChannelRef, user: int, pacers: EditPacers
    ) -> Served:
        """Dispatch one command and deliver its reply to a local sink, as Discord would."""
        started = time.perf_counter()
        run = self.core.dispatch(invocation(command, where, user))
        reply = TimedReply(run.reply, len(command.preamble))
        sink = LocalSink()
        bucket = pacers.bucket(where.channel)
        streamer: MessageStreamer[int] = MessageStreamer(sink, bucket)
        try:
            await streamer.deliver(reply)
            # The adapter's last edit swaps Stop for Regenerate (InteractionReply.finish).
            if sink.messages:
                await bucket.take()
                await sink.edit(0, sink.messages[0], streaming=False)
        except BaseException:
            run.cancel()
            raise
        finally:
            await run.wait()
        shown = time.perf_counter()
        errors = [n.text for n in sink.notices if n.kind == "error"]
        if errors or not reply.first_text_at:
            raise BenchError(f"/{command.name} in {where.scope} got no reply: {errors}")
        timing = RequestTiming(
            reply.first_text_at - started, reply.closed_at - started, self.new_tokens
        )
        return Served(timing, started, reply.closed_at, shown - started, sink.calls)

    async def round(
        self, concurrency: int, commands: Sequence[Command] = COMMANDS
    ) -> tuple[RoundResult, list[Served]]:
        """N commands in N channels at once; the round ends when the last reply is complete.

        Each round gets fresh edit budgets, as channels whose last edit was a while ago.
        """
        pacers = EditPacers()
        started = time.perf_counter()
        served = await asyncio.gather(
            *(
                self.serve(commands[i % len(commands)], channel(i), i, pacers)
                for i in range(concurrency)
            )
        )
        wall = max(s.closed_at for s in served) - started
        return RoundResult(concurrency, wall, [s.timing for s in served]), list(served)
