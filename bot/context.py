"""The one typed object a command handler receives."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.admission import Budget, EngineRequest
from bot.echo import EchoDetector
from bot.ending import Cut, Ending
from bot.errors import UserError
from bot.i18n import Message, Ordinal, _
from bot.invocation import ChannelHistory, ChannelRef, HistoryMessage, Invocation, User
from bot.memory.store import PluginStore
from bot.preferences import Preferences
from bot.prompts import PromptRenderer
from bot.reply import Reply
from bot.script import MIN_LETTERS, letters, mostly_in
from engine import ChatMessage, Engine, EngineStalled, GenerationParams, PromptTooLong, Usage

if TYPE_CHECKING:
    from bot.core import Core

OptionsT = TypeVar("OptionsT")

# Replies refused by a gate before one is shown whatever it is.
GATED_ATTEMPTS = 2
# How much warmer each attempt after a refused one samples.
REFUSED_WARMER = 0.2
# A reply's opening this long is checked for an echo of the prompt before it is shown.
ECHO_WITHIN_CHARS = 60
# Within this many tokens of its limit, a reply's unfinished sentence is held back: the
# limit may cut it off, and then it is dropped rather than shown half written.
NEAR_LIMIT_TOKENS = 24
# A start that takes longer than this (loading, or restarting after a crash) is shown.
WARMING_UP_AFTER_S = 0.5


# Decides on a reply's opening: True shows it, False refuses it, None waits for more text.
# Called with `done=True` at the end of the reply, when it must decide.
Gate = Callable[[str, bool], bool | None]


class _Refused(Exception):
    """A gate refused the reply's opening."""


def language_gate(language: str) -> Gate:
    """A gate refusing an opening mostly in another script than the language's."""

    def gate(text: str, done: bool) -> bool | None:
        if not done and len(letters(text)) < 2 * MIN_LETTERS:
            return None
        return mostly_in(text, language)

    return gate


def echo_gate(detector: EchoDetector) -> Gate:
    """A gate refusing an opening that repeats the prompt's own instructions."""

    def gate(text: str, done: bool) -> bool | None:
        if detector.echoes(text):
            return False
        return True if done or len(text) >= ECHO_WITHIN_CHARS else None

    return gate


