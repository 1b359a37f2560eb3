"""Prompt files are data: every template exists in English and Chinese and renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.prompts import PROMPTS_DIR, PromptError, PromptFile
from bot.safety import RATINGS
from tests.conftest import Console
from tests.scripted_engine import ScriptedEngine

CJK = re.compile(r"[\u4e00-\u9fff]")


# The core's own prompt data: rating guidance, one template per rating.
CORE_FILES = {"safety", "sampling"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PROMPTS_DIR.glob("*.yaml") if p.stem not in CORE_FILES),
    ids=lambda p: p.stem,
)
def test_each_prompt_file_has_both_languages_with_the_same_templates(path: Path) -> None:
    prompts = PromptFile(path)
    assert "system" in prompts.names()


def test_rating_guidance_exists_for_every_rating_in_both_languages() -> None:
    guidance = PromptFile(PROMPTS_DIR / "safety.yaml")
    assert guidance.names() == set(RATINGS)
    for rating in RATINGS:
        assert rating in guidance.render("en", rating)
        assert CJK.search(guidance.render("zh", rating))


async def test_a_chinese_channel_renders_every_plugin_prompt_in_chinese(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type("/prefs set key:language value:zh", "有人在吗？")
    lines = [
        "/story start premise:灯塔",
        "/story continue direction:暴风雨",
        "/story recap",
        "/story end",
        "/lyrics topic:雨 structure:intro-verse-pre-chorus-chorus-bridge-hook-outro",
        "/summarize",
        "/tutor explain topic:比喻 level:advanced",
        "/tutor quiz topic:诗 questions:2 level:intermediate",
        "/tutor feedback text:天黑了。 focus:style",
        "/rewrite text:早上好 style:武侠",
    ]
    for line in lines:
        before = len(engine.requests)
        out = await console.type(line)
        assert "⚠" not in out, out
        assert len(engine.requests) > before, line
        for messages, _params in engine.requests[before:]:
            prompts = [m.content for m in messages if m.role != "assistant"]
            assert all(CJK.search(text) for text in prompts), line


def test_a_template_with_a_missing_language_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "half.yaml"
    path.write_text("en:\n  system: hi\n")
    with pytest.raises(PromptError, match="needs a section for each language: en, zh"):
        PromptFile(path)
    path.write_text("en:\n  system: hi\n  extra: x\nzh:\n  system: 你好\n")
    with pytest.raises(PromptError, match="languages must define the same templates"):
        PromptFile(path)


def test_templates_without_variables_render_once_and_the_others_stay_strict(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "en:\n  system: '  Be brief.  '\n  ask: 'Tell me about {{ topic }}.'\n"
        "zh:\n  system: 简短。\n  ask: '讲讲{{ topic }}。'\n"
    )
    prompts = PromptFile(path)

    assert prompts.render("en", "system") == "Be brief."
    assert prompts.render("en", "system", topic="ignored") == "Be brief."
    assert prompts.render("zh", "system") == "简短。"
    assert prompts.render("fr", "system") == "Be brief."  # unknown language: English
    assert prompts.render("en", "ask", topic="rain") == "Tell me about rain."
    with pytest.raises(Exception, match="topic"):
        prompts.render("en", "ask")
    with pytest.raises(PromptError, match="no template 'missing'"):
        prompts.render("en", "missing")
