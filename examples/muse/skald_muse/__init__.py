"""/muse: one writing prompt a day for each channel, the same for everyone who asks."""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from bot import Context, Ending, GenerationParams, Param, Plugin, Pref, command

Form = Literal["story", "poem", "scene", "any"]
# A prompt is a sentence or two: long enough to hold an image and a tension, short enough
# to read at a glance. The reply ends at the first sentence end past MAX_WORDS.
MIN_WORDS = 8
MAX_WORDS = 45
# A Chinese character counts as a word here, as in bot.Ending; Chinese says in 12
# characters what English says in about 8 words.
MIN_HAN = 12
# How the model opens a reply that is about the prompt rather than the prompt itself.
PREAMBLE = re.compile(
    r"^\s*(?:sure|okay|ok\b|certainly|of course|here(?:'s| is| are)|(?:writing |today's )?prompt"
    r"\s*[:：]|title\s*[:：]|好的|当然|以下是|这是|写作提示|今日提示|题目|标题)",
    re.IGNORECASE,
)
# Numbering, bullets or a heading: a list of prompts, not one.
LIST_MARK = re.compile(r"^\s*(?:\d+\s*[.)、]|[-*•#])")
# The gate decides on an opening this long (or on the whole reply, if shorter).
DECIDE_AT_CHARS = 24


@dataclass(frozen=True)
class MuseOptions:
    """Options of /muse."""

    form: Annotated[
        Form | None, Param("What to write: story, poem, scene or any (default: muse.form)")
    ] = None


def today() -> str:
    """The day a prompt belongs to (UTC, so every server of a team shares it)."""
    return time.strftime("%Y-%m-%d", time.gmtime())


def han_count(text: str) -> int:
    """The Chinese characters in a text."""
    return sum(1 for char in text if "\u4e00" <= char <= "\u9fff")


def prompt_problem(text: str, *, done: bool) -> str | None:
    """What makes a reply no writing prompt ("preamble", "list", "too short"), or None.

    Called on the reply's opening as it streams: "too short" is only said of a whole reply.
    """
    if PREAMBLE.match(text):
        return "preamble"
    if LIST_MARK.match(text):
        return "list"
    han = han_count(text)
    words = han if han else len(text.split())
    if done and words < (MIN_HAN if han else MIN_WORDS):
        return "too short"
    return None


def prompt_gate(text: str, done: bool) -> bool | None:
    """The gate for ctx.generate: refuse a preamble, a list or a fragment; else show it."""
    if not done and len(text.strip()) < DECIDE_AT_CHARS:
        return None  # too little to tell yet
    return prompt_problem(text.strip(), done=done) is None


def theme_of(themes: list[str], day: str, scope: str) -> str:
    """The day's theme word for a channel: the same all day, another tomorrow."""
    return themes[zlib.crc32(f"{day}/{scope}".encode()) % len(themes)]


class Muse(Plugin):
    """A writing prompt of the day."""

    name = "muse"
    description = "A writing prompt of the day"
    prefs = (
        Pref("muse.form", str, "any", "Usual form of the day's prompt", choices=get_args(Form)),
    )
    # One prompt per channel, day, form and language: asked again, it is read back.
    migrations = (
        """CREATE TABLE muse_prompts (
            scope TEXT NOT NULL,
            day TEXT NOT NULL,
            form TEXT NOT NULL,
            language TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (scope, day, form, language)
        )""",
    )
    retention = (("muse_prompts", "created_at"),)
    # Package data beside this module: an installed plugin finds its own prompts.
    prompt_file = Path(__file__).with_name("muse.yaml")

    @command("muse", "Today's writing prompt for this channel")
    async def muse(self, ctx: Context[MuseOptions]) -> None:
        """Show the channel's prompt of the day, writing it first if nobody asked yet."""
        form = ctx.options.form or ctx.prefs.text("muse.form")
        day = today()
        key = (ctx.store.scope, day, form, ctx.language)
        row = await ctx.store.fetchone(
            "SELECT text FROM muse_prompts WHERE scope = ? AND day = ? AND form = ? "
            "AND language = ?",
            key,
        )
        if row is not None:
            await ctx.reply.write(row["text"])
            return
        themes = [t.strip() for t in ctx.prompts.render("themes").splitlines() if t.strip()]
        # Each form gets its own theme: a poem and a story asked the same day differ.
        theme = theme_of(themes, day, f"{ctx.store.scope}/{form}")
        messages = ctx.prompts.chat("prompt", form=form, theme=theme)
        # A focused sampling: a tiny model wanders off at higher temperatures.
        params = GenerationParams(
            max_tokens=120, temperature=0.7, top_p=0.9, repetition_penalty=1.05
        )
        text = await ctx.generate(
            messages, params, accept=prompt_gate, ending=Ending(words=MAX_WORDS)
        )
        if prompt_problem(text, done=True) is None:
            # Only a proper prompt becomes the day's: a poor one may be asked for again.
            await ctx.store.execute(
                "INSERT OR IGNORE INTO muse_prompts VALUES (?, ?, ?, ?, ?, ?)",
                (*key, text, time.time()),
            )
