"""/story: a running story that anyone in the channel can continue; it survives restarts."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from bot import ChatMessage, Context, Ending, NoOptions, Param, Plugin, Pref, command
from bot.context import Gate
from bot.echo import copied_share, runs_of
from bot.ending import count_words
from bot.errors import UserError
from bot.i18n import Join, Text, _
from bot.script import is_han

Genre = Literal[
    "fantasy", "mystery", "sci-fi", "horror", "romance", "adventure", "fairy-tale", "comedy"
]
Length = Literal["short", "medium", "long"]
GENRES: tuple[str, ...] = get_args(Genre)
LENGTHS: tuple[str, ...] = get_args(Length)
# Words asked of the model (a part ends at the first sentence end past them), and the
# token budget, which leaves room to finish that sentence.
WORDS = {"short": 80, "medium": 150, "long": 250}
TOKENS = {"short": 160, "medium": 280, "long": 440}


@dataclass(frozen=True)
class StartOptions:
    """Options of /story start."""

    premise: Annotated[str, Param("What the story is about", max_length=500)]
    genre: Annotated[Genre | None, Param("The genre (default: the channel's story.genre)")] = None
    length: Annotated[Length | None, Param("How long each part is")] = None


@dataclass(frozen=True)
class ContinueOptions:
    """Options of /story continue."""

    direction: Annotated[str | None, Param("Where the story goes next", max_length=300)] = None


@dataclass(frozen=True, slots=True)
class StoryState:
    """The channel's story as stored."""

    premise: str
    genre: str
    length: str
    recap: str
    parts: list[str]
    # The direction each part was asked for (None: none given, or the opening).
    directions: list[str | None]
    ended: bool
    # The named characters, as last found (None: not looked for yet).
    characters: list[str] | None = None


