"""/summarize: a summary of the channel's recent messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot import Context, Param, Plugin, Range, command
from bot.context import Gate
from bot.errors import UserError
from bot.facts import numbers_in
from bot.i18n import _, _n
from bot.invocation import HistoryMessage

SummaryLength = Literal["short", "medium", "long"]
TOKENS = {"short": 80, "medium": 180, "long": 360}
# One message is cut to this many characters in the transcript, so one wall of text
# cannot push every other message out of the model's context.
MAX_MESSAGE_CHARS = 600
# A summary is held back until it names one of the people and keeps most of the
# conversation's numbers, or until it is this long (then it streams).
HELD_CHARS = 300
# A message at least this long, found whole in a summary, was copied rather than summarized.
COPIED_CHARS = 16
# A summary keeps at least this share of the conversation's numbers and days.
KEPT_NUMBERS = 2 / 3


@dataclass(frozen=True)
class SummarizeOptions:
    """Options of /summarize."""

    messages: Annotated[Range[int, 1, 200], Param("How many recent messages to read")] = 50
    length: Annotated[SummaryLength, Param("How long the summary is")] = "medium"


class Summarize(Plugin):
    """Summaries of the channel's conversation."""

    name = "summarize"
    description = "Summaries of the channel's recent messages"

    @command("summarize", "Summarize the channel's recent messages")
    async def summarize(self, ctx: Context[SummarizeOptions]) -> None:
        """Read the recent history, fit as much as the model takes (newest kept), summarize."""
        opts = ctx.options
        history = [m for m in await ctx.history.recent(opts.messages) if m.text.strip()]
        if not history:
            raise UserError(_("There are no messages in this channel to summarize yet."))
        lines = [f"{m.author}: {_clip(m.text)}" for m in history]
        reply_tokens = TOKENS[opts.length]
        for start in range(len(lines)):
            shown = lines[start:]
            people = participants(history[start:])
            messages = ctx.prompts.chat(
                "summarize",
                count=len(shown),
                transcript="\n".join(shown),
                length=opts.length,
                people=", ".join(people),
            )
            if await ctx.fits(messages, reply_tokens):
                break
        if start:
            await ctx.reply.notice(
                _n(
                    "Only the last message fits; older ones were left out.",
                    "Only the last {n} messages fit; older ones were left out.",
                    len(lines) - start,
                )
            )
        await ctx.generate(
            messages,
            ctx.sampling("summary", max_tokens=reply_tokens),
            accept=faithful(people, [m.text for m in history[start:]]),
        )


def participants(history: list[HistoryMessage]) -> list[str]:
    """The people who wrote in the conversation, in order of their first message."""
    return list(dict.fromkeys(m.author for m in history if m.author.strip()))


def faithful(people: list[str], messages: list[str]) -> Gate:
    """A gate refusing a summary that names none of the people who wrote, gives a number
    the conversation does not have, keeps fewer than two thirds of the numbers it does
    have (days, times, amounts), or copies a message out instead of summarizing it.

    Such a summary has usually not read the conversation (a small model then tells a story
    of its own, retells only its last lines, or repeats the transcript); it is written again.
    """
    # One person talking to the channel (the console's user, say) need not be named.
    names = [p.casefold() for p in people] if len(people) > 1 else []
    source = "\n".join(messages)
    numbers = numbers_in(source)
    long_messages = [m for m in messages if len(m) >= COPIED_CHARS]

    def gate(text: str, done: bool) -> bool | None:
        given = numbers_in(text, complete=done)
        if given - numbers or any(m in text for m in long_messages):
            return False
        named = not names or any(name in text.casefold() for name in names)
        covered = len(given) >= KEPT_NUMBERS * len(numbers)
        if named and covered:
            return True
        if done:
            return False
        # A long summary that names someone shows as it streams, its numbers unchecked.
        return True if len(text) >= HELD_CHARS and named else None

    return gate


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
