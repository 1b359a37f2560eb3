"""A bot for tests: a core on a SQLite file in a temporary folder, with chosen plugins."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.config import Config, ConsoleSettings, FairnessSettings, PluginSettings, RouterSettings
from bot.core import Core
from bot.loader import PluginSource
from bot.plugin import Plugin
from engine import Engine

# Plugin classes defined inside a test function cannot be imported by name: they are put
# in a module of their own under this prefix, so the loader finds them like any other.
_LOCAL_MODULE = "skaldbot_testing_local"
_local_count = itertools.count(1)


def make_config(data_dir: Path, **changes: Any) -> Config:
    """A config for tests: data in `data_dir`, no cooldown, no installed entry points.

    Tests often send many commands as one user, so the per-user engine cap is off. Any
    setting can be changed by name, e.g. `make_config(tmp_path, language="zh")`.
    """
    config = Config(
        data_dir=data_dir,
        router=RouterSettings(cooldown_s=0),
        fairness=FairnessSettings(user_concurrency=0),
        plugins=PluginSettings(entry_points=False),
        console=ConsoleSettings(user="ada", admin=True),
    )
    return dataclasses.replace(config, **changes)


def plugin_source(cls: type[Plugin]) -> PluginSource:
    """Where the loader finds one plugin class: its module and name, as an entry point."""
    if "<locals>" in cls.__qualname__ or cls.__module__ not in sys.modules:
        module_name = f"{_LOCAL_MODULE}_{next(_local_count)}"
        module = ModuleType(module_name)
        setattr(module, cls.__name__, cls)
        sys.modules[module_name] = module
        return PluginSource("entry_point", f"{module_name}:{cls.__name__}", cls.name)
    return PluginSource("entry_point", f"{cls.__module__}:{cls.__qualname__}", cls.name)


async def open_bot(
    data_dir: Path,
    engine: Engine,
    plugins: Iterable[type[Plugin]] = (),
    *,
    builtin: Iterable[str] = ("help", "prefs"),
    **changes: Any,
) -> Core:
    """A core with these plugin classes loaded beside the named built-in ones.

    A plugin that fails to load raises here, with the loader's reason, rather than leaving
    a bot without it. Close the core with `await core.close()`.
    """
    settings = dataclasses.replace(
        changes.pop("plugins", PluginSettings(entry_points=False)), builtin=tuple(builtin)
    )
    core = await Core.open(make_config(data_dir, plugins=settings, **changes), engine)
    try:
        if core.load_failures:
            failure = core.load_failures[0]
            raise RuntimeError(f"plugin {failure.label} did not load: {failure.reason}")
        for cls in plugins:
            await core.plugins.load(plugin_source(cls))
    except BaseException:
        await core.close()
        raise
    return core