class Story(Plugin):
    """A channel's shared story."""

    name = "story"
    description = "A story the whole channel writes together"
    prefs = (
        Pref("story.genre", str, "fantasy", "Genre of new stories", choices=GENRES),
        Pref("story.length", str, "medium", "Length of each story part", choices=LENGTHS),
    )
    migrations = (
        """
        CREATE TABLE story_stories (
            scope TEXT PRIMARY KEY,
            premise TEXT NOT NULL,
            genre TEXT NOT NULL,
            length TEXT NOT NULL,
            recap TEXT NOT NULL DEFAULT '',
            started_by TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL
        );
        CREATE TABLE story_parts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            scope TEXT NOT NULL,
            author TEXT NOT NULL,
            direction TEXT,
            text TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX story_parts_scope ON story_parts (scope, id);
        """,
        # The story's named characters (a JSON list), found once and kept in every part.
        "ALTER TABLE story_stories ADD COLUMN characters TEXT;",
    )
    # A story expires when its latest part is older than the retention (then its parts).
    retention = (
        (
            "story_stories",
            "COALESCE((SELECT MAX(p.created_at) FROM story_parts p"
            " WHERE p.scope = story_stories.scope), started_at)",
        ),
        ("story_parts", "created_at"),
    )

    @command(
        "story start",
        "Begin a new story in this channel",
        follow_up="story continue",
        thread="start",
    )
    async def start(self, ctx: Context[StartOptions]) -> None:
        """Write the opening and make it the channel's story (ending any earlier one)."""
        opts = ctx.options
        genre = opts.genre or ctx.prefs.text("story.genre")
        length = opts.length or ctx.prefs.text("story.length")
        # Only whether a story is running: its parts are not needed here.
        old = await ctx.store.fetchone(
            "SELECT premise FROM story_stories WHERE scope = ? AND ended_at IS NULL",
            (ctx.store.scope,),
        )
        if old is not None:
            await ctx.reply.notice(
                _(
                    "The previous story ({premise}) has ended; here begins a new one.",
                    premise=_short(old["premise"]),
                )
            )
        messages = ctx.prompts.chat("start", genre=genre, premise=opts.premise, words=WORDS[length])
        text = await ctx.generate(
            messages, ctx.sampling("start", max_tokens=TOKENS[length]), ending=part_ending(length)
        )
        if not await ctx.reply.delivered():
            return  # nobody saw the opening whole: the earlier story, if any, stays
        now = time.time()
        async with ctx.store.write() as db:
            await db.execute("DELETE FROM story_parts WHERE scope = ?", (ctx.store.scope,))
            await db.execute(
                "INSERT OR REPLACE INTO story_stories (scope, premise, genre, length, recap,"
                " started_by, started_at, ended_at, characters)"
                " VALUES (?, ?, ?, ?, '', ?, ?, NULL, NULL)",
                (ctx.store.scope, opts.premise, genre, length, ctx.user.name, now),
            )
            await db.execute(
                "INSERT INTO story_parts (scope, author, direction, text, created_at)"
                " VALUES (?, ?, NULL, ?, ?)",
                (ctx.store.scope, ctx.user.name, text, now),
            )

    @command(
        "story continue",
        "Write the next part of this channel's story",
        follow_up="story continue",
        thread="join",
    )
    async def continue_(self, ctx: Context[ContinueOptions]) -> None:
        """Continue the running story, optionally in a direction."""
        story = await require_story(ctx, running=True)
        direction = ctx.options.direction
        cast = (await story_cast(ctx, story))[:NAMED_IN_A_PART]
        messages = await fit_turns(ctx, story, "continue", cast, direction=direction or "")
        text = await ctx.generate(
            messages,
            ctx.sampling("continue", max_tokens=TOKENS[story.length]),
            accept=next_part(story, cast),
            ending=part_ending(story.length),
        )
        await add_part(ctx, text, direction)

    @command("story recap", "Retell this channel's story so far", thread="join")
    async def recap(self, ctx: Context[NoOptions]) -> None:
        """The premise and the cast, then the story so far retold; the retelling is kept
        for later prompts."""
        story = await require_story(ctx, running=False)
        cast = await find_cast(ctx, story)
        await keep_cast(ctx, cast)
        header = "\n".join(ctx.text(line) for line in recap_header(story.premise, cast))
        await ctx.reply.write(header + "\n\n")
        messages = await fit_story(ctx, story, "recap", cast=cast_text(ctx, cast))
        text = await ctx.generate(
            messages,
            ctx.sampling("recap", max_tokens=200),
            accept=not_copied(story, RECAP_COPIED_SHARE),
        )
        await ctx.store.execute(
            "UPDATE story_stories SET recap = ? WHERE scope = ?", (text, ctx.store.scope)
        )

    @command("story end", "Write the ending of this channel's story", thread="join")
    async def end(self, ctx: Context[NoOptions]) -> None:
        """Write an ending and close the story (it can still be recapped)."""
        story = await require_story(ctx, running=True)
        cast = (await story_cast(ctx, story))[:NAMED_IN_A_PART]
        messages = await fit_turns(ctx, story, "end", cast)
        text = await ctx.generate(
            messages,
            ctx.sampling("end", max_tokens=TOKENS[story.length]),
            accept=next_part(story, cast),
            ending=part_ending(story.length),
        )
        if not await add_part(ctx, text, None):
            return  # nobody saw the ending: the story goes on
        await ctx.store.execute(
            "UPDATE story_stories SET ended_at = ? WHERE scope = ?", (time.time(), ctx.store.scope)
        )
        await ctx.reply.notice(_("The End. Start another with /story start."))


# A part's opening is judged a copy of the story once it has this many words (Chinese
# characters), when this share of its runs of words is in the story already.
OPENING_WORDS = 24
COPIED_SHARE = 0.5
# A part that has named none of the story's characters by this many words is written
# again: a small model drifts into "she" and "the keeper", then into another story.
NAMED_WITHIN_WORDS = 60
# A recap is a copy when this share of its opening's runs of words is in the story.
RECAP_COPIED_SHARE = 0.7
# At most this many people are named in a recap's cast.
MAX_CAST = 6
# A part is asked to name the story's first people, this many at most: the small model
# lists things as characters too (the moonlight, the airlock), most often after the people.
NAMED_IN_A_PART = 2
CAST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "names": {
            "type": "array",
            "maxItems": MAX_CAST,
            "items": {"type": "string", "minLength": 1, "maxLength": 40},
        }
    },
    "required": ["names"],
    "additionalProperties": False,
}


