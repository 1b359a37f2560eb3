"""/muse, tested with skaldbot's fixtures (skald_channel, skald_engine, skald_bot)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import skald_muse
from skald_muse import Muse, prompt_gate, prompt_problem, theme_of

from bot import Plugin
from bot.core import Core
from bot.testing import ChannelDriver, ScriptedEngine, assert_fits_platforms

A_PROMPT = (
    "You inherit a lighthouse whose keeper left one instruction: never light the lamp on "
    "Thursdays. Tonight is Thursday, and a ship is signalling."
)
ZH_PROMPT = "你收到一封二十年前寄出的信，寄信人是你自己。信里只写了一句话：别去那座桥。"


@pytest.fixture
def skald_plugins() -> Sequence[type[Plugin]]:
    return [Muse]


async def test_the_day_s_prompt_is_written_once_and_shared(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    skald_engine.reply_with(A_PROMPT)
    first = await skald_channel.run("/muse form:story", user="ann")
    assert first.text == A_PROMPT and first.errors == []
    assert "Write today's prompt for a story. Today's theme word:" in skald_engine.prompts[0]
    # Someone else asks later the same day: the same prompt, and no second request.
    skald_engine.reply_with("A different prompt that nobody should see today, surely.")
    again = await skald_channel.run("/muse form:story", user="bo")
    assert again.text == A_PROMPT
    assert len(skald_engine.requests) == 1


async def test_tomorrow_brings_a_new_prompt(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skald_muse, "today", lambda: "2026-01-01")
    skald_engine.reply_with(A_PROMPT)
    await skald_channel.run("/muse")
    monkeypatch.setattr(skald_muse, "today", lambda: "2026-01-02")
    tomorrow = "You wake up fluent in a language nobody else speaks. Write the first conversation."
    skald_engine.reply_with(tomorrow)
    assert (await skald_channel.run("/muse")).text == tomorrow
    assert len(skald_engine.requests) == 2


async def test_a_preamble_is_never_shown(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    # A small model often talks about the prompt first; the gate asks for another reply.
    skald_engine.reply_with("Sure! Here is a writing prompt for your channel today:", A_PROMPT)
    result = await skald_channel.run("/muse")
    assert result.text == A_PROMPT
    assert len(skald_engine.requests) == 2


async def test_a_reply_that_is_no_prompt_is_not_kept_for_the_day(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    # Refused twice, the third reply is shown whatever it is; but it is not the day's.
    skald_engine.reply_with("1. A dragon. 2. A castle. 3. A knight who is afraid of horses.")
    await skald_channel.run("/muse")
    skald_engine.reply_with(A_PROMPT)
    assert (await skald_channel.run("/muse")).text == A_PROMPT


async def test_in_chinese_the_prompt_and_the_reply_are_chinese(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    skald_engine.reply_with(ZH_PROMPT)
    result = await skald_channel.run("/muse form:poem", language="zh")
    assert result.text == ZH_PROMPT
    assert skald_engine.prompts[0].startswith("为诗出今天的写作题。今天的主题词：")


async def test_the_channel_s_usual_form_is_a_preference(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    set_pref = await skald_channel.run("/prefs set key:muse.form value:scene", admin=True)
    assert set_pref.errors == []
    skald_engine.reply_with(A_PROMPT)
    await skald_channel.run("/muse")
    assert "prompt for a scene." in skald_engine.prompts[0]
    refused = await skald_channel.run("/prefs set key:muse.form value:novel", admin=True)
    assert refused.errors


async def test_every_declaration_fits_discord_and_slack(skald_bot: Core) -> None:
    assert_fits_platforms(skald_bot)


def test_what_is_no_writing_prompt() -> None:
    assert prompt_problem(A_PROMPT, done=True) is None
    assert prompt_problem(ZH_PROMPT, done=True) is None
    assert prompt_problem("Here's today's prompt: a door.", done=True) == "preamble"
    assert prompt_problem("好的，以下是今天的写作题：", done=True) == "preamble"
    assert prompt_problem("1. A door that opens inward only on Sundays.", done=True) == "list"
    assert prompt_problem("A locked door.", done=True) == "too short"
    assert prompt_problem("一扇锁着的门。", done=True) == "too short"
    # While the reply streams, a short opening waits for more text.
    assert prompt_gate("You find", False) is None
    assert prompt_gate("Sure! Here is a writing prompt", False) is False


def test_the_theme_stays_all_day_and_changes_with_the_day() -> None:
    themes = ["lantern", "harbor", "letter", "orchard", "map", "train"]
    assert theme_of(themes, "2026-01-01", "a") == theme_of(themes, "2026-01-01", "a")
    days = {theme_of(themes, f"2026-01-{d:02}", "a") for d in range(1, 15)}
    assert len(days) > 1
