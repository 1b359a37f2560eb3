"""/lyrics: song lyrics with labelled sections in the structure asked for."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from bot import Context, Param, Plugin, Pref, command
from bot.echo import EchoDetector
from bot.errors import OptionError, UserError
from bot.i18n import Join, _, choice, choices
from bot.lines import line_key, verse_lines
from bot.script import mostly_in

Genre = Literal[
    "pop", "rock", "folk", "hip-hop", "country", "ballad", "jazz", "electronic", "indie"
]
Mood = Literal["happy", "sad", "hopeful", "angry", "nostalgic", "romantic", "calm", "energetic"]
# Section names people type, and how many lines each gets.
SECTION_LINES = {
    "intro": 2,
    "verse": 4,
    "pre-chorus": 2,
    "chorus": 4,
    "bridge": 4,
    "hook": 2,
    "outro": 2,
}
# Each language's names of the sections are in the catalogs.
SECTION_NAMES = choices("intro", "verse", "pre-chorus", "chorus", "bridge", "hook", "outro")
# Sections sung the same way every time they come back.
REPEATED = {"chorus", "hook"}
MAX_SECTIONS = 12
# Engine requests for one section: the first, then asks for the lines still missing.
MAX_REQUESTS = 4
# Lines asked for beyond those wanted (the request stops at the last one wanted).
EXTRA_LINES = 2
# Room for one line (Chinese characters take a token or two each).
TOKENS_PER_LINE = 28


@dataclass(frozen=True)
class LyricsOptions:
    """Options of /lyrics."""

    topic: Annotated[str, Param("What the song is about", max_length=300)]
    genre: Annotated[Genre | None, Param("Musical genre (default: the channel's lyrics.genre)")] = (
        None
    )
    mood: Annotated[Mood, Param("The feeling of the song")] = "hopeful"
    structure: Annotated[
        str | None,
        Param("Sections in order, e.g. verse-chorus-verse-chorus-bridge-chorus", max_length=120),
    ] = None


def parse_structure(text: str) -> list[str]:
    """`verse-chorus-bridge` into section names; raises OptionError naming what is allowed."""
    names = sorted(SECTION_LINES, key=len, reverse=True)  # "pre-chorus" before "chorus"
    sections: list[str] = []
    rest = text.strip().lower().replace(" ", "-").replace(",", "-").replace("_", "-")
    while rest:
        rest = rest.lstrip("-")
        match = next((n for n in names if rest.startswith(n)), None)
        if match is None:
            if not rest:
                break
            raise OptionError(
                "structure",
                _(
                    "use sections {sections} joined by -, e.g. verse-chorus-verse-chorus.",
                    sections=Join(tuple(SECTION_LINES)),
                ),
            )
        sections.append(match)
        rest = rest[len(match) :]
    if not sections:
        raise OptionError("structure", _("name at least one section, e.g. verse-chorus."))
    if len(sections) > MAX_SECTIONS:
        raise OptionError("structure", _("at most {limit} sections.", limit=MAX_SECTIONS))
    return sections


def section_labels(sections: list[str], language: str) -> list[str]:
    """Labels shown above each section: "Verse 1", "Chorus", "Verse 2"..."""
    totals = Counter(s for s in sections if s not in REPEATED)
    seen: Counter[str] = Counter()
    labels = []
    for section in sections:
        seen[section] += 1
        name = choice(section).render(language)
        name = name[:1].upper() + name[1:]  # "Verse"; no change where letters have no case
        number = f" {seen[section]}" if totals[section] > 1 else ""
        labels.append(f"{name}{number}")
    return labels


class Lyrics(Plugin):
    """Song lyrics from a topic."""

    name = "lyrics"
    description = "Song lyrics with labelled sections"
    prefs = (
        Pref("lyrics.genre", str, "pop", "Default genre of songs", choices=get_args(Genre)),
        Pref(
            "lyrics.structure",
            str,
            "verse-chorus-verse-chorus-bridge-chorus",
            "Default song structure",
            max_length=120,
        ),
    )

    @command("lyrics", "Write song lyrics about a topic")
    async def lyrics(self, ctx: Context[LyricsOptions]) -> None:
        """Write the song section by section; a chorus is written once and sung again."""
        opts = ctx.options
        genre = opts.genre or ctx.prefs.text("lyrics.genre")
        sections = parse_structure(opts.structure or ctx.prefs.text("lyrics.structure"))
        written: dict[str, list[str]] = {}
        song: list[str] = []
        for section, label in zip(sections, section_labels(sections, ctx.language), strict=True):
            await ctx.reply.write(f"[{label}]\n")
            if section in REPEATED and section in written:
                lines = written[section]
                await ctx.reply.write("\n".join(lines) + "\n")
            else:
                lines = await write_section(
                    ctx,
                    sung=[line for _, part in written.items() for line in part],
                    topic=opts.topic,
                    genre=genre,
                    mood=opts.mood,
                    section=choice(section).render(ctx.language),
                    count=SECTION_LINES[section],
                    previous="\n\n".join(song),
                )
                written[section] = lines
            song.append(f"[{label}]\n" + "\n".join(lines))
            await ctx.reply.write("\n")
        await ctx.reply.flush()  # the end of the reply decides a phrase held back
        ctx.reply.mark_generated()


async def write_section(
    ctx: Context[LyricsOptions], *, count: int, sung: list[str], **values: Any
) -> list[str]:
    """Exactly `count` lines of verse, shown one by one as each is complete.

    The model's text is read line by line: labels, numbering and commentary are dropped,
    a line too long to sing is cut at its commas, a repeated line is skipped. Once `count`
    lines are shown the request is stopped; if the model stops short, it is asked for more.
    """
    lines: list[str] = []
    for attempt in range(MAX_REQUESTS):
        # Asked for a line or two more than needed: a small model often stops short, and
        # the request is stopped at the last line wanted anyway. The lines already shown
        # are not in the prompt for more: a small model copies them out.
        messages = ctx.prompts.chat(
            "section" if not lines else "more",
            lines=count + EXTRA_LINES,
            missing=count - len(lines) + EXTRA_LINES,
            **values,
        )
        wanted = count - len(lines) + EXTRA_LINES
        params = ctx.sampling("section", max_tokens=TOKENS_PER_LINE * wanted + 24)
        if attempt:
            # The model stopped short or repeated itself: sample a little more freely.
            params = dataclasses.replace(params, temperature=params.temperature + 0.1 * attempt)
        # The last requests may sing a line of another section again: a song with a line
        # repeated is better than a section left short.
        others = {line_key(s) for s in sung} if attempt < MAX_REQUESTS - 2 else set()
        section = _Section(lines, count, ctx.echo_detector(messages), ctx.language, others)
        async with contextlib.aclosing(ctx.deltas(messages, params)) as deltas:
            pending = ""
            async for delta in deltas:
                pending += delta
                *complete, pending = pending.split("\n")
                if await section.take(ctx, complete):
                    return lines
            if await section.take(ctx, [pending]):
                return lines
    if not lines:
        raise UserError(_("The model wrote no lines for this song. Please try again."))
    return lines


@dataclass(slots=True)
class _Section:
    """The lines of one section so far, and what a new line must not be."""

    lines: list[str]
    count: int
    echo: EchoDetector
    language: str
    # Lines of the song's other sections: a new section sings new lines.
    sung: set[str]

    async def take(self, ctx: Context[Any], raw: list[str]) -> bool:
        """Show the verse lines among `raw` until the section is full; True once it is."""
        for text in raw:
            for line in verse_lines(text):
                if (
                    line_key(line) in {line_key(seen) for seen in self.lines} | self.sung
                    or self.echo.echoes(line)
                    or not mostly_in(line, self.language, 0.6)
                ):
                    # A small model loops on a line, repeats its instructions, or slips
                    # into another language: sing none of these.
                    continue
                await ctx.reply.write(line + "\n")
                self.lines.append(line)
                if len(self.lines) == self.count:
                    return True
        return False
