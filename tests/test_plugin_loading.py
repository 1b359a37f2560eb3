"""Custom plugins: one file in a folder, or an entry point; atomic loads; reload in place."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import PluginSettings
from bot.core import Core
from tests.conftest import Console, make_config
from tests.scripted_engine import ScriptedEngine

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example(language: str) -> str:
    """The example plugin from the README's "Add a plugin" section."""
    text = README.read_text(encoding="utf-8").split("## Add a plugin", 1)[1]
    return str(re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)[0])


async def core_with_folder(
    data: Path, folder: Path, engine: ScriptedEngine, builtin: tuple[str, ...] = ("all",)
) -> Core:
    config = make_config(data)
    config = dataclasses.replace(
        config, plugins=PluginSettings(builtin=builtin, folders=(folder,), entry_points=False)
    )
    return await Core.open(config, engine)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "custom_plugins"
    path.mkdir()
    (path / "haiku.py").write_text(readme_example("python"))
    (path / "haiku.yaml").write_text(readme_example("yaml"))
    return path


async def test_the_readme_example_plugin_loads_and_runs(tmp_path: Path, folder: Path) -> None:
    engine = ScriptedEngine()
    core = await core_with_folder(tmp_path / "data", folder, engine)
    console = Console(core)
    out = await console.type('/haiku subject:"the first frost"')
    assert "Scripted reply to: Write a haiku about the first frost with a autumn season" in out
    out = await console.type("/prefs set key:haiku.season value:monsoon")
    assert "`haiku.season`: must be one of spring, summer, autumn, or winter" in out
    await console.type("/prefs set key:language value:zh", "/haiku 初霜")
    assert engine.last_prompt() == "写一首关于初霜的俳句，用一个autumn的季语。"
    await core.close()


async def test_a_broken_plugin_is_reported_by_name_and_the_rest_load(
    tmp_path: Path, folder: Path
) -> None:
    (folder / "broken.py").write_text("def broken(:\n")
    (folder / "undeclared.py").write_text(
        "from dataclasses import dataclass\n"
        "from bot import Context, Plugin, command\n"
        "@dataclass\nclass Opts:\n    topic: str\n"
        "class Undeclared(Plugin):\n    name = 'undeclared'\n"
        "    @command('undeclared', 'No descriptions')\n"
        "    async def run(self, ctx: Context[Opts]) -> None: ...\n"
    )
    (folder / "fails_setup.py").write_text(
        "from bot import Plugin\n"
        "class FailsSetup(Plugin):\n    name = 'fails_setup'\n"
        "    migrations = ('CREATE TABLE fails_setup_x (scope TEXT, v TEXT)',)\n"
        "    async def setup(self) -> None:\n        raise RuntimeError('no network')\n"
    )
    core = await core_with_folder(tmp_path / "data", folder, ScriptedEngine())
    failures = {f.label: f.reason for f in core.load_failures}
    assert failures.keys() == {"broken", "undeclared", "fails_setup"}
    assert failures["broken"].startswith("SyntaxError")
    assert failures["undeclared"] == (
        "DeclarationError: option 'topic' needs a description: Annotated[..., Param('...')]"
    )
    assert failures["fails_setup"] == "RuntimeError: no network"
    assert "haiku" in core.plugins.loaded and "story" in core.plugins.loaded
    assert "fails_setup" not in core.plugins.loaded
    out = await Console(core).type("/skald plugins")
    assert "broken: did not load: SyntaxError" in out
    await core.close()


async def test_reload_picks_up_an_edit_and_keeps_the_old_version_if_the_new_one_breaks(
    tmp_path: Path, folder: Path
) -> None:
    engine = ScriptedEngine()
    core = await core_with_folder(tmp_path / "data", folder, engine)
    console = Console(core)
    source = folder / "haiku.py"
    source.write_text(
        source.read_text().replace(
            '"Write a haiku about something"', '"Write a haiku, freshly reloaded"'
        )
    )
    out = await console.type("/skald reload plugin:haiku")
    assert "Reloaded haiku." in out
    assert core.plugins.commands["haiku"].description == "Write a haiku, freshly reloaded"

    source.write_text("raise ImportError('half-saved file')\n")
    out = await console.type("/skald reload plugin:haiku")
    assert (
        "⚠ Plugin haiku did not reload: ImportError: half-saved file (the previous version "
        "keeps running)." in out
    )
    out = await console.type("/haiku subject:snow")
    assert "Scripted reply to: Write a haiku about snow" in out
    out = await console.type("/skald reload plugin:nothing")
    assert "There is no plugin 'nothing'." in out
    await core.close()


