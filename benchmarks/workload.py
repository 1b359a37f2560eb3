"""The commands every system serves: real /story start and /tutor explain invocations and prompts.

The bot receives these as invocations; raw vLLM and the naive baseline receive the exact
chat messages and sampling settings the plugins render from them, captured by running the
same commands once through a core on the scripted engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Config, FairnessSettings, PluginSettings, RouterSettings, SafetySettings
from bot.core import Core
from bot.invocation import ChannelRef, Invocation, User
from engine import ChatMessage, Engine, EngineStatus, GenerationParams, Usage
from tests.scripted_engine import ScriptedEngine

PLATFORM = "bench"
WORKSPACE = "w"

# Stored per channel before any command runs, so every command reads real rows. Rated
# mature (the workspace is allowed it, see bench_config): the content filter still reads
# every streamed piece, but a reply forced to run past its natural end (the fixed length)
# is not cut off by a word the default rating blocks, which would spoil the round.
CHANNEL_PREFS: dict[str, object] = {
    "rating": "mature",
    "language": "en",
    "story.genre": "mystery",
    "story.length": "short",
    "lyrics.genre": "folk",
}


@dataclass(frozen=True, slots=True)
class Command:
    """One slash command as typed, and the text the plugin writes before the model's."""

    name: str
    options: dict[str, object]
    # Text the handler streams before any model output (a lyrics section label); time to
    # first token counts from the model's first text, not from this.
    preamble: str = ""


def _explain(topic: str, level: str) -> Command:
    # One engine request, streamed whole. (/lyrics is not measured here: it reads the model
    # line by line and stops a section at its last line, so it would do less work than raw
    # vLLM forced to a fixed length.)
    return Command("tutor explain", {"topic": topic, "level": level})


COMMANDS: tuple[Command, ...] = (
    Command("story start", {"premise": "a lighthouse keeper finds a map in a bottle"}),
    _explain("iambic pentameter", "beginner"),
    Command("story start", {"premise": "a robot learns to bake bread", "genre": "comedy"}),
    _explain("the hero's journey", "intermediate"),
    Command("story start", {"premise": "the last train out of a frozen town", "genre": "horror"}),
    _explain("unreliable narrators", "advanced"),
    Command("story start", {"premise": "two rival cartographers share a boat", "genre": "romance"}),
    _explain("metaphor and simile", "beginner"),
)


def channel(index: int, prefix: str = "c") -> ChannelRef:
    """The bench channel number `index`."""
    return ChannelRef(PLATFORM, WORKSPACE, f"{prefix}{index}")


def invocation(command: Command, where: ChannelRef, user: int) -> Invocation:
    """The invocation an adapter would build for this command."""
    return Invocation(command.name, dict(command.options), where, User(f"u{user}", f"user{user}"))


def bench_config(data_dir: Path, engine: Any = None) -> Config:
    """The bot's configuration for benchmarks: defaults, except the limits a flood would hit.

    Cooldowns, the per-user cap and the bounds on the line would refuse or slow the
    benchmark's own load (one user typing every few milliseconds), so they are off, and the
    handler deadline is an hour; everything else (validation, preferences, rendering, the
    content filter, the per-channel cap and the fair line) runs as configured.
    """
    config = Config(
        data_dir=data_dir,
        log_level="WARNING",
        # The handler deadline guards users from a stuck reply; a benchmark on a slow or
        # busy machine must measure its slow rounds, not have them stopped.
        router=RouterSettings(cooldown_s=0, handler_timeout_s=3600),
        # Fairness as shipped (a channel runs 4 at once: the fairness row depends on it),
        # but one benchmark user sends everything, and nothing is refused for a long line.
        fairness=FairnessSettings(user_concurrency=0, queue_size=0, channel_queue_size=0),
        plugins=PluginSettings(entry_points=False),
        safety=SafetySettings(mature_workspaces=(f"{PLATFORM}:{WORKSPACE}",)),
    )
    return dataclasses.replace(config, engine=engine) if engine is not None else config


async def store_prefs(
    core: Core, channels: Sequence[ChannelRef], prefs: Mapping[str, object] = CHANNEL_PREFS
) -> None:
    """Write the bench preferences of these channels as /prefs set would."""
    for where in channels:
        for key, value in prefs.items():
            await core.prefs.set(where.scope, key, value)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What one command sends the engine: chat messages and sampling settings."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams

    def digest(self) -> str:
        """A short hash of the messages, to check two systems got the same prompt."""
        return prompt_digest(self.messages)


def prompt_digest(messages: Sequence[ChatMessage]) -> str:
    """A short hash of chat messages."""
    text = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fixed_length(params: GenerationParams, new_tokens: int) -> GenerationParams:
    """The same sampling settings, generating exactly `new_tokens` tokens.

    min_tokens = max_tokens keeps end-of-sequence (and the end-of-turn ids) from ending a
    reply early, as transformers' min_new_tokens does for the naive baseline; stop strings
    go too, since they would end it as well.
    """
    extra = {**params.extra, "min_tokens": new_tokens}
    return dataclasses.replace(params, max_tokens=new_tokens, stop=(), extra=extra)


async def capture_prompts(commands: Sequence[Command] = COMMANDS) -> list[Prompt]:
    """The prompt each command renders, captured through a core on the scripted engine."""
    engine = ScriptedEngine()
    with tempfile.TemporaryDirectory(prefix="skald-bench-") as tmp:
        core = await Core.open(bench_config(Path(tmp)), engine)
        try:
            where = channel(0)
            await store_prefs(core, [where])
            for number, command in enumerate(commands):
                run = core.dispatch(invocation(command, where, number))
                async for _event in run.reply.events():
                    pass
                await run.wait()
        finally:
            await core.close()
    if len(engine.requests) != len(commands):
        raise RuntimeError(
            f"expected one engine request per command, got {len(engine.requests)} for "
            f"{len(commands)}: a plugin changed how many requests a command makes"
        )
    return [Prompt(tuple(messages), params) for messages, params in engine.requests]


class FixedLengthEngine:
    """The shared engine as the bot sees it, every reply a fixed number of tokens long.

    Also notes what it was asked (prompt digests), so a run can show the bot sent the
    very prompts the other systems got.
    """

    def __init__(self, inner: Engine, new_tokens: int) -> None:
        self._inner = inner
        self.new_tokens = new_tokens
        self.digests: list[str] = []

    @property
    def max_context_tokens(self) -> int:
        """The inner engine's context length."""
        return self._inner.max_context_tokens

    async def start(self) -> None:
        """Start the inner engine."""
        await self._inner.start()

    def is_ready(self) -> bool:
        """Whether the inner engine is ready."""
        return self._inner.is_ready()

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """The inner engine's count."""
        return await self._inner.count_tokens(messages)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """The inner engine's stream, with the fixed reply length."""
        self.digests.append(prompt_digest(messages))
        return self._inner.stream(messages, fixed_length(params, self.new_tokens), usage)

    def status(self) -> EngineStatus:
        """The inner engine's status."""
        return self._inner.status()

    async def close(self) -> None:
        """Close the inner engine."""
        await self._inner.close()
