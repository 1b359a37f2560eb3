"""The pytest plugin (entry point `pytest11`): fixtures for testing a Skald plugin.

A plugin author's test names its plugin once, then types commands:

    @pytest.fixture
    def skald_plugins():
        return [Haiku]

    async def test_haiku(skald_channel, skald_engine):
        skald_engine.reply_with("old pond\\nfrog leaps in\\nwater's sound")
        result = await skald_channel.run("/haiku subject:frog")
        assert result.text.count("\\n") == 2
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.core import Core
from bot.plugin import Plugin
from bot.testing.bot import open_bot
from bot.testing.channel import ChannelDriver
from bot.testing.engine import ScriptedEngine

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the kit's async fixtures need it
    pytest_asyncio = None  # type: ignore[assignment]


@pytest.fixture
def skald_plugins() -> Sequence[type[Plugin]]:
    """The plugin classes under test: override this fixture to name yours."""
    return []


@pytest.fixture
def skald_builtins() -> Sequence[str]:
    """Built-in plugins loaded beside yours (/help and /prefs); ["all"] for every one."""
    return ("help", "prefs")


@pytest.fixture
def skald_engine() -> ScriptedEngine:
    """A scripted engine: set its replies, read back the prompts it was given."""
    return ScriptedEngine()


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def skald_bot(
        tmp_path: Path,
        skald_engine: ScriptedEngine,
        skald_plugins: Sequence[type[Plugin]],
        skald_builtins: Sequence[str],
    ) -> AsyncIterator[Core]:
        """A bot with your plugins loaded, on a SQLite file in a temporary folder."""
        core = await open_bot(tmp_path, skald_engine, skald_plugins, builtin=skald_builtins)
        yield core
        await core.close()

else:  # pragma: no cover

    @pytest.fixture
    def skald_bot() -> Core:
        """Without pytest-asyncio the bot cannot run: say how to get it."""
        pytest.fail("skaldbot's test fixtures need pytest-asyncio: pip install pytest-asyncio")


@pytest.fixture
def skald_channel(skald_bot: Core) -> ChannelDriver:
    """A channel of that bot: `await skald_channel.run("/cmd option:value", user=...)`."""
    return ChannelDriver(skald_bot)
