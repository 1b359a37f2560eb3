"""Every word in the reader's language: catalogs, a whole zh conversation, Discord names."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.catalogs import check
from bot.cli import main
from bot.config import ConsoleSettings, RouterSettings
from bot.core import Core
from bot.i18n import Join, Ordinal, _, _n, add_plugin_messages, locale_of, remove_plugin_messages
from bot.invocation import ChannelRef, User
from bot.prompts import PROMPTS_DIR, PromptFile
from tests.conftest import Console, make_config
from tests.scripted_engine import ScriptedEngine
from tests.test_plugin_loading import README, core_with_folder, readme_example

# What a zh channel may still show in Latin letters: what people type (command and option
# names, option values they gave), names of products, and the incident ids.
TYPED = re.compile(
    r"/[a-z]+(?: [a-z]+)?"  # a command: /story start
    r"|`[^`]*`"  # an option or preference name: `premise`
    r"|\b[a-z_.]+:(?:\"[^\"]*\"|\S*)"  # an option as typed: premise:"..." confirm:true
    r"|'[^']*'"  # a value the person typed, quoted back: 'western'
    r"|\b(?:Skald|Discord|Slack|JSON|ID|A|B|C|D)\b"
    r"|\b[0-9a-f]{8}\b"  # an incident id
)
# Two English words in a row: the start of a sentence (a lone value such as a genre's
# stored name, "fantasy", is what people type for it).
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}[,;:]? +[A-Za-z]{2,}")


def english_left(text: str) -> list[str]:
    """English sentences in what the bot printed, once what people type is set aside."""
    return ENGLISH_SENTENCE.findall(TYPED.sub(" ", text))


def test_every_message_and_prompt_is_translated_in_every_shipped_language() -> None:
    assert check() == []


def test_messages_are_rendered_per_language_with_plurals_ordinals_and_lists() -> None:
    waiting = _("Waiting for the language model: you are {place} in line.", place=Ordinal(3))
    assert waiting.render("en") == "Waiting for the language model: you are 3rd in line."
    assert waiting.render("zh") == "正在等待语言模型：你排在第3位。"
    assert [Ordinal(n).render("en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
    ]  # fmt: skip
    hours = _n("{n} hour", "{n} hours", 1)
    assert (hours.render("en"), _n("{n} hour", "{n} hours", 2).render("en")) == (
        "1 hour",
        "2 hours",
    )
    assert _n("{n} hour", "{n} hours", 2).render("zh_TW") == "2 小時"
    assert Join(("a", "b", "c"), "or").render("zh") == "a、b或c"


def test_platform_locales_map_onto_the_catalogs() -> None:
    assert [locale_of(t) for t in ("zh-CN", "zh-TW", "zh_Hant", "en-GB", "fr", None)] == [
        "zh", "zh_TW", "zh_TW", "en", None, None
    ]  # fmt: skip


async def test_a_channel_speaks_its_preference_else_its_servers_language(core: Core) -> None:
    server_zh = ChannelRef("discord", "g1", "c1", locale="zh-TW")
    # No preference in the channel: the server's language (its base: prompts are per language).
    assert (await core.languages(server_zh)).public == "zh"
    # The person's own locale decides their private notices only.
    person = User("u1", "ada", locale="en-US")
    assert await core.languages(server_zh, person) == core_languages("zh", "en")
    # The channel's preference wins over the server's.
    await core.prefs.set(server_zh.scope, "language", "en", actor="test")
    assert (await core.languages(server_zh)).public == "en"
    # A server language Skald does not speak falls back to config.yaml's.
    assert (await core.languages(ChannelRef("discord", "g2", "c2", locale="fr"))).public == "en"


def core_languages(public: str, private: str) -> Any:
    from bot.i18n import Languages

    return Languages(public, private)


@pytest.fixture
async def zh_console(tmp_path: Path) -> Any:
    """A console whose person is not an admin, in a channel set to Chinese."""
    engine = ScriptedEngine(
        script=ScriptedEngine.replying("从前 有 一座 灯塔 ， 灯塔 里 住着 一位 老人")
    )
    config = dataclasses.replace(
        make_config(tmp_path),
        console=ConsoleSettings(user="ada", admin=False),
        router=RouterSettings(cooldown_s=0, cooldowns={"tutor score": 60}),
    )
    core = await Core.open(config, engine)
    scope = ChannelRef("console", "local", "terminal").scope
    await core.prefs.set(scope, "language", "zh", actor="test")
    await core.prefs.set(scope, "budget.tokens_per_hour", 5, actor="test")
    await core.controls.change(scope, "phrase:lighthouse keeper", True, "test")
    yield Console(core)
    await core.close()


async def test_a_zh_channel_hears_no_english_even_when_everything_goes_wrong(
    zh_console: Console,
) -> None:
    console = zh_console
    lines = [
        "/help",
        "/help command:story start",
        "/prefs show",
        "/stroy start premise:x",  # unknown command
        "/story",  # no subcommand
        "/story strat",  # a wrong subcommand
        "/story start",  # a missing option
        "/summarize messages:500",  # out of range
        "/summarize messages:lots",  # not a number
        "/story start premise:x genre:western",  # a bad choice
        "/summarize colour:blue",  # an unknown option
        "/summarize please",  # words with nowhere to go
        '/story start premise:"a lighthouse',  # an unbalanced quote
        "/story start premise:" + "x" * 600,  # too long
        "/story continue",  # no story yet
        "/tutor answer answers:A",  # no open quiz
        "/tutor score",
        "/tutor score",  # cooldown
        "/prefs set key:story.genre value:mystery",  # admin only
        "/story start premise:the lighthouse keeper",  # a blocked phrase
        "/story start premise:一座灯塔 genre:奇幻",  # works: a choice in its Chinese name
        "/rewrite text:你好 style:noir",  # the channel's budget is spent
    ]
    out = await console.type(*lines)
    printed = [line for line in out.splitlines() if not line.startswith("> ")]
    assert len([p for p in printed if p.startswith("⚠")]) == 17
    leftovers = {line: english_left(line) for line in printed if english_left(line)}
    assert leftovers == {}
    # The same check finds English where there is some.
    assert english_left("⚠ Unknown command /stroy. Did you mean /story?")
    # The bad inputs were told in Chinese, one line each.
    assert "⚠ 未知命令 /stroy。你是不是想用 /story？" in printed
    assert "⚠ `premise`：是必填项（故事讲的是什么）。" in printed
    assert any(p.startswith("⚠ 请慢一点：") for p in printed)
    assert any("这个频道本小时的 5 个词元已经用完" in p for p in printed)
    assert "⚠ 只有服务器管理员可以使用 /prefs set。" in printed
    assert "⚠ 这个频道的分级（普通）不允许这个请求。" in printed
    # The choice reached the prompt in the prompt's language.
    engine = console.core.engine
    assert isinstance(engine, ScriptedEngine)
    assert "开始一个奇幻类型的故事" in engine.requests[-1][0][-1].content


async def test_the_quiz_layout_and_progress_follow_the_channel(zh_console: Console) -> None:
    console = zh_console
    scope = ChannelRef("console", "local", "terminal").scope
    await console.core.prefs.set(scope, "budget.tokens_per_hour", 0, actor="test")
    engine = console.core.engine
    assert isinstance(engine, ScriptedEngine)
    engine.script = ScriptedEngine().script  # a quiz that fits the schema
    out = await console.type("/tutor quiz topic:俳句 questions:2", "/tutor answer answers:A C")
    assert "· 正在出 2 道关于俳句的题目…" in out
    assert "测验：俳句" in out
    assert '请用 /tutor answer answers:"A B" 作答（每道题一个字母）。' in out
    assert "俳句：2 题答对 1 题。" in out


def test_prompts_name_choices_in_their_own_language() -> None:
    story = PromptFile(PROMPTS_DIR / "story.yaml")
    assert "开始一个科幻类型的故事" in story.render(
        "zh", "start", genre="sci-fi", premise="x", words=80
    )
    assert "Begin a sci-fi story" in story.render(
        "en", "start", genre="sci-fi", premise="x", words=80
    )
    lyrics = PromptFile(PROMPTS_DIR / "lyrics.yaml")
    section = lyrics.render(
        "zh",
        "section",
        topic="雨",
        genre="folk",
        mood="hopeful",
        section="主歌",
        lines=4,
        previous="",
    )
    assert "风格：民谣。情绪：充满希望。" in section


def test_a_plugin_ships_its_own_translations_in_its_prompt_file(tmp_path: Path) -> None:
    path = tmp_path / "haiku.yaml"
    path.write_text(
        "en: {system: x}\nzh: {system: x}\n"
        "messages:\n  zh:\n    Write a haiku about something: 写一首俳句\n"
    )
    add_plugin_messages("haiku", PromptFile(path).messages)
    try:
        assert _("Write a haiku about something").render("zh") == "写一首俳句"
        assert _("Write a haiku about something").render("en") == "Write a haiku about something"
    finally:
        remove_plugin_messages("haiku")
    assert _("Write a haiku about something").render("zh") == "Write a haiku about something"


def walk(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A command and everything under it: subcommands, options, choices."""
    found = [item]
    for child in item.get("options", []) + item.get("choices", []):
        found.extend(walk(child))
    return found