def _decide(gates: list[Gate], text: str, *, done: bool) -> list[Gate]:
    """The gates still undecided; raises _Refused when one refuses."""
    undecided = []
    for gate in gates:
        verdict = gate(text, done)
        if verdict is False:
            raise _Refused
        if verdict is None:
            undecided.append(gate)
    return undecided


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

    def sampling(self, request: str = "default", **overrides: Any) -> GenerationParams:
        """This plugin's sampling settings for one request (plugins/prompts/sampling.yaml).

        `overrides` (max_tokens, stop, json_schema, ...) win over the table.
        """
        core = self.core
        return core.sampling.params(core.config.engine.model, self.plugin, request, **overrides)

    def text(self, message: Message) -> str:
        """A catalog message in the channel's language (what public replies use)."""
        return self.reply.render(message)

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams | None = None,
        *,
        stream: bool = True,
        check_language: bool = True,
        accept: Gate | Sequence[Gate] | None = None,
        ending: Ending | None = None,
    ) -> str:
        """Run the engine, streaming the reply (unless stream=False); return the text.

        The request takes its turn fairly with every other channel's (see bot/admission.py):
        while it waits, the user sees their place in line. The reply's opening is held back
        until the gates decide on it: with check_language, one that is in another script
        than the channel's language is refused; `accept(text, done)` is the plugin's own
        gate, or a list of them (None: undecided yet; it must decide once `done`). A
        refused opening is never shown: the reply is written again once, and that one is
        shown whatever it is (with a note if it is in another language).

        Prose (no json_schema) ends as `ending` says, by default `Ending()`: before a
        sentence the reply already wrote, and at its last whole sentence when the token
        limit cuts it off; `Ending(words=n)` also ends it at a sentence end past n words.
        The text returned is what was shown.
        """
        params = params or GenerationParams()
        check_language = check_language and params.json_schema is None
        gates: list[Gate] = []
        if params.json_schema is None:
            gates.append(echo_gate(self.echo_detector(messages)))
        if check_language:
            gates.append(language_gate(self.language))
        if callable(accept):
            gates.append(accept)
        elif accept is not None:
            gates.extend(accept)
        if params.json_schema is None and ending is None:
            ending = Ending()
        for attempt in range(GATED_ATTEMPTS + 1):
            try:
                text = await self._generate_once(
                    messages, params, stream, gates if attempt < GATED_ATTEMPTS else [], ending
                )
            except _Refused:
                # Sampled again a little more freely: the same settings tend to write the
                # same refused opening.
                params = dataclasses.replace(
                    params, seed=None, temperature=params.temperature + REFUSED_WARMER
                )
                continue
            if stream:
                await self.reply.flush()  # the end of the reply decides a phrase held back
            else:
                self.reply.check(text)
            if text:
                self.reply.mark_generated()
                if check_language and not mostly_in(text, self.language):
                    # Said under a reply that came back in another script every time.
                    await self.reply.notice(
                        _("The model wrote this mostly in another language. Please try again.")
                    )
                return text
            # A tiny model can end its turn at once; one more try with fresh sampling.
            params = dataclasses.replace(
                params, seed=None, temperature=max(params.temperature, 0.7)
            )
        raise UserError(_("The model returned an empty reply. Please try again."))

    def echo_detector(self, messages: Sequence[ChatMessage]) -> EchoDetector:
        """What tells a reply that repeats these messages' instructions.

        Text that is not the instructions may come back in a good reply: what the person
        typed, and every value rendered into the prompt (a premise, the story so far).
        """
        typed = [v for v in self.invocation.options.values() if isinstance(v, str)]
        return EchoDetector(messages, [*typed, *self.prompts.values_in(messages)])

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
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        stream: bool,
        gates: list[Gate],
        ending: Ending | None,
    ) -> str:
        """One engine request; its opening is held back until every gate has decided, and
        its text shows as far as `ending` allows."""
        text = ""
        shown = 0  # how much of text the reply shows
        ends: list[int] = []  # where each delta ended: held text is written in those pieces
        pending = list(gates)
        usage = Usage()
        cut = Cut(0, False)
        async with contextlib.aclosing(self.deltas(messages, params, usage)) as deltas:
            async for delta in deltas:
                text += delta
                ends.append(len(text))
                near = usage.completion_tokens >= params.max_tokens - NEAR_LIMIT_TOKENS
                cut = ending.cut(text, near_limit=near) if ending else Cut(len(text), False)
                if cut.complete:
                    break  # leaving the loop aborts the request in the engine
                if pending:
                    # A blocked phrase ends the reply now (written, the filter stops it
                    # and the engine's request), whatever the gates would say.
                    if not self.reply.blocks(text):
                        pending = _decide(pending, text, done=False)
                    else:
                        pending = []
                    if pending:
                        continue
                if stream:  # held back until now (an opening, a sentence), as it came
                    await self._show(text, ends, shown, cut.keep)
                shown = max(shown, cut.keep)
        if not cut.complete and ending is not None:
            limited = usage.completion_tokens >= params.max_tokens
            cut = ending.cut(text, near_limit=limited, done=True)
        text = text[: max(shown, cut.keep)] if ending else text
        if pending:
            _decide(pending, text, done=True)
        if stream:
            await self._show(text, ends, shown, len(text))
        return text.strip()

    async def _show(self, text: str, ends: list[int], start: int, stop: int) -> None:
        """Write text[start:stop] in the pieces it came in: the content filter then shows
        everything before a blocked phrase, and nothing of the piece that has it."""
        for end in [*(e for e in ends if start < e < stop), stop]:
            if end > start:
                await self.reply.write(text[start:end])
                start = end

    async def deltas(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncGenerator[str, None]:
        """The engine's text deltas, admitted in turn, measured and charged to the budgets.

        Nothing is shown to the user: for plugins that shape the text before writing it
        (line by line, say). Closing the iterator early aborts the request in the engine.
        `usage`, when given, is filled in as the request runs (its tokens so far).
        """
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

        await self._engine_started()
        usage = usage if usage is not None else Usage()
        series = core.metrics.plugin(self.plugin)
        async with core.admission.admit(request, show_place) as ticket:
            series.queue_wait.observe(ticket.waited_s)
            try:
                request_params = dataclasses.replace(params, priority=ticket.priority)
                stream = self.engine.stream(messages, request_params, usage)
                stall_s = core.config.router.stall_timeout_s
                try:
                    async with contextlib.aclosing(_unstalled(stream, stall_s)) as timed:
                        async for delta in timed:
                            yield delta
                finally:
                    # Leaving early (the content filter refused a write, the plugin has
                    # what it needs, a cancellation) closes the stream now, which aborts the
                    # request in the engine, rather than whenever the garbage collector
                    # finalizes it.
                    close = getattr(stream, "aclose", None)
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

    async def fits(self, messages: Sequence[ChatMessage], reply_tokens: int) -> bool:
        """True when the prompt leaves `reply_tokens` of room in the model's context."""
        await self.engine.start()
        return (
            await self.engine.count_tokens(messages) + reply_tokens
            <= self.engine.max_context_tokens
        )


async def _unstalled(stream: AsyncIterator[str], stall_s: float) -> AsyncGenerator[str, None]:
    """The stream's deltas; raises `EngineStalled` when none comes for `stall_s` seconds.

    A hung engine would otherwise keep the reply open, with its Stop button, until the
    handler's much longer deadline. The wait is cancelled inside the engine's iterator,
    which aborts the request there (the engines catch the cancellation to abort).
    """
    while True:
        deadline = asyncio.timeout(stall_s or None)
        try:
            async with deadline:
                delta = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if deadline.expired():
                raise EngineStalled(stall_s) from None
            raise  # the engine's own timeout, not ours
        yield delta
