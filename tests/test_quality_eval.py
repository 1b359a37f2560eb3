"""The quality evaluation's items and checks (`make eval` runs them on the real engine)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.quality.checks import check_item
from benchmarks.quality.driver import ItemRun, StepResult
from benchmarks.quality.items import KINDS, Item, load_items
from benchmarks.quality.report import summarize_config, targets_met
from tests.conftest import Console


def _run(item: Item, *texts: str, quiz: list[dict[str, Any]] | None = None) -> ItemRun:
    steps = [StepResult(line, text, [], 1.0) for line, text in zip(item.steps, texts, strict=True)]
    return ItemRun(item, steps, quiz)


def _failed(run: ItemRun) -> set[str]:
    return {check.name for check in check_item(run) if not check.passed}


def _item(item_id: str) -> Item:
    return next(item for item in load_items() if item.id == item_id)


def test_the_items_cover_both_languages_and_every_generating_plugin() -> None:
    items = load_items()
    assert len(items) >= 40
    kinds = Counter((item.language, item.kind) for item in items)
    assert all(kinds[language, kind] >= 2 for language in ("en", "zh") for kind in KINDS)


def test_lyrics_with_every_section_and_line_count_pass() -> None:
    item = _item("en-lyrics-rain")
    verse = "\n".join(
        [
            "Neon rain on the city street",
            "Umbrellas bloom in the night",
            "Taxis hiss by",
            "Light on wet glass",
        ]
    )
    chorus = "\n".join(
        ["Rain, rain, carry me home", "Through the city night", "Every window glows", "I am alone"]
    )
    good = f"[Verse 1]\n{verse}\n\n[Chorus]\n{chorus}\n\n[Verse 2]\n{verse}\n\n[Chorus]\n{chorus}"
    assert _failed(_run(item, good)) == set()
    short = good.replace("Taxis hiss by\n", "", 1)
    assert _failed(_run(item, short)) == {"line counts"}
    paragraph = good.replace(
        "Light on wet glass",
        "and the light on the wet glass is shining as I walk alone all night long",
    )
    assert _failed(_run(item, paragraph)) == {"singable lines"}


def test_a_chinese_summary_keeping_people_and_facts_passes_and_an_english_one_does_not() -> None:
    item = _item("zh-summary-zine")
    good = "小林说杂志周五送印刷厂；阿明周三前画完封面；小雨说预算120元。"
    assert _failed(_run(item, good)) == set()
    english = "Xiaolin says the zine goes to print on Friday; the budget is 120."
    assert {"script", "people named"} <= _failed(_run(item, english))


def test_a_quiz_is_read_from_what_the_plugin_stored() -> None:
    item = _item("en-quiz-haiku")
    question = {"question": "How many syllables has a haiku?", "answer": "B"}
    quiz = [dict(question, choices=["3", "17", "14", "5"]) for _ in range(3)]
    assert _failed(_run(item, "Quiz", quiz=quiz)) == set()
    repeated = [dict(question, choices=["17", "17", "14", "5"])] * 3
    assert "four distinct choices" in _failed(_run(item, "Quiz", quiz=repeated))
    assert "question count" in _failed(_run(item, "Quiz", quiz=quiz[:2]))
    off = [dict(q, question="What is Python?") for q in quiz]
    assert _failed(_run(item, "Quiz", quiz=off)) == {"questions on topic"}


def test_a_story_keeps_its_names_and_the_recap_opens_with_the_premise() -> None:
    item = _item("en-story-lighthouse")
    premise = "a lighthouse keeper named Mara finds a map in a bottle"
    parts = ("Mara climbed the stairs.", "The storm came; Mara lit a candle.")
    recap = f"Premise: {premise}\nCast: Mara\n\nMara found a map, then a storm came."
    assert _failed(_run(item, *parts, recap)) == set()
    forgot = ("Mara climbed the stairs.", "The storm came; the keeper lit a candle.", recap)
    assert _failed(_run(item, *forgot)) == {"names kept in every part"}


def test_the_targets_need_every_structural_check_and_nine_in_ten_of_the_rest() -> None:
    def item(language: str, structure: bool, language_ok: bool) -> dict[str, object]:
        return {
            "language": language,
            "checks": [
                {"category": "structure", "passed": structure},
                {"category": "language", "passed": language_ok},
            ],
        }

    fine = [item("en", True, True)] * 9 + [item("en", True, False)]
    assert targets_met(summarize_config(fine))
    assert not targets_met(summarize_config([*fine[:-1], item("en", False, True)]))
    assert not targets_met(summarize_config([*fine[:-2], *[item("en", True, False)] * 2]))


async def test_tokens_are_read_from_the_cores_own_metrics(console: Console) -> None:
    from benchmarks.quality.driver import tokens_generated

    assert tokens_generated(console.core) == 0
    await console.type('/rewrite text:"It rained." style:noir')
    # The scripted engine writes one token a word: "Scripted reply to: Rewrite in the…"
    assert tokens_generated(console.core) >= 5
