"""Shared fixtures: a scripted engine, a core on a real SQLite file, a console to type into."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.adapters.console import ConsoleAdapter
from bot.config import Config, ConsoleSettings, FairnessSettings, PluginSettings, RouterSettings
from bot.core import Core
from engine import Engine
from tests.scripted_engine import ScriptedEngine

pytest_plugins = ["tests.real_engine"]


def make_config(data_dir: Path, **changes: Any) -> Config:
    """A config for tests: data in `data_dir`, no cooldown, no entry-point plugins.

    Tests often send many commands as one user, so the per-user engine cap is off (the
    fairness tests set their own).
    """
    config = Config(
        data_dir=data_dir,
        router=RouterSettings(cooldown_s=0),
        fairness=FairnessSettings(user_concurrency=0),
        plugins=PluginSettings(entry_points=False),
        console=ConsoleSettings(user="ada", admin=True),
    )
    return dataclasses.replace(config, **changes)


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


@pytest_asyncio.fixture
async def core(tmp_path: Path, engine: ScriptedEngine) -> AsyncIterator[Core]:
    """A core with every built-in plugin on a SQLite file in a temporary folder."""
    core = await Core.open(make_config(tmp_path), engine)
    yield core
    await core.close()


@pytest.fixture
def console(core: Core) -> Console:
    """The console of that core."""
    return Console(core)


async def open_core(data_dir: Path, engine: Engine, **changes: Any) -> Core:
    """Open a core the way the bot does (helper for tests that restart it)."""
    return await Core.open(make_config(data_dir, **changes), engine)
