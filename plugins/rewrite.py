"""/rewrite: the same text in another style or genre."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from bot import AutocompleteRequest, Context, Param, Plugin, command
from bot.i18n import choices

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
        await ctx.generate(messages, ctx.sampling("rewrite", max_tokens=budget))
