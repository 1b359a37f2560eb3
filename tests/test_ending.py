"""Where a prose reply ends: before a loop, at a sentence end past its length, and at its
last whole sentence when the token limit cuts it off."""

from __future__ import annotations

from collections.abc import Sequence

from bot.ending import Cut, Ending, count_words
from engine import ChatMessage, GenerationParams
from tests.conftest import Console
from tests.scripted_engine import ScriptedEngine

STORY = "Mara lit the lamp. The storm grew louder outside. "


def test_a_sentence_written_again_ends_the_reply_before_it() -> None:
    text = STORY + "Mara lit the lamp. The storm"
    assert Ending().cut(text) == Cut(len(STORY.rstrip()), True)


def test_the_start_of_a_sentence_already_written_is_held_until_it_differs() -> None:
    assert Ending().cut(STORY + "Mara lit") == Cut(len(STORY.rstrip()), False)
    diverging = STORY + "Mara lit a candle"
    assert Ending().cut(diverging) == Cut(len(diverging), False)


def test_short_sentences_may_come_again() -> None:
    text = "No. No! Run, Mara. "
    assert Ending().cut(text) == Cut(len(text), False)


def test_a_chinese_loop_ends_too() -> None:
    text = "林海点亮了灯塔的灯。风暴越来越大。林海点亮了灯塔的灯。风暴"
    assert Ending().cut(text) == Cut(len("林海点亮了灯塔的灯。风暴越来越大。"), True)


def test_with_words_the_reply_ends_at_the_first_sentence_end_past_them() -> None:
    text = "One two three. Four five six seven. Eight nine"
    assert Ending(words=5).cut(text) == Cut(len("One two three. Four five six seven."), True)
    # Past the words, the unfinished sentence waits for its end.
    assert Ending(words=5).cut("One two three. Four five six") == Cut(len("One two three."), False)


def test_a_chinese_sentence_ends_with_its_closing_quote() -> None:
    ending = Ending(words=4)
    assert ending.cut("他说：“走吧。") == Cut(0, False)  # the quote may still close
    assert ending.cut("他说：“走吧。”然") == Cut(len("他说：“走吧。”"), True)


def test_numbers_and_abbreviations_are_not_sentence_ends() -> None:
    assert Ending(words=2).cut("It cost 3.5 dollars") == Cut(0, False)


def test_a_reply_the_limit_cut_off_ends_at_its_last_whole_sentence() -> None:
    text = "It was dark. The lamp flick"
    assert Ending().cut(text, near_limit=True) == Cut(len("It was dark."), False)
    assert Ending().cut(text, near_limit=True, done=True) == Cut(len("It was dark."), True)
    # Stopped by the model itself, the reply keeps its last words.
    assert Ending().cut(text, done=True) == Cut(len(text), True)


def test_words_count_chinese_characters_one_each() -> None:
    assert count_words("Mara's lamp, 3 times") == 3
    assert count_words("林海点灯 at night") == 6


def looping(reply: str) -> ScriptedEngine:
    return ScriptedEngine(script=ScriptedEngine.replying(reply))


async def test_a_looping_story_part_is_shown_and_kept_once(console: Console) -> None:
    console.core.engine = engine = looping(
        "Mara found a map in the bottle. The map showed an island. "
        "Mara found a map in the bottle. The map showed an island."
    )
    out = await console.type('/story start premise:"a lighthouse keeper named Mara"')
    assert out.count("Mara found a map") == 1 and engine.aborted == 1
    await console.type("/story continue")
    story = engine.last_chat()
    assert story.count("Mara found a map") == 1


async def test_a_story_part_ends_at_a_sentence_past_its_length(console: Console) -> None:
    sentence = "The storm rolled over the lighthouse and the keeper watched it come."
    console.core.engine = engine = looping(" ".join(f"{sentence[:-1]}, {n}." for n in range(40)))
    out = await console.type('/story start premise:"a lighthouse keeper" length:short')
    shown = out.strip().splitlines()[-1]
    assert shown.endswith(".") and 80 <= count_words(shown) < 95  # short: about 80 words
    assert engine.aborted == 1


async def test_an_explanation_cut_off_by_its_token_limit_ends_at_a_whole_sentence(
    console: Console,
) -> None:
    words = " ".join(f"Haiku rule number {n} is simple." for n in range(100))

    def script(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        return words

    console.core.engine = ScriptedEngine(script=script)
    out = await console.type("/tutor explain topic:haiku")
    assert out.rstrip().endswith("is simple.")
