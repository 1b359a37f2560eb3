"""/rewrite: the same text in another style or genre."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from bot import AutocompleteRequest, Context, Param, Plugin, command
from bot.context import Gate
from bot.i18n import choices
from bot.lines import line_key

# Offered as people type; prompts name a suggested style in their own language.
SUGGESTED_STYLES = choices(
    "noir",
    "shakespearean",
    "fairy tale",
    "pirate",
    "haiku",
    "limerick",
    "news report",
    "formal letter",
    "sci-fi",
    "gothic horror",
    "children's book",
    "epic poem",
    "sports commentary",
    "legal contract",
    "text message",
)


async def suggest_styles(request: AutocompleteRequest) -> Sequence[str]:
    """Styles that start with (or contain) what the user typed."""
    return request.matching(SUGGESTED_STYLES)


@dataclass(frozen=True)
class RewriteOptions:
    """Options of /rewrite."""

    text: Annotated[str, Param("The text to rewrite", max_length=1500)]
    style: Annotated[
        str,
        Param(
            "The style or genre to rewrite it in, e.g. noir",
            max_length=60,
            autocomplete=suggest_styles,
        ),
    ]


# A rewrite that contains its text's first letters (this many, or all of a shorter text)
# unchanged is a copy, not a rewrite.
COPY_LETTERS = 40


class Rewrite(Plugin):
    """Style transfer."""

    name = "rewrite"
    description = "The same text in another style"

    @command("rewrite", "Rewrite a text in another style or genre")
    async def rewrite(self, ctx: Context[RewriteOptions]) -> None:
        """Rewrite the text; the reply is a bit longer than the original at most."""
        opts = ctx.options
        messages = ctx.prompts.chat("rewrite", text=opts.text, style=opts.style)
        budget = min(600, 64 + len(opts.text) // 2)
        params = ctx.sampling("rewrite", max_tokens=budget)
        await ctx.generate(messages, params, accept=not_a_copy(opts.text))


def not_a_copy(source: str) -> Gate:
    """A gate refusing a rewrite that opens by copying its text out unchanged.

    A small model often answers with the text as it was (under a heading of its own);
    such a reply is written again once.
    """
    original = line_key(source)
    start = original[:COPY_LETTERS]

    def gate(text: str, done: bool) -> bool | None:
        written = line_key(text)
        if start and start in written:
            return False
        return True if done or len(written) >= len(start) + COPY_LETTERS else None

    return gate