async def test_unloading_removes_commands_and_preferences(tmp_path: Path, folder: Path) -> None:
    core = await core_with_folder(tmp_path / "data", folder, ScriptedEngine())
    await core.plugins.unload("haiku")
    out = await Console(core).type(
        "/haiku subject:snow", "/prefs set key:haiku.season value:winter"
    )
    assert "Unknown command /haiku." in out
    assert "There is no preference `haiku.season`." in out
    await core.close()


def install(site: Path, dist: str, entry_points: dict[str, str], files: dict[str, str]) -> None:
    """Write an installed distribution into `site`: modules, and the dist-info that lists
    its `skaldbot.plugins` entry points (what importlib.metadata reads, as pip leaves it)."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[skaldbot.plugins]\n{lines}")
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)


def echo_plugin(class_name: str, name: str, description: str = "Echo some text") -> str:
    """Source of a plugin class whose /NAME answers `NAME: text`."""
    return (
        "from dataclasses import dataclass\nfrom typing import Annotated\n"
        "from bot import Context, Param, Plugin, command\n"
        f"@dataclass(frozen=True)\nclass {class_name}Options:\n"
        "    text: Annotated[str, Param('What to echo')]\n"
        f"class {class_name}(Plugin):\n    name = {name!r}\n"
        f"    @command({name!r}, {description!r})\n"
        f"    async def run(self, ctx: Context[{class_name}Options]) -> None:\n"
        f"        await ctx.reply.write({name!r} + ': ' + ctx.options.text)\n"
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages folder on sys.path; the modules imported from it are forgotten after."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    before = set(sys.modules)
    yield path
    for name in set(sys.modules) - before:
        if name.startswith("skald_"):
            del sys.modules[name]


async def core_with_entry_points(data: Path) -> Core:
    config = dataclasses.replace(
        make_config(data), plugins=PluginSettings(builtin=("help", "skald"), entry_points=True)
    )
    return await Core.open(config, ScriptedEngine())


async def test_an_installed_package_is_found_through_its_entry_point(
    tmp_path: Path, site: Path
) -> None:
    install(
        site,
        "skald_shout",
        {"shout": "skald_shout"},
        {
            "skald_shout.py": (
                "from dataclasses import dataclass\nfrom typing import Annotated\n"
                "from bot import Context, Param, Plugin, command\n"
                "@dataclass(frozen=True)\nclass ShoutOptions:\n"
                "    text: Annotated[str, Param('What to shout')]\n"
                "class Shout(Plugin):\n    name = 'shout'\n"
                "    @command('shout', 'Shout some text')\n"
                "    async def shout(self, ctx: Context[ShoutOptions]) -> None:\n"
                "        await ctx.reply.write(ctx.options.text.upper())\n"
            )
        },
    )
    core = await core_with_entry_points(tmp_path / "data")
    assert core.plugins.loaded["shout"].source.kind == "entry_point"
    out = await Console(core).type("/shout hello there")
    assert "HELLO THERE" in out
    await core.close()


async def test_an_entry_point_may_name_a_class_kept_in_a_submodule(
    tmp_path: Path, site: Path
) -> None:
    install(
        site,
        "skald_haiku",
        {"haiku": "skald_haiku:Haiku"},
        {
            "skald_haiku/__init__.py": "from skald_haiku.poem import Haiku\n",
            "skald_haiku/poem.py": echo_plugin("Haiku", "haiku"),
        },
    )
    core = await core_with_entry_points(tmp_path / "data")
    console = Console(core)
    assert "haiku: old pond" in await console.type("/haiku old pond")

    # A reload re-imports the submodule the class lives in, not only the package.
    (site / "skald_haiku/poem.py").write_text(echo_plugin("Haiku", "haiku", "Echo, reloaded"))
    assert "Reloaded haiku." in await console.type("/skald reload plugin:haiku")
    assert core.plugins.commands["haiku"].description == "Echo, reloaded"
    await core.close()


async def test_one_package_may_hold_several_plugins(tmp_path: Path, site: Path) -> None:
    install(
        site,
        "skald_pair",
        # A list of classes, and a module (every Plugin subclass defined in it).
        {"pair": "skald_pair:PLUGINS", "both": "skald_pair.both"},
        {
            "skald_pair/__init__.py": (
                "from skald_pair.upper import Upper\nfrom skald_pair.lower import Lower\n"
                "PLUGINS = [Upper, Lower]\n"
            ),
            "skald_pair/upper.py": echo_plugin("Upper", "upper"),
            "skald_pair/lower.py": echo_plugin("Lower", "lower"),
            "skald_pair/both.py": echo_plugin("Loud", "loud") + echo_plugin("Quiet", "quiet"),
        },
    )
    core = await core_with_entry_points(tmp_path / "data")
    assert core.load_failures == []
    console = Console(core)
    out = await console.type("/upper a", "/lower b", "/loud c", "/quiet d")
    assert [line for line in out.splitlines() if ": " in line] == [
        "upper: a",
        "lower: b",
        "loud: c",
        "quiet: d",
    ]

    # Reloading one re-imports its whole entry point, so its siblings reload with it.
    (site / "skald_pair/lower.py").write_text(echo_plugin("Lower", "lower", "Echo, reloaded"))
    assert "Reloaded upper." in await console.type("/skald reload plugin:upper")
    assert core.plugins.commands["lower"].description == "Echo, reloaded"
    assert "upper: e" in await console.type("/upper e")
    await core.close()


async def test_a_broken_entry_point_is_reported_by_name_and_the_others_load(
    tmp_path: Path, site: Path
) -> None:
    install(
        site,
        "skald_mixed",
        {
            "gone": "skald_gone:Gone",
            "typo": "skald_mixed:Gud",
            "helper": "skald_mixed:helper",
            "good": "skald_mixed:Good",
        },
        {"skald_mixed.py": echo_plugin("Good", "good") + "def helper() -> None: ...\n"},
    )
    core = await core_with_entry_points(tmp_path / "data")
    assert {f.label: f.reason for f in core.load_failures} == {
        "gone": "ModuleNotFoundError: No module named 'skald_gone'",
        "typo": "AttributeError: module 'skald_mixed' has no attribute 'Gud'",
        "helper": (
            "DeclarationError: skald_mixed:helper is a function, "
            "not a Plugin subclass or a list of them"
        ),
    }
    console = Console(core)
    assert "good: still here" in await console.type("/good still here")
    assert "gone: did not load: ModuleNotFoundError" in await console.type("/skald plugins")
    await core.close()


async def test_a_plugin_may_only_create_tables_it_owns(tmp_path: Path, folder: Path) -> None:
    (folder / "grabby.py").write_text(
        "from bot import Plugin\n"
        "class Grabby(Plugin):\n    name = 'grabby'\n"
        "    migrations = ('CREATE TABLE users (scope TEXT, name TEXT)',)\n"
    )
    core = await core_with_folder(tmp_path / "data", folder, ScriptedEngine(), builtin=("help",))
    reason = {f.label: f.reason for f in core.load_failures}["grabby"]
    assert reason == (
        "MigrationError: plugin 'grabby' created table 'users': its tables must "
        "start with 'grabby_'"
    )
    assert "users" not in await core.db.scoped_tables()
    await core.close()


async def test_skaldbot_reload_reaches_the_running_bot_and_reports_back(
    tmp_path: Path,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.app import ControlSignals, register
    from bot.cli import main
    from bot.reloads import ReloadMailbox

    data = tmp_path / "data"
    core = await core_with_folder(data, folder, ScriptedEngine())
    signals = ControlSignals(core, ReloadMailbox(data), stop=lambda: None)
    signals.install()
    signals.registration = register(data)  # this test process plays the bot
    try:
        source = folder / "haiku.py"
        source.write_text(source.read_text().replace("about something", "after a reload"))
        monkeypatch.setenv("SKALD_DATA_DIR", str(data))
        command = ["--config", str(README.parent / "config.yaml"), "reload", "haiku"]
        # The command waits for the answer: in a thread, so this loop can give it.
        assert await asyncio.to_thread(main, command) == 0
        assert core.plugins.commands["haiku"].description == "Write a haiku after a reload"
        assert f"pid {os.getpid()}: reloaded haiku." in capsys.readouterr().out
    finally:
        signals.registration.close()
        signals.remove()
        await core.close()
