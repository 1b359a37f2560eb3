"""Shared fixtures: a scripted engine, a core on a real SQLite file, a console to type into.

They are the shipped kit's (bot/testing), with every built-in plugin loaded. Every test
also gets discord.py's addresses back as they were, whatever a Discord test left.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core import Core
from bot.testing import ScriptedEngine, make_config
from engine import Engine

# The kit's plugin under its own module name: the same name its `pytest11` entry point
# has, so pytest registers it once whether the installed entry point loaded it or not.
pytest_plugins = ["tests.real_engine", "bot.testing.plugin"]

__all__ = ["Console", "make_config", "open_core"]


class Console:
    """A console adapter on a core, driven line by line; collects what it prints."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.out = io.StringIO()
        self.adapter = ConsoleAdapter(core, io.StringIO(), self.out, interactive=False)

    async def type(self, *lines: str) -> str:
        """Type lines as a user would; returns what the bot printed for them."""
        start = len(self.out.getvalue())
        for line in lines:
            await self.adapter.handle_line(line)
        return self.out.getvalue()[start:]


@pytest.fixture
def engine() -> ScriptedEngine:
    """A fresh scripted engine."""
    return ScriptedEngine()


@pytest.fixture
def skald_engine(engine: ScriptedEngine) -> ScriptedEngine:
    """The kit's bot runs on `engine`, so a test module that overrides `engine` changes it."""
    return engine


@pytest.fixture
def skald_builtins() -> Sequence[str]:
    """Every built-in plugin."""
    return ("all",)


@pytest.fixture
def core(skald_bot: Core) -> Core:
    """A core with every built-in plugin on a SQLite file in a temporary folder."""
    return skald_bot


@pytest.fixture
def console(core: Core) -> Console:
    """The console of that core."""
    return Console(core)


async def open_core(data_dir: Path, engine: Engine, **changes: Any) -> Core:
    """Open a core the way the bot does (helper for tests that restart it)."""
    return await Core.open(make_config(data_dir, **changes), engine)


@pytest.fixture(autouse=True)
def discord_addresses_restored() -> Iterator[None]:
    """discord.py's API and gateway addresses as they were: a failed test leaves no fake's."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