def test_discord_commands_carry_chinese_names_and_descriptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("plugins:\n  entry_points: false\n")
    assert main(["--config", str(config), "commands", "--format", "discord"]) == 0
    payload: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    name = re.compile(r"^[-_\w]{1,32}$")
    items = [i for command in payload for i in walk(command)]
    for item in items:
        for locale in ("zh-CN", "zh-TW"):
            localized = item["name_localizations"][locale]
            assert name.match(localized) and localized == localized.lower(), item
            if "description" in item:  # choices have only a name
                assert 1 <= len(item["description_localizations"][locale]) <= 100, item
    story = next(c for c in payload if c["name"] == "story")
    assert story["name_localizations"] == {"zh-CN": "故事", "zh-TW": "故事"}
    start = next(o for o in story["options"] if o["name"] == "start")
    genre = next(o for o in start["options"] if o["name"] == "genre")
    fantasy = next(c for c in genre["choices"] if c["value"] == "fantasy")
    assert fantasy["name_localizations"] == {"zh-CN": "奇幻", "zh-TW": "奇幻"}
    assert start["description_localizations"]["zh-TW"] == "在這個頻道開始一個新故事"


async def test_a_custom_plugins_own_translations_reach_help_in_a_zh_channel(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "custom_plugins"
    folder.mkdir()
    (folder / "haiku.py").write_text(readme_example("python"))
    messages = README.read_text(encoding="utf-8").split("## Add a plugin", 1)[1]
    section = re.findall(r"```yaml\n(messages:.*?)```", messages, re.DOTALL)[0]
    (folder / "haiku.yaml").write_text(readme_example("yaml") + section)
    core = await core_with_folder(tmp_path / "data", folder, ScriptedEngine())
    try:
        console = Console(core)
        await console.type("/prefs set key:language value:zh")
        out = await console.type("/help")
        assert "/haiku — 写一首关于某物的俳句" in out
    finally:
        await core.close()
