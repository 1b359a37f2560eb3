"""/lyrics: song lyrics with labelled sections in the structure asked for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from bot import Context, GenerationParams, Param, Plugin, Pref, command
from bot.errors import OptionError
from bot.i18n import Join, _, choice, choices

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
        written: dict[str, str] = {}
        song: list[str] = []
        for section, label in zip(sections, section_labels(sections, ctx.language), strict=True):
            await ctx.reply.write(f"[{label}]\n")
            if section in REPEATED and section in written:
                text = written[section]
                await ctx.reply.write(text)
            else:
                messages = ctx.prompts.chat(
                    "section",
                    topic=opts.topic,
                    genre=genre,
                    mood=opts.mood,
                    section=choice(section).render(ctx.language),
                    lines=SECTION_LINES[section],
                    previous="\n\n".join(song),
                )
                # A blank line or a bracket means the model is starting a section of its own.
                params = GenerationParams(
                    max_tokens=24 * SECTION_LINES[section] + 16, temperature=0.9, stop=("\n\n", "[")
                )
                text = await ctx.generate(messages, params)
                written[section] = text
            song.append(f"[{label}]\n{text}")
            await ctx.reply.write("\n\n")
