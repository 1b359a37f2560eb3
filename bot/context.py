"""The one typed object a command handler receives."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from bot.errors import UserError
from bot.invocation import ChannelHistory, ChannelRef, HistoryMessage, Invocation, User
from bot.memory.store import PluginStore
from bot.preferences import Preferences
from bot.prompts import PromptRenderer
from bot.reply import Reply
from engine import ChatMessage, Engine, GenerationParams, PromptTooLong

if TYPE_CHECKING:
    from bot.core import Core

OptionsT = TypeVar("OptionsT")


class _NoHistory:
    async def recent(self, limit: int) -> list[HistoryMessage]:
        raise UserError("This platform cannot read the channel's history.")


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

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams | None = None,
        *,
        stream: bool = True,
    ) -> str:
        """Run the engine, streaming the reply (unless stream=False); return the text."""
        params = params or GenerationParams()
        await self.engine.start()
        for _attempt in range(2):
            parts: list[str] = []
            try:
                deltas = self.engine.stream(messages, params)
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
                    f"That is too long for the model ({exc.prompt_tokens:,} tokens; it takes "
                    f"{exc.limit:,}). Please shorten it."
                ) from None
            text = "".join(parts).strip()
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
        raise UserError("The model returned an empty reply. Please try again.")

    async def fits(self, messages: Sequence[ChatMessage], reply_tokens: int) -> bool:
        """True when the prompt leaves `reply_tokens` of room in the model's context."""
        await self.engine.start()
        return self.engine.count_tokens(messages) + reply_tokens <= self.engine.max_context_tokens
