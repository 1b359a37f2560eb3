"""The plugin author's kit (bot/testing), used here as a plugin author uses it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest

from bot import Attachment, Context, NoOptions, Param, Plugin, command
from bot.core import Core
from bot.testing import ChannelDriver, ScriptedEngine, assert_fits_platforms, platform_problems

PROMPTS = """\
en:
  system: You greet people warmly, in one sentence.
  greet: "Greet {{ person }}."
zh:
  system: 你用一句话热情地问候别人。
  greet: "问候{{ person }}。"
"""


@dataclass(frozen=True)
class GreetOptions:
    """Options of /greet."""

    name: Annotated[str, Param("Whom to greet", max_length=40)]


class Greet(Plugin):
    """A small plugin with a generated reply, an admin command and a file."""

    name = "greet"
    description = "Greetings"

    @command("greet", "Greet someone", follow_up="greet-again")
    async def greet(self, ctx: Context[GreetOptions]) -> None:
        """One generated greeting."""
        await ctx.generate(ctx.prompts.chat("greet", person=ctx.options.name))

    @command("greet-again", "Greet once more")
    async def again(self, ctx: Context[NoOptions]) -> None:
        """A fixed line."""
        await ctx.reply.write("Hello again.")

    @command("greet-card", "A greeting card as a file", admin=True)
    async def card(self, ctx: Context[NoOptions]) -> None:
        """A notice and an attachment."""
        await ctx.reply.notice("Card printed.")
        await ctx.reply.attach(Attachment("card.txt", b"Hello!"))


@pytest.fixture
def skald_builtins() -> Sequence[str]:
    return ("help", "prefs")


@pytest.fixture
def skald_plugins(tmp_path: Path) -> Sequence[type[Plugin]]:
    (tmp_path / "greet.yaml").write_text(PROMPTS, encoding="utf-8")

    class LocalGreet(Greet):  # defined here: the kit loads a class a test defines, too
        prompt_file = tmp_path / "greet.yaml"

    return [LocalGreet]


async def test_the_test_sets_the_reply_and_reads_the_prompt(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    skald_engine.reply_with("Welcome, Bo, the kettle is on.")
    result = await skald_channel.run("/greet name:Bo")
    assert result.text == "Welcome, Bo, the kettle is on."
    assert result.errors == []
    assert result.generated
    assert skald_engine.prompts == ["Greet Bo."]
    # A command with a follow_up offers Continue beside Regenerate.
    assert result.buttons == ("regenerate", "continue")
    again = await skald_channel.run("/greet-again")
    assert (again.text, again.buttons, again.generated) == ("Hello again.", ("regenerate",), False)


async def test_replies_come_in_order_and_the_last_repeats(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    skald_engine.reply_with("Hi Ann, good morning.", "Hi Cy, good evening.")
    texts = [(await skald_channel.run(f"/greet name:{n}")).text for n in ("Ann", "Cy", "Di")]
    assert texts == ["Hi Ann, good morning.", "Hi Cy, good evening.", "Hi Cy, good evening."]


async def test_a_chosen_language_picks_the_prompts_and_the_notices(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    skald_engine.reply_with("你好，小波，欢迎你来。")
    result = await skald_channel.run("/greet name:小波", language="zh")
    assert skald_engine.prompts == ["问候小波。"]
    assert result.text == "你好，小波，欢迎你来。"
    refused = await skald_channel.run("/greet-card", language="zh")
    assert len(refused.errors) == 1 and "管理员" in refused.errors[0], refused.errors


async def test_admins_only_commands_and_the_events_of_a_reply(
    skald_channel: ChannelDriver,
) -> None:
    refused = await skald_channel.run("/greet-card", user="bo", admin=False)
    assert refused.errors and not refused.accepted and refused.attachments == []
    result = await skald_channel.run("/greet-card", user="ada", admin=True)
    assert result.errors == []
    assert [n.text for n in result.notices] == ["Card printed."]
    assert [(a.filename, a.content) for a in result.attachments] == [("card.txt", b"Hello!")]


async def test_a_line_that_cannot_be_parsed_gets_an_error_like_on_a_platform(
    skald_channel: ChannelDriver, skald_engine: ScriptedEngine
) -> None:
    result = await skald_channel.run('/greet name:"Bo')
    assert result.errors == ['Unbalanced quote: every " needs a closing ".']
    missing = await skald_channel.run("/greet")
    assert missing.errors and "name" in missing.errors[0]
    assert skald_engine.requests == []


async def test_the_declarations_fit_both_platforms(skald_bot: Core) -> None:
    assert platform_problems(skald_bot) == []
    assert_fits_platforms(skald_bot)


@dataclass(frozen=True)
class Wordy:
    """Options no platform takes."""

    tone: Annotated[str, Param("The tone of the reply, " * 5, max_length=20)]


class Misfit(Plugin):
    """Declarations that break the platforms' limits."""

    name = "misfit"

    @command("misfit", "A wordy option")
    async def misfit(self, ctx: Context[Wordy]) -> None:
        """Never runs."""


def test_a_declaration_over_a_platform_limit_is_named() -> None:
    problems = platform_problems({spec.name: spec for spec in Misfit.command_specs()})
    assert problems == [
        "Discord: /misfit (plugin misfit), option 'tone': the description must be 1-100 characters"
    ]
    with pytest.raises(AssertionError, match="1-100 characters"):
        assert_fits_platforms({spec.name: spec for spec in Misfit.command_specs()})
    long_prefix = "x" * 30
    slack = platform_problems(
        {spec.name: spec for spec in Greet.command_specs()}, slack_prefix=long_prefix
    )
    assert slack == [
        f"Slack: /{long_prefix}{word}: not a lowercase slash command of 1-32 characters"
        for word in ("greet", "greet-again", "greet-card")
    ]