def part_ending(length: str) -> Ending:
    """A story part ends at the first sentence end past its words (a small model goes on
    well past what it was asked for, and is then cut off mid-sentence)."""
    return Ending(words=WORDS[length])


def not_copied(story: StoryState, share: float = COPIED_SHARE) -> Gate:
    """A gate refusing a part (or a recap) that opens by writing out the story so far again.

    A small model asked to continue often copies the last part out, word for word or
    nearly; such a part is written again. Copied: `share` of the runs of words (of Chinese
    characters) of its opening are in the story already.
    """
    told = runs_of("\n".join(story.parts))

    def gate(text: str, done: bool) -> bool | None:
        if not done and count_words(text) < OPENING_WORDS:
            return None
        return copied_share(text, told) < share

    return gate


def names_someone(cast: list[str]) -> Gate:
    """A gate refusing a part that names none of the story's people by NAMED_WITHIN_WORDS."""

    def gate(text: str, done: bool) -> bool | None:
        if not cast or any(name in text for name in cast):
            return True
        return None if not done and count_words(text) < NAMED_WITHIN_WORDS else False

    return gate


def next_part(story: StoryState, cast: list[str]) -> list[Gate]:
    """The gates of a new part: it neither copies the story out nor forgets its people."""
    return [not_copied(story), names_someone(cast)]


def recap_header(premise: str, cast: list[str]) -> list[Text]:
    """The premise, then the cast when there is one."""
    lines = [_("Premise: {premise}", premise=premise)]
    if cast:
        lines.append(_("Cast: {cast}", cast=Join(tuple(cast))))
    return lines


def cast_text(ctx: Context[Any], cast: list[str]) -> str:
    """The cast listed as the prompt's language lists things."""
    return Join(tuple(cast)).render(ctx.language)


async def story_cast(ctx: Context[Any], story: StoryState) -> list[str]:
    """The story's named characters: found once (one short request), then kept."""
    if story.characters is not None:
        return story.characters
    cast = await find_cast(ctx, story)
    await keep_cast(ctx, cast)
    return cast


async def keep_cast(ctx: Context[Any], cast: list[str]) -> None:
    """Remember the story's characters for its next parts."""
    await ctx.store.execute(
        "UPDATE story_stories SET characters = ? WHERE scope = ?",
        (json.dumps(cast, ensure_ascii=False), ctx.store.scope),
    )


async def find_cast(ctx: Context[Any], story: StoryState) -> list[str]:
    """The story's named characters, as the model lists them and the text names them.

    A name the story's text does not contain is dropped: the list is of the story's
    people, never of ones the model imagined.
    """
    messages = await fit_story(ctx, story, "cast")
    params = ctx.sampling("cast", max_tokens=120, json_schema=CAST_SCHEMA)
    try:
        reply = json.loads(await ctx.generate(messages, params, stream=False))
        names = [str(name).strip() for name in reply["names"]]
    except (ValueError, KeyError, TypeError, UserError):
        return []
    text = "\n".join([story.premise, *story.parts])
    found = {name for name in names if name and _names_in(text, name)}
    # "Varga" beside "Captain Ilse Varga" is the same person, listed twice.
    cast = [name for name in found if not any(name in other for other in found - {name})]
    # In the order the story first names them: the premise's people come first.
    return sorted(cast, key=text.index)[:MAX_CAST]


def _names_in(text: str, name: str) -> bool:
    """Whether the text names this person: as a whole word ("Tom" is not in "Tomas"), or
    anywhere for a Chinese name (Chinese has no spaces between words)."""
    if is_han(name[0]) or is_han(name[-1]):
        return name in text
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


