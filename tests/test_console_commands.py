"""Typing commands into the console, as a user would, on a scripted engine and real SQLite."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Console, open_core
from tests.scripted_engine import ScriptedEngine


async def test_story_lives_in_the_channel_and_survives_a_restart(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    core = await open_core(tmp_path, engine)
    console = Console(core)
    out = await console.type(
        "/prefs set key:story.genre value:mystery",
        '/story start premise:"a lighthouse keeper finds a map in a bottle"',
        '/story continue direction:"a storm arrives"',
    )
    assert "story.genre = mystery" in out
    assert "Begin a mystery story about: a lighthouse keeper" in engine.requests[0][0][-1].content
    assert "a storm arrives" in engine.last_prompt()
    # The continuation's prompt carries the opening, as the model's own earlier turn.
    assert "Scripted reply to: Begin a mystery story" in engine.last_chat()
    await core.close()

    core = await open_core(tmp_path, engine)
    console = Console(core)
    out = await console.type("/story recap", "/prefs show")
    assert "a lighthouse keeper finds a map in a bottle" in engine.last_prompt()
    assert "story.genre = mystery" in out
    assert "story.length = medium  (default)" in out
    await core.close()


async def test_a_story_is_told_to_the_model_as_a_chat_of_its_parts(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type(
        "/story start premise:a keeper named Mara",
        "/story continue direction:a storm",
        "/story continue",
    )
    [system, start, opening, storm, part, request] = engine.requests[-1][0]
    assert [m.role for m in (system, start, opening, storm, part, request)] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert start.content.startswith("Begin a fantasy story about: a keeper named Mara")
    # Each part is asked for again as it was, so the model writes the next one, not these.
    assert storm.content.endswith("In this part: a storm.") and "naming" not in storm.content
    assert part.content == "Scripted part 2, with Mara."
    assert (
        request.content == "Continue the story with the next part, in about 150 words, naming Mara."
    )


async def test_plain_text_after_a_command_fills_its_first_text_option(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type("/story start a robot learns to paint")
    assert "a robot learns to paint" in engine.last_prompt()


async def test_continuing_without_a_story_says_how_to_start_one(console: Console) -> None:
    out = await console.type("/story continue")
    assert out.splitlines()[-1].startswith("⚠ There is no story running")


async def test_story_prompt_drops_oldest_parts_to_fit_and_keeps_the_recap(tmp_path: Path) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("word " * 300), max_context_tokens=1200)
    core = await open_core(tmp_path, engine)
    console = Console(core)
    await console.type("/story start premise:dragons length:short")
    for _ in range(4):
        await console.type("/story continue")
    await console.type("/story recap")
    await console.type("/story continue")
    prompt = engine.last_chat()
    assert prompt.startswith("This is a fantasy story about: dragons")
    assert "What happened earlier:" in prompt  # the recap stays
    assert "Begin a fantasy story" not in prompt  # older parts were dropped
    assert await engine.count_tokens(engine.requests[-1][0]) + 160 <= 1200
    await core.close()


async def test_lyrics_have_a_label_per_section_and_the_chorus_comes_back(
    console: Console, engine: ScriptedEngine
) -> None:
    out = await console.type('/lyrics topic:"city rain" structure:verse-chorus-verse-chorus')
    labels = [line for line in out.splitlines() if line.startswith("[")]
    assert labels == ["[Verse 1]", "[Chorus]", "[Verse 2]", "[Chorus]"]
    assert len(engine.requests) == 3  # the second chorus is sung, not rewritten


async def test_a_bad_song_structure_names_the_option(console: Console) -> None:
    out = await console.type("/lyrics topic:rain structure:verse-solo")
    assert out.splitlines()[-1].startswith("⚠ `structure`: use sections intro, verse")


async def test_summarize_reads_the_console_channel(
    console: Console, engine: ScriptedEngine
) -> None:
    out = await console.type("/summarize")
    assert "no messages in this channel" in out
    await console.type(
        "I think the harbour scene should come first.", "Agreed, and the storm after."
    )
    await console.type("/summarize messages:20 length:short")
    prompt = engine.last_prompt()
    assert "ada: I think the harbour scene should come first." in prompt
    assert "ada: Agreed, and the storm after." in prompt


async def test_quiz_then_graded_answers_build_a_score(console: Console) -> None:
    out = await console.type("/tutor quiz topic:haiku questions:3")
    assert "1. Question number 1" in out and "   D) four" in out
    out = await console.type('/tutor answer answers:"A B D"')
    assert "2 of 3 correct" in out
    assert "Your score in this channel: 2 of 3." in out
    out = await console.type("/tutor answer answers:A")
    assert "no open quiz" in out
    out = await console.type("/tutor score")
    assert "2 of 3 correct over 1 quiz." in out


async def test_wrong_number_of_answers_is_one_clear_line(console: Console) -> None:
    await console.type("/tutor quiz topic:sonnets questions:2")
    out = await console.type("/tutor answer answers:A")
    assert out.splitlines()[-1] == (
        '⚠ `answers`: give 2 letters from A to D, one per question in order, e.g. "A A".'
    )


async def test_rewrite_and_explain_and_feedback_reach_the_engine(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type('/rewrite text:"The cat sat on the mat." style:noir')
    assert "in the style of noir" in engine.last_prompt()
    await console.type('/tutor explain topic:"iambic pentameter" level:beginner')
    assert 'Explain "iambic pentameter" to a beginner learner' in engine.last_prompt()
    await console.type('/tutor feedback text:"It was a dark night." focus:pacing')
    assert "focusing on pacing" in engine.last_prompt()


async def test_chinese_channel_gets_chinese_prompts(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type("/prefs set key:language value:zh", "/story start premise:月光下的猫")
    system, user = engine.requests[-1][0]
    assert "用中文" in system.content
    assert "月光下的猫" in user.content


async def test_prefs_validate_against_declarations(console: Console) -> None:
    out = await console.type("/prefs set key:story.genre value:western")
    assert out.splitlines()[-1] == (
        "⚠ `story.genre`: must be one of fantasy, mystery, sci-fi, horror, romance, adventure, "
        "fairy-tale, or comedy (got 'western')."
    )
    out = await console.type("/prefs set key:story.genra value:mystery")
    assert "Did you mean `story.genre`?" in out
    out = await console.type(
        "/prefs set key:story.genre value:horror", "/prefs reset key:story.genre", "/prefs show"
    )
    assert "story.genre = fantasy  (default)" in out


async def test_forget_deletes_everything_stored_for_the_channel(console: Console) -> None:
    await console.type(
        "/prefs set key:story.genre value:horror", "/story start premise:x", "a chat line"
    )
    out = await console.type("/prefs forget")
    assert "confirm:true" in out
    out = await console.type("/prefs forget confirm:true")
    assert "stored rows deleted" in out
    db = console.core.db
    for table in await db.scoped_tables():
        row = await db.fetchone(f'SELECT count(*) FROM "{table}"')
        assert row is not None and row[0] == 0, table


async def test_help_lists_every_command_and_explains_one(console: Console) -> None:
    out = await console.type("/help")
    for name in (
        "story start",
        "lyrics",
        "summarize",
        "tutor quiz",
        "rewrite",
        "prefs set",
        "help",
        "skald reload",
    ):
        assert f"/{name} — " in out
    out = await console.type("/help command:summarize")
    assert "messages: How many recent messages to read — a whole number from 1 to 200" in out
