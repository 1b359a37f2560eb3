"""The one typed object a command handler receives."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from bot.admission import Budget, EngineRequest
from bot.errors import UserError
from bot.i18n import Message, Ordinal, _
from bot.invocation import ChannelHistory, ChannelRef, HistoryMessage, Invocation, User
from bot.memory.store import PluginStore
from bot.preferences import Preferences
from bot.prompts import PromptRenderer
from bot.reply import Reply
from engine import ChatMessage, Engine, GenerationParams, PromptTooLong, Usage

if TYPE_CHECKING:
    from bot.core import Core

OptionsT = TypeVar("OptionsT")

# A start that takes longer than this (loading, or restarting after a crash) is shown.
WARMING_UP_AFTER_S = 0.5


class _NoHistory:
    async def recent(self, limit: int) -> list[HistoryMessage]:
        raise UserError(_("This platform cannot read the channel's history."))


@dataclass(slots=True)
class Context(Generic[OptionsT]):
    """Options, preferences, prompts, engine, history, user and reply sink of one invocation."""

    options: OptionsT
    invocation: Invocation
    prefs: Preferences
    prompts: PromptRenderer
    engine: Engine
    reply: Reply
    store: PluginStore
    core: Core
    # The plugin serving the command (metrics count generations by plugin).
    plugin: str = ""

    @property
    def user(self) -> User:
        """Who typed the command."""
        return self.invocation.user

    @property
    def channel(self) -> ChannelRef:
        """Where the command was typed."""
        return self.invocation.channel

    @property
    def history(self) -> ChannelHistory:
        """The channel's recent messages (for /summarize)."""
        return self.invocation.history or _NoHistory()

    @property
    def language(self) -> str:
        """The channel's reply language ("en" or "zh")."""
        return self.prompts.language

    def text(self, message: Message) -> str:
        """A catalog message in the channel's language (what public replies use)."""
        return self.reply.render(message)

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams | None = None,
        *,
        stream: bool = True,
    ) -> str:
        """Run the engine, streaming the reply (unless stream=False); return the text.

        The request takes its turn fairly with every other channel's (see bot/admission.py):
        while it waits, the user sees their place in line.
        """
        params = params or GenerationParams()
        await self._engine_started()
        for _attempt in range(2):
            text = await self._generate_once(messages, params, stream)
            if stream:
                await self.reply.flush()  # the end of the reply decides a phrase held back
            else:
                self.reply.check(text)
            if text:
                self.reply.mark_generated()
                return text
            # A tiny model can end its turn at once; one more try with fresh sampling.
            params = dataclasses.replace(
                params, seed=None, temperature=max(params.temperature, 0.7)
            )
        raise UserError(_("The model returned an empty reply. Please try again."))

    async def _engine_started(self) -> None:
        """Wait for the engine; say it is warming up if that takes more than a moment."""
        if self.engine.is_ready():
            return
        starting = asyncio.ensure_future(self.engine.start())
        done, _pending = await asyncio.wait({starting}, timeout=WARMING_UP_AFTER_S)
        if not done:
            self.reply.progress(_("The language model is warming up; your reply starts soon."))
        await starting

    async def _generate_once(
        self, messages: Sequence[ChatMessage], params: GenerationParams, stream: bool
    ) -> str:
        """One engine request, admitted in turn, measured and charged to the budgets."""
        core = self.core
        request = EngineRequest(
            channel=f"channel:{self.channel.scope}",
            user=f"user:{self.channel.platform}:{self.user.id}",
            max_tokens=params.max_tokens,
            channel_budget=Budget(
                self.prefs.get("budget.tokens_per_hour"), self.prefs.get("budget.tokens_per_day")
            ),
            user_budget=Budget(
                core.config.fairness.user_tokens_per_hour, core.config.fairness.user_tokens_per_day
            ),
        )

        async def show_place(place: int) -> None:
            self.reply.progress(
                _("Waiting for the language model: you are {place} in line.", place=Ordinal(place))
            )

        parts: list[str] = []
        usage = Usage()
        series = core.metrics.plugin(self.plugin)
        async with core.admission.admit(request, show_place) as ticket:
            series.queue_wait.observe(ticket.waited_s)
            try:
                request_params = dataclasses.replace(params, priority=ticket.priority)
                deltas = self.engine.stream(messages, request_params, usage)
                try:
                    async for delta in deltas:
                        parts.append(delta)
                        if stream:
                            await self.reply.write(delta)
                finally:
                    # A write refused by the content filter (OutputBlocked) leaves the loop
                    # early: close the stream now, which aborts the request in the engine,
                    # rather than whenever the garbage collector finalizes it.
                    close = getattr(deltas, "aclose", None)
                    if close is not None:
                        await close()
            except PromptTooLong as exc:
                raise UserError(
                    _(
                        "That is too long for the model ({tokens:,} tokens; it takes {limit:,}). "
                        "Please shorten it.",
                        tokens=exc.prompt_tokens,
                        limit=exc.limit,
                    )
                ) from None
            finally:
                ticket.charge(usage.completion_tokens)
                series.tokens.inc(usage.completion_tokens)
                if usage.first_token_s is not None:
                    series.time_to_first_token.observe(usage.first_token_s)
        return "".join(parts).strip()

    async def fits(self, messages: Sequence[ChatMessage], reply_tokens: int) -> bool:
        """True when the prompt leaves `reply_tokens` of room in the model's context."""
        await self.engine.start()
        return (
            await self.engine.count_tokens(messages) + reply_tokens
            <= self.engine.max_context_tokens
        )
