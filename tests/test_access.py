"""config.yaml's access rules: one decision on every platform, and names checked at start-up."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.access import Access
from bot.config import CommandAccess, ConfigError, PermissionSettings, RouterSettings, load_config
from bot.core import Core
from bot.invocation import ChannelRef, User
from tests.conftest import Console, make_config, open_core
from tests.scripted_engine import ScriptedEngine

ADA = User("42", "ada", roles=("900",), role_names=("Writers",))
BEA = User("43", "bea")


def test_deny_wins_and_an_allow_list_lets_only_those_named_through() -> None:
    access = Access(
        {
            "lyrics": CommandAccess(deny_users=("discord:43",)),
            "story": CommandAccess(allow_roles=("writers",)),
            "story start": CommandAccess(deny_roles=("900",)),
            "rewrite": CommandAccess(allow_users=("slack:43",)),
        }
    )
    assert access.allows("lyrics", "discord", ADA)
    assert not access.allows("lyrics", "discord", BEA)
    # The same id on another platform is another person.
    assert access.allows("lyrics", "slack", BEA)
    # A group's rule covers its commands (role names in any case), and a command's own
    # rule applies as well.
    assert access.allows("story continue", "discord", ADA)
    assert not access.allows("story continue", "discord", BEA)
    assert not access.allows("story start", "discord", ADA)
    # On a platform without roles, only allow_users can let someone through.
    assert access.allows("rewrite", "slack", BEA)
    assert not access.allows("rewrite", "console", ADA)
    refusal = access.refusal("story start", "discord", ADA)
    assert refusal is not None and refusal.render("en") == "You can't use /story start here."


async def test_the_console_honours_the_rules(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    rules = {"lyrics": CommandAccess(deny_users=("console:ada",))}
    core = await open_core(tmp_path, engine, access=rules)
    try:
        console = Console(core)
        out = await console.type("/lyrics topic:rain")
        assert "You can't use /lyrics here." in out
        assert not engine.requests
        out = await console.type("/rewrite text:hi style:noir")
        assert "Scripted reply" in out
    finally:
        await core.close()


async def test_a_refused_person_gets_no_suggestions(tmp_path: Path) -> None:
    rules = {"rewrite": CommandAccess(allow_users=("console:ada",))}
    core = await open_core(tmp_path, ScriptedEngine(), access=rules)
    try:
        channel = ChannelRef("console", "local", "console")
        typed = {"text": "hello"}
        ada, bea = User("ada", "ada"), User("bea", "bea")
        assert await core.autocomplete("rewrite", "style", "pir", typed, channel, ada) == ["pirate"]
        assert await core.autocomplete("rewrite", "style", "pir", typed, channel, bea) == []
        # Someone the adapter could not name is a stranger: an allow list refuses them.
        assert await core.autocomplete("rewrite", "style", "pir", typed, channel) == []
    finally:
        await core.close()


async def test_unknown_command_names_stop_start_up_naming_each(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        access={"stroy start": CommandAccess(deny_users=("discord:1",)), "story": CommandAccess()},
        permissions=PermissionSettings(admin_commands=("rewrite", "lyric")),
        router=RouterSettings(cooldown_s=0, cooldowns={"tutor quizz": 5, "summarize": 5}),
    )
    with pytest.raises(ConfigError) as caught:
        await Core.open(config, ScriptedEngine())
    message = str(caught.value)
    assert "access: 'stroy start' (did you mean 'story start'?)" in message
    assert "permissions.admin_commands: 'lyric' (did you mean 'lyrics'?)" in message
    assert "router.cooldowns: 'tutor quizz' (did you mean 'tutor quiz'?)" in message
    # Names that exist (a group, for access) are not reported.
    assert "'story'" not in message and "rewrite" not in message and "summarize" not in message
    # The database was closed, so the same folder opens again at once.
    core = await open_core(tmp_path, ScriptedEngine())
    await core.close()


def test_skaldbot_run_stops_on_an_unknown_command_name(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        # A server that is never asked: start-up stops before the model would load.
        "engine: {backend: remote, urls: ['http://127.0.0.1:9']}\n"
        "plugins: {entry_points: false, folders: []}\n"
        "router: {cooldowns: {lyric: 5}}\n"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "SKALD_"))
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert (
        "skaldbot: configuration problem: config.yaml names commands that no loaded plugin "
        "has: router.cooldowns: 'lyric' (did you mean 'lyrics'?)"
    ) in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_reload_that_removes_a_named_command_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "custom_plugins"
    folder.mkdir()
    source = folder / "echo.py"

    def plugin(command: str) -> str:
        return (
            "from dataclasses import dataclass\nfrom typing import Annotated\n"
            "from bot import Context, Param, Plugin, command\n"
            "@dataclass(frozen=True)\nclass EchoOptions:\n"
            "    text: Annotated[str, Param('What to echo')]\n"
            "class Echo(Plugin):\n    name = 'echo'\n"
            f"    @command({command!r}, 'Echo some text')\n"
            "    async def run(self, ctx: Context[EchoOptions]) -> None:\n"
            "        await ctx.reply.write(ctx.options.text)\n"
        )

    source.write_text(plugin("echo"))
    config = make_config(tmp_path / "data", access={"echo": CommandAccess(deny_users=("x:1",))})
    config = dataclasses.replace(
        config, plugins=dataclasses.replace(config.plugins, folders=(folder,))
    )
    core = await Core.open(config, ScriptedEngine())
    try:
        source.write_text(plugin("shout"))
        with caplog.at_level(logging.WARNING, logger="bot.core"):
            await core.reload_plugin("echo")
        assert "shout" in core.plugins.commands
        assert "after reloading echo, config.yaml names an unknown command: access: 'echo'" in (
            caplog.text
        )
    finally:
        await core.close()


def test_the_old_discord_access_key_moves_to_access_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "discord:\n"
        "  access:\n"
        '    "story start": {allow_roles: [Writers], deny_users: ["123", "slack:U9"]}\n'
        "access:\n"
        '  lyrics: {deny_users: ["console:you"]}\n'
    )
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config = load_config(path, env={})
    assert "discord.access in config.yaml is deprecated" in caplog.text
    assert config.access["story start"] == CommandAccess(
        allow_roles=("Writers",), deny_users=("discord:123", "slack:U9")
    )
    assert config.access["lyrics"] == CommandAccess(deny_users=("console:you",))
    assert config.discord.access == {}


def test_users_in_access_must_name_their_platform(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('access:\n  lyrics: {deny_users: ["123"]}\n')
    with pytest.raises(ConfigError, match=r"access\.lyrics\.deny_users: write each user as"):
        load_config(path, env={})