async def load_story(ctx: Context[Any]) -> StoryState | None:
    """The channel's story, or None."""
    row = await ctx.store.fetchone(
        "SELECT premise, genre, length, recap, ended_at, characters FROM story_stories"
        " WHERE scope = ?",
        (ctx.store.scope,),
    )
    if row is None:
        return None
    parts = await ctx.store.fetchall(
        "SELECT text, direction FROM story_parts WHERE scope = ? ORDER BY id", (ctx.store.scope,)
    )
    return StoryState(
        row["premise"],
        row["genre"],
        row["length"],
        row["recap"],
        [p["text"] for p in parts],
        [p["direction"] for p in parts],
        row["ended_at"] is not None,
        _names(row["characters"]),
    )


def _names(stored: str | None) -> list[str] | None:
    """The characters as stored (a JSON list), or None when not found yet or unreadable."""
    if stored is None:
        return None
    try:
        names = json.loads(stored)
    except ValueError:
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


async def require_story(ctx: Context[Any], *, running: bool) -> StoryState:
    """The channel's story, or a UserError telling how to start one."""
    story = await load_story(ctx)
    if story is None or (running and story.ended):
        raise UserError(
            _(
                "There is no story running in this channel. Start one with "
                '/story start premise:"..."'
            )
        )
    return story


async def fit_turns(
    ctx: Context[Any], story: StoryState, request: str, cast: list[str], **extra: str
) -> list[ChatMessage]:
    """The story told as a chat, one turn per part, then the request for the next part.

    Each part is the model's own earlier turn, asked for as it was (with its direction):
    the model then writes a new turn rather than the story again. The earliest parts go
    first when it does not fit; the premise and the recap stay.
    """
    prompts = ctx.prompts
    values = {"genre": story.genre, "premise": story.premise, "words": WORDS[story.length]}
    final = prompts.user(request, cast=cast_text(ctx, cast), **values, **extra)
    messages = [prompts.system(), final]
    for skip in range(len(story.parts)):
        turns = [prompts.system()]
        for index in range(skip, len(story.parts)):
            direction = story.directions[index] or ""
            if index == skip:
                opening = "start" if skip == 0 else "resume"
                turns.append(
                    prompts.user(opening, recap=story.recap, direction=direction, **values)
                )
            else:
                turns.append(prompts.user("continue", cast="", direction=direction, **values))
            turns.append(ChatMessage("assistant", story.parts[index]))
        messages = [*turns, final]
        if await ctx.fits(messages, TOKENS[story.length]):
            return messages
    # Not even the latest part fits: let the engine say how long it is.
    return messages


async def fit_story(
    ctx: Context[Any], story: StoryState, template: str, **extra: str
) -> list[ChatMessage]:
    """The story quoted in one prompt, as much of it as fits: oldest parts go first, the
    recap stays (for retelling it and finding its characters)."""
    reply_tokens = TOKENS[story.length]
    for skip in range(len(story.parts) + 1):
        shown = story.parts[skip:]
        text = ("…\n\n" if skip else "") + "\n\n".join(shown)
        messages = ctx.prompts.chat(
            template,
            genre=story.genre,
            premise=story.premise,
            recap=story.recap,
            story=text,
            words=WORDS[story.length],
            **extra,
        )
        if await ctx.fits(messages, reply_tokens):
            return messages
    # Even the premise and recap alone do not fit: let the engine say how long it is.
    return messages


async def add_part(ctx: Context[Any], text: str, direction: str | None) -> bool:
    """Append one part to the channel's story once the channel has seen it whole.

    The engine finishes before the platform shows the last words; were the part saved
    then, a delivery that fails after it would leave a part in the story nobody read.
    Returns whether it was saved.
    """
    if not await ctx.reply.delivered():
        return False
    await ctx.store.execute(
        "INSERT INTO story_parts (scope, author, direction, text, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (ctx.store.scope, ctx.user.name, direction, text, time.time()),
    )
    return True


def _short(text: str, limit: int = 60) -> str:
    return f'"{text}"' if len(text) <= limit else f'"{text[: limit - 1]}…"'
