"""/rewrite: the same text in another style or genre."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from bot import AutocompleteRequest, Context, Param, Plugin, command
from bot.context import Gate
from bot.facts import numbers_in
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


# A rewrite whose opening keeps this share of the pairs of words (Chinese characters) in a
# row of its text's first COPY_UNITS (or all of a shorter text) is a copy, not a rewrite.
COPY_UNITS = 24
COPIED_SHARE = 0.7


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
        await ctx.generate(
            messages, params, accept=[not_a_copy(opts.text), same_numbers(opts.text)]
        )


def not_a_copy(source: str) -> Gate:
    """A gate refusing a rewrite that opens by copying its text out, unchanged or nearly.

    A small model often answers with the text as it was (under a heading of its own, a
    word dropped); such a reply is written again once. Nearly: most of the pairs of words
    in a row (of Chinese characters, in Chinese) of the text's opening come back in the
    reply's opening.
    """
    start = _units(source)[:COPY_UNITS]
    pairs = set(itertools.pairwise(start))

    def gate(text: str, done: bool) -> bool | None:
        written = _units(text)
        if len(written) < len(start) + COPY_UNITS and not done:
            return None
        window = written[: len(start) + COPY_UNITS]
        kept = pairs & set(itertools.pairwise(window))
        return not pairs or len(kept) < COPIED_SHARE * len(pairs)

    return gate


def same_numbers(source: str) -> Gate:
    """A gate refusing a rewrite that changes its text's numbers (days, times, amounts).

    A small model rewriting "moved to Thursday" in another style wrote "moved to Friday";
    such a rewrite is written again. A text without numbers passes at once.
    """
    wanted = numbers_in(source)

    def gate(text: str, done: bool) -> bool | None:
        if not wanted:
            return True
        given = numbers_in(text, complete=done)
        if given - wanted:
            return False
        if given >= wanted:
            return True
        return False if done else None

    return gate


def _units(text: str) -> list[str]:
    """Words, and each Chinese character on its own."""
    return [u.casefold() for u in re.findall(r"[\u3400-\u9fff]|[^\W\d_\u3400-\u9fff]+", text)]
