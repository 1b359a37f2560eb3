"""Suggestions while an option is being typed (what Discord shows, from the declarations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import Core
from bot.invocation import ChannelRef
from bot.loader import PluginSource

CHANNEL = ChannelRef("test", "g", "c")


async def test_preference_keys_and_then_their_allowed_values(core: Core) -> None:
    keys = await core.autocomplete("prefs set", "key", "genre", {}, CHANNEL)
    assert keys == ["lyrics.genre", "story.genre"]
    values = await core.autocomplete("prefs set", "value", "m", {"key": "story.genre"}, CHANNEL)
    assert values == ["mystery", "romance", "comedy"]
    assert await core.autocomplete("prefs set", "value", "", {"key": "nope"}, CHANNEL) == []


async def test_styles_for_rewrite_and_choices_for_declared_options(core: Core) -> None:
    assert (await core.autocomplete("rewrite", "style", "no", {}, CHANNEL))[0] == "noir"
    assert await core.autocomplete("story start", "length", "l", {}, CHANNEL) == ["long"]
    assert await core.autocomplete("story start", "nothing", "x", {}, CHANNEL) == []
    assert await core.autocomplete("no such command", "x", "", {}, CHANNEL) == []


SLOW_PLUGIN = """
import asyncio
from dataclasses import dataclass
from typing import Annotated

from bot import AutocompleteRequest, Context, Param, Plugin, command


async def slow(request: AutocompleteRequest) -> list[str]:
    await asyncio.sleep(10)
    return ["late"]


async def broken(request: AutocompleteRequest) -> list[str]:
    raise RuntimeError("suggestion service down")


@dataclass(frozen=True)
class Options:
    first: Annotated[str, Param("Slow suggestions", autocomplete=slow)]
    second: Annotated[str, Param("Broken suggestions", autocomplete=broken)]


class Slowpoke(Plugin):
    name = "slowpoke"

    @command("slowpoke", "Suggests slowly")
    async def run(self, ctx: Context[Options]) -> None:
        await ctx.reply.write("ok")
"""


async def test_a_slow_or_failing_suggestion_gives_nothing_instead_of_an_error(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "slowpoke.py"
    path.write_text(SLOW_PLUGIN)
    await core.plugins.load(PluginSource("file", str(path), "slowpoke"))
    monkeypatch.setattr("bot.core.AUTOCOMPLETE_TIMEOUT_S", 0.05)
    assert await core.autocomplete("slowpoke", "first", "", {}, CHANNEL) == []
    assert await core.autocomplete("slowpoke", "second", "", {}, CHANNEL) == []
