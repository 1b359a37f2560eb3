"""Whether a bot's command declarations fit Discord's and Slack's limits."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core import Core
from bot.plugin import CommandSpec


def platform_problems(
    commands: Core | Mapping[str, CommandSpec], *, slack_prefix: str = ""
) -> list[str]:
    """Every way the commands break Discord's or Slack's limits, each naming the command.

    Give it a loaded bot (so the plugins' own translations count: Discord limits a Chinese
    name or description too) or its commands. An empty list means every platform takes them.
    """
    # The adapters' modules hold each platform's rules; only they import its library.
    from bot.adapters.discord.commands import check_declarations as discord_problems
    from bot.adapters.slack.commands import check_declarations as slack_problems

    specs = commands.plugins.commands if isinstance(commands, Core) else commands
    return [f"Discord: {p}" for p in discord_problems(specs)] + [
        f"Slack: {p}" for p in slack_problems(specs, slack_prefix)
    ]


def assert_fits_platforms(
    commands: Core | Mapping[str, CommandSpec], *, slack_prefix: str = ""
) -> None:
    """Fail with every problem listed when a declaration breaks a platform's limits."""
    problems = platform_problems(commands, slack_prefix=slack_prefix)
    assert not problems, "declarations the platforms would refuse:\n" + "\n".join(problems)
