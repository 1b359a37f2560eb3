"""Reloading a plugin on Discord: changed commands are registered again, unchanged ones not.

Real discord.py against the local Discord of tests/fake_discord.py; the bot's owner types
`/skald reload plugin:haiku` after editing the README's example plugin.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.adapters.discord.adapter import DiscordAdapter
from bot.adapters.discord.credentials import DiscordCredentials
from bot.config import DiscordSettings, PluginSettings
from bot.core import Core
from tests.bot_processes import readme_plugin
from tests.conftest import make_config
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine

PUT_COMMANDS = "PUT /applications/{application_id}/commands"
ADMINISTRATOR = 1 << 3


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "custom_plugins"
    folder.mkdir()
    for name, text in readme_plugin().items():
        (folder / name).write_text(text)
    return folder


@pytest_asyncio.fixture
async def adapter(
    fake: FakeDiscord, tmp_path: Path, plugins: Path
) -> AsyncIterator[DiscordAdapter]:
    config = dataclasses.replace(
        make_config(tmp_path / "data"),
        plugins=PluginSettings(builtin=("help", "skald"), folders=(plugins,), entry_points=False),
    )
    core = await Core.open(config, ScriptedEngine())
    await core.engine.start()
    running = DiscordAdapter(
        core,
        DiscordCredentials(fake.token, fake.api_url),
        DiscordSettings(),
        clock=time.monotonic,
        guild_ready_timeout=0.05,
    )
    await running.start()
    yield running
    await running.close()
    await core.close()


async def run(
    fake: FakeDiscord,
    adapter: DiscordAdapter,
    name: str,
    options: dict[str, Any],
    subcommand: str | None = None,
) -> str:
    """Type a command as the bot's owner; returns the reply once it is complete."""
    payload = fake.slash(
        name, options, subcommand=subcommand, user_id=fake.owner_id, permissions=ADMINISTRATOR
    )
    record = await fake.dispatch(payload)
    await fake.wait_for_callback(record.id)
    await fake.wait_until(lambda: not adapter._serving, timeout_s=10)
    message = fake.message(fake.interaction(record.id).original_message_id or 0)
    return str(message["content"])


async def test_a_reload_that_changes_the_commands_registers_them_again(
    fake: FakeDiscord, adapter: DiscordAdapter, plugins: Path
) -> None:
    assert len(fake.calls_to(PUT_COMMANDS)) == 1
    assert fake.command("haiku") is not None
    source = plugins / "haiku.py"
    source.write_text(
        source.read_text().replace(
            '@command("haiku", "Write a haiku about something")',
            '@command("senryu", "Write a senryu about something")',
        )
    )

    done = await run(fake, adapter, "skald", {"plugin": "haiku"}, subcommand="reload")

    assert done == "Reloaded haiku."
    assert len(fake.calls_to(PUT_COMMANDS)) == 2
    assert fake.command("haiku") is None
    senryu = fake.command("senryu")
    assert senryu is not None and senryu["description"] == "Write a senryu about something"
    # The new command is served, not only registered.
    assert "Scripted reply to:" in await run(fake, adapter, "senryu", {"subject": "a commute"})


async def test_a_reload_that_changes_nothing_registers_nothing(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    done = await run(fake, adapter, "skald", {"plugin": "haiku"}, subcommand="reload")

    assert done == "Reloaded haiku."
    assert len(fake.calls_to(PUT_COMMANDS)) == 1
