"""/summarize: a summary of the channel's recent messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot import Context, GenerationParams, Param, Plugin, Range, command
from bot.errors import UserError
from bot.i18n import _, _n

SummaryLength = Literal["short", "medium", "long"]
TOKENS = {"short": 80, "medium": 180, "long": 360}
# One message is cut to this many characters in the transcript, so one wall of text
# cannot push every other message out of the model's context.
MAX_MESSAGE_CHARS = 600


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
            messages = ctx.prompts.chat(
                "summarize", count=len(shown), transcript="\n".join(shown), length=opts.length
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
        await ctx.generate(messages, GenerationParams(max_tokens=reply_tokens, temperature=0.3))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
