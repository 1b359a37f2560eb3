"""What the plugins check before a reply shows: its language, echoes of the prompt, its
form (lyrics lines, quiz questions), its faithfulness (summaries), on a scripted engine."""

from __future__ import annotations

from collections.abc import Sequence

from engine import ChatMessage, GenerationParams
from tests.conftest import Console
from tests.scripted_engine import ScriptedEngine


def answers(*replies: str) -> ScriptedEngine:
    """An engine that gives these replies in turn, then the last one again."""
    queue = list(replies)

    def script(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return ScriptedEngine(script=script)


async def test_a_chinese_channel_never_sees_an_english_opening(console: Console) -> None:
    console.core.engine = engine = answers(
        "The lighthouse keeper found a bottle on the beach one stormy night.",
        "灯塔看守人林海在一个暴风雨的夜晚，在海滩上捡到了一个瓶子。",
    )
    await console.type("/prefs set key:language value:zh")
    out = await console.type("/story start premise:灯塔看守人")
    assert "灯塔看守人林海在一个暴风雨的夜晚" in out
    assert "lighthouse keeper found" not in out
    assert len(engine.requests) == 2 and engine.aborted == 1  # stopped, then written again


async def test_a_reply_in_another_language_every_time_is_shown_with_a_note(
    console: Console,
) -> None:
    console.core.engine = answers("The lighthouse keeper found a bottle on the beach.")
    await console.type("/prefs set key:language value:zh")
    out = await console.type("/story start premise:灯塔看守人")
    assert "The lighthouse keeper found a bottle" in out
    assert "· 模型这次大部分没有用本频道的语言回答。请再试一次。" in out


async def test_a_reply_that_repeats_its_instructions_is_written_again(console: Console) -> None:
    console.core.engine = engine = answers(
        "Change the words, the rhythm and the tone so that a reader recognizes noir",
        "Rain fell on the city like a debt nobody meant to pay.",
    )
    out = await console.type('/rewrite text:"It rained all day." style:noir')
    assert "Rain fell on the city like a debt" in out
    assert "Change the words" not in out
    assert len(engine.requests) == 2


async def test_lyrics_keep_exactly_the_asked_lines_without_labels_or_commentary(
    console: Console,
) -> None:
    console.core.engine = answers(
        "Sure, here are the lyrics:\n[Verse 1]\n1. Neon rivers on the street,\n"
        "Umbrellas bloom like paper flowers\nUmbrellas bloom like paper flowers.\n"
        "Taxis hiss through silver light\nA stranger hums a song of home\nOne line too many\n",
    )
    out = await console.type('/lyrics topic:"city rain" structure:verse')
    assert out.strip().splitlines()[1:] == [
        "[Verse]",
        "Neon rivers on the street",
        "Umbrellas bloom like paper flowers",
        "Taxis hiss through silver light",
        "A stranger hums a song of home",
    ]


async def test_a_section_the_model_cuts_short_is_finished_with_more_lines(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "Neon rivers on the street\nUmbrellas bloom like paper flowers",
        "Taxis hiss through silver light\nA stranger hums a song of home",
    )
    out = await console.type('/lyrics topic:"city rain" structure:verse')
    assert len(out.strip().splitlines()[2:]) == 4
    assert len(engine.requests) == 2
    assert "more lines" in engine.last_prompt()


async def test_a_summary_that_names_nobody_or_invents_a_number_is_written_again(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "In a medieval tavern, a bard sang of 300 dragons and a lost crown.",
        "Ada plans the zine: pages due Thursday, print shop Friday, budget 120.",
    )
    await console.type(  # typed by the console's user, ada
        "The zine goes to the print shop on Friday, pages due Thursday.",
        "Our budget is 120 dollars.",
    )
    out = await console.type("/summarize messages:10")
    assert "Ada plans the zine" in out and "tavern" not in out
    assert len(engine.requests) == 2


async def test_a_chinese_summary_that_drops_the_day_is_written_again(console: Console) -> None:
    console.core.engine = engine = answers(
        "徒步早上8点出发，全程12公里。",
        "徒步周六早上8点出发，全程12公里，7点半在图书馆集合。",
    )
    await console.type(
        "/prefs set key:language value:zh",
        "周六的徒步早上8点出发，全程12公里。",
        "那我们7点半在图书馆集合吧。",
    )
    out = await console.type("/summarize messages:10")
    assert "徒步周六早上8点出发" in out and len(engine.requests) == 2
    # The Chinese request comes after a worked example, as an earlier exchange of the chat.
    [_system, example, answer, request] = engine.requests[-1][0]
    assert "小王: 乐队排练改到周二6点" in example.content and answer.role == "assistant"
    assert "7点半在图书馆集合" in request.content and "小王" not in request.content


async def test_a_summary_that_retells_only_the_end_of_the_conversation_is_written_again(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "Ada will collect the money at the meeting.",
        "Ada sends the zine to print on the 14th; 50 copies cost 120 dollars.",
    )
    await console.type(
        "The zine goes to print on the 14th.",
        "50 copies cost 120 dollars.",
        "I'll collect the money at the meeting.",
    )
    out = await console.type("/summarize messages:10")
    assert "on the 14th; 50 copies cost 120 dollars" in out
    assert "collect the money" not in out
    assert len(engine.requests) == 2


async def test_a_quiz_drops_a_question_with_repeated_choices_and_writes_it_again(
    console: Console,
) -> None:
    import json

    def quiz(*questions: tuple[str, list[str]]) -> str:
        items = [{"question": q, "choices": c, "answer": "B"} for q, c in questions]
        return json.dumps({"questions": items})

    console.core.engine = engine = answers(
        quiz(
            ("How many lines has a haiku?", ["2", "3", "4", "5"]),
            ("A haiku's middle line has how many syllables?", ["7", "7", "5", "9"]),
            ("What is Python?", ["a snake", "a language", "a car", "a song"]),
            ("Which season word does a haiku use?", ["kigo", "kireji", "tanka", "renga"]),
            ("A haiku is from which country?", ["Japan", "", "China", "Korea"]),
        ),
        quiz(("Who wrote the most famous frog haiku?", ["Issa", "Basho", "Buson", "Shiki"])),
    )
    # Three asked, five written (two spare): two pass; the third place is written again
    # alone, twice at once, and the first good one fills it.
    out = await console.type("/tutor quiz topic:haiku questions:3")
    assert "How many lines has a haiku?" in out
    assert "Which season word does a haiku use?" in out
    assert out.count("Who wrote the most famous frog haiku?") == 1
    assert "syllables" not in out and "Python" not in out and "Korea" not in out
    assert len(engine.requests) == 3


async def test_a_quiz_that_cannot_be_read_is_written_question_by_question(
    console: Console,
) -> None:
    import json

    def one(question: str, *choices: str) -> str:
        return json.dumps(
            {"questions": [{"question": question, "choices": choices, "answer": "A"}]}
        )

    cut_off = '{"questions": [{"question": "How many lines has a haiku? How many lines has'
    console.core.engine = engine = answers(
        cut_off,
        cut_off,
        one("How many lines has a haiku?", "3", "4", "5", "14"),
        one("Which season word does a haiku use?", "kigo", "kireji", "tanka", "renga"),
    )
    out = await console.type("/tutor quiz topic:haiku questions:2")
    assert "1. How many lines has a haiku?" in out
    assert "2. Which season word does a haiku use?" in out
    assert len(engine.requests) == 4  # the whole quiz twice, then each question alone


async def test_a_rewrite_that_copies_its_text_out_is_written_again(console: Console) -> None:
    console.core.engine = engine = answers(
        "《童话》的风格改写：\n我奶奶种西红柿，还把它们送给所有的邻居。",
        "从前，有位慈祥的老奶奶，她的小菜园里结满了红彤彤的番茄，她把番茄分给每一位邻居。",
    )
    await console.type("/prefs set key:language value:zh")
    out = await console.type('/rewrite text:"我奶奶种西红柿，还把它们送给所有的邻居。" style:童话')
    assert "从前，有位慈祥的老奶奶" in out and "《童话》" not in out
    assert len(engine.requests) == 2


async def test_a_section_that_only_repeats_the_song_still_gets_its_lines(
    console: Console,
) -> None:
    verse = "Neon rivers on the street\nUmbrellas bloom like paper flowers"
    console.core.engine = answers(verse)  # every section, every time
    out = await console.type('/lyrics topic:"city rain" structure:intro-outro')
    assert "⚠" not in out
    assert out.count("Neon rivers on the street") == 2  # sung again rather than left out


async def test_a_chinese_recap_opens_with_the_premise_in_chinese(console: Console) -> None:
    await console.type("/prefs set key:language value:zh", "/story start premise:灯塔看守人林海")
    out = await console.type("/story recap")
    assert out.splitlines()[1] == "故事设定：灯塔看守人林海"


async def test_a_story_part_that_copies_the_story_out_is_written_again(console: Console) -> None:
    opening = (
        "Mara climbed the lighthouse stairs at dusk and found a green bottle wedged in the "
        "railing, a folded map inside it, its ink still wet."
    )
    console.core.engine = engine = answers(
        opening,
        '{"names": ["Mara"]}',  # the story's cast, looked for once
        opening,
        "The storm came at midnight. Mara unrolled the map by candlelight and saw her own "
        "island drawn on it, with a cross where the lighthouse stood.",
    )
    await console.type('/story start premise:"a lighthouse keeper named Mara"')
    out = await console.type("/story continue")
    assert "The storm came at midnight" in out and "climbed the lighthouse" not in out
    assert len(engine.requests) == 4


async def test_a_story_part_that_names_none_of_its_people_is_written_again(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "林海在灯塔下捡到一个瓶子，瓶子里有一张旧地图。",
        '{"names": ["林海"]}',
        "暴风雨来了，灯灭了。看守人摸黑走上楼梯，海浪一次次拍打着窗户。",
        "暴风雨来了，灯灭了。林海摸黑走上楼梯，把地图贴在胸口。",
        "第二天早上，林海顺着地图走到了海边的岩洞。",
    )
    await console.type("/prefs set key:language value:zh")
    await console.type("/story start premise:灯塔看守人林海捡到一个瓶子")
    out = await console.type("/story continue direction:暴风雨")
    assert "林海摸黑走上楼梯" in out and "看守人摸黑" not in out
    assert "写到林海" in engine.last_prompt()  # the request names whom to keep
    # The cast is kept: the next part is asked for at once, still naming it.
    before = len(engine.requests)
    out = await console.type("/story continue")
    assert "岩洞" in out and len(engine.requests) == before + 1
    assert "写到林海" in engine.last_prompt()


def test_a_quiz_question_whose_choices_are_letters_the_question_or_a_loop_is_not_asked() -> None:
    from plugins.tutor import Question, question_problem

    def problem(question: str, *choices: str) -> str | None:
        return question_problem(Question(question, choices, "A"), "唐诗", "zh")  # type: ignore[arg-type]

    assert problem("唐诗中哪句写秋天？", "秋风起", "春眠不觉晓", "床前明月光", "白日依山尽") is None
    assert problem("唐诗中哪句写秋天？", "秋风起", "answer", "A", "B") is not None
    assert (
        problem("唐诗中哪句写秋天？", "秋风起", "唐诗中哪句写秋天？", "床前明月光", "白日")
        is not None
    )
    loop = "秋雨绵绵，落叶纷飞”，“秋雨绵绵，落叶纷飞"
    assert problem("唐诗中哪句写秋天？", loop, "春眠不觉晓", "床前明月光", "白日依山尽") is not None


async def test_a_rewrite_that_changes_the_days_of_its_text_is_written_again(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "周六下午，会议室被人订了，会议只好改到周五。",
        "周二之会室已为人所订，故会期改于周四。",
    )
    await console.type("/prefs set key:language value:zh")
    out = await console.type("/rewrite text:因为周二会议室已经被订了，会议改到周四。 style:古文")
    assert "故会期改于周四" in out and "周五" not in out
    assert len(engine.requests) == 2
    # The Chinese request comes after one worked example, as an earlier turn of the chat.
    [_system, example, answer, request] = engine.requests[-1][0]
    assert "武侠小说" in example.content and answer.role == "assistant"
    assert "因为周二会议室已经被订了" in request.content


def test_numbers_in_a_text_are_its_digits_and_its_days() -> None:
    from bot.facts import numbers_in

    assert numbers_in("周二订了，改到星期四下午3点") == {"weekday 二", "weekday 四", "3"}
    assert numbers_in("礼拜天见") == numbers_in("周日见") == {"weekday 日"}


async def test_a_recap_that_writes_the_story_out_again_is_written_again(console: Console) -> None:
    opening = (
        "Mara climbed the lighthouse stairs at dusk and found a green bottle wedged in the "
        "railing, a folded map inside it, its ink still wet."
    )
    console.core.engine = engine = answers(
        opening,
        '{"names": ["Mara"]}',
        opening,
        "Mara, the keeper, found a map in a bottle on the lighthouse railing.",
    )
    await console.type('/story start premise:"a lighthouse keeper named Mara"')
    out = await console.type("/story recap")
    assert out.endswith("Mara, the keeper, found a map in a bottle on the lighthouse railing.\n")
    assert len(engine.requests) == 4  # the opening, the cast, the copy, the recap


async def test_a_storys_cast_is_its_people_once_each_in_the_order_the_story_names_them(
    console: Console,
) -> None:
    console.core.engine = engine = answers(
        "Captain Ilse Varga woke alone. Through the airlock window she saw Oona waving.",
        # The model lists one person twice, one it imagined, part of a word, out of order.
        '{"names": ["Oona", "Varga", "Captain Ilse Varga", "Doctor Who", "Capt"]}',
        "Ilse Varga let Oona in, and the two of them set out for the bridge.",
    )
    await console.type('/story start premise:"Captain Ilse Varga wakes alone on a station"')
    out = await console.type("/story recap")
    assert "Cast: Captain Ilse Varga and Oona\n" in out
    await console.type("/story continue")
    assert engine.last_prompt().endswith("naming Captain Ilse Varga and Oona.")
