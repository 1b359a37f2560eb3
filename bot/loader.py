"""Finding, loading, unloading and reloading plugins, each atomically."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeGuard

from bot.errors import DeclarationError, UserError
from bot.i18n import Join, Text, _, add_plugin_messages, remove_plugin_messages
from bot.memory.database import Database
from bot.plugin import CommandSpec, Plugin
from bot.preferences import PrefCatalog
from bot.prompts import PROMPTS_DIR, PromptError, PromptFile

log = logging.getLogger(__name__)

BUILTIN_PLUGINS = ("story", "lyrics", "summarize", "tutor", "rewrite", "prefs", "help", "skald")
ENTRY_POINT_GROUP = "skaldbot.plugins"


@dataclass(frozen=True, slots=True)
class PluginSource:
    """Where one plugin, or a few from one package, come from."""

    kind: Literal["builtin", "file", "entry_point"]
    # A module name (builtin), an entry point's value (`pkg.mod:Class` or `pkg.mod`), or a
    # .py path (file).
    target: str
    label: str

    def import_module(self, fresh: bool) -> ModuleType:
        """Import (or re-import, for a reload) the module."""
        if self.kind == "file":
            path = Path(self.target)
            module_name = f"skald_custom_plugins.{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise DeclarationError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            return module
        module_name = self.target.split(":")[0]
        if fresh and module_name in sys.modules:
            return importlib.reload(sys.modules[module_name])
        return importlib.import_module(module_name)

    def plugin_classes(self, fresh: bool) -> list[type[Plugin]]:
        """The plugin classes this source provides (re-imported for a reload); at least one."""
        if self.kind == "entry_point":
            entry_point = importlib.metadata.EntryPoint(self.label, self.target, ENTRY_POINT_GROUP)
            if entry_point.attr:
                return self._entry_point_classes(entry_point, fresh)
        # A file, a builtin, or an entry point naming a whole module: every plugin it defines.
        classes = plugin_classes(self.import_module(fresh))
        if not classes:
            raise DeclarationError(f"{self.label} defines no Plugin subclass")
        return classes

    def _entry_point_classes(
        self, entry_point: importlib.metadata.EntryPoint, fresh: bool
    ) -> list[type[Plugin]]:
        if fresh:
            # `pkg:Haiku` may only re-export a class defined in `pkg.poem`: re-import the
            # modules defining the current classes first, then the one that names them.
            try:
                current = _as_plugin_classes(entry_point.load(), self.target)
            except Exception:  # it failed before; re-importing its module is all we can do
                current = []
            for module_name in dict.fromkeys(cls.__module__ for cls in current):
                if module_name != entry_point.module and module_name in sys.modules:
                    importlib.reload(sys.modules[module_name])
            if entry_point.module in sys.modules:
                importlib.reload(sys.modules[entry_point.module])
        return _as_plugin_classes(entry_point.load(), self.target)


@dataclass(slots=True)
class LoadedPlugin:
    """A plugin instance with what was registered for it."""

    plugin: Plugin
    source: PluginSource
    commands: list[CommandSpec]
    prompts: PromptFile | None


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A plugin that did not load, and why, in one line."""

    label: str
    reason: str


def plugin_classes(module: ModuleType) -> list[type[Plugin]]:
    """The Plugin subclasses a module defines (not ones it merely imports)."""
    return [
        obj
        for obj in vars(module).values()
        if _is_plugin_class(obj) and obj.__module__ == module.__name__
    ]


def _is_plugin_class(obj: object) -> TypeGuard[type[Plugin]]:
    return (
        inspect.isclass(obj)
        and issubclass(obj, Plugin)
        and obj is not Plugin
        and not inspect.isabstract(obj)
    )


def _as_plugin_classes(obj: object, target: str) -> list[type[Plugin]]:
    """What an entry point names, as plugin classes: one class, or a list or tuple of them."""
    if _is_plugin_class(obj):
        return [obj]
    if isinstance(obj, list | tuple) and obj:
        for item in obj:
            if not _is_plugin_class(item):
                raise DeclarationError(f"{target} holds {item!r}, which is not a Plugin subclass")
        return list(obj)
    # The Plugin base and abstract classes are classes too; say which one rather than "a type".
    what = f"class {obj.__qualname__}" if inspect.isclass(obj) else f"a {type(obj).__name__}"
    raise DeclarationError(f"{target} is {what}, not a Plugin subclass or a list of them")


class PluginManager:
    """The loaded plugins and their commands; loads are all-or-nothing per plugin."""

    def __init__(self, db: Database, catalog: PrefCatalog) -> None:
        self._db = db
        self._catalog = catalog
        self.loaded: dict[str, LoadedPlugin] = {}
        self.failures: list[LoadFailure] = []

    # -- what is loaded --

    @property
    def commands(self) -> dict[str, CommandSpec]:
        """Every command of every loaded plugin, by its full name."""
        return {c.name: c for lp in self.loaded.values() for c in lp.commands}

    def prompts_for(self, plugin: str) -> PromptFile | None:
        """The prompt file of a loaded plugin."""
        lp = self.loaded.get(plugin)
        return lp.prompts if lp else None

    def instance(self, plugin: str) -> Plugin:
        """The running instance of a loaded plugin."""
        return self.loaded[plugin].plugin

    # -- discovery --

    @staticmethod
    def discover(
        builtin: Iterable[str],
        folders: Iterable[Path],
        entry_points: bool,
        disabled: Iterable[str] = (),
    ) -> list[PluginSource]:
        """Every plugin source the configuration names, in load order."""
        skip = set(disabled)
        names = list(BUILTIN_PLUGINS) if "all" in builtin else list(builtin)
        sources = [PluginSource("builtin", f"plugins.{n}", n) for n in names if n not in skip]
        for folder in folders:
            for path in sorted(Path(folder).glob("*.py")):
                if not path.name.startswith("_") and path.stem not in skip:
                    sources.append(PluginSource("file", str(path), path.stem))
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if ep.name not in skip:
                    sources.append(PluginSource("entry_point", ep.value, ep.name))
        return sources

    # -- lifecycle --

    async def load_all(self, sources: Iterable[PluginSource]) -> list[LoadFailure]:
        """Load every source; one that fails is reported by name and the rest still load."""
        failures = []
        for source in sources:
            try:
                await self.load(source)
            except Exception as exc:  # any error in someone's plugin must not stop the others
                failure = LoadFailure(source.label, _one_line(exc))
                log.warning(
                    "plugin %s did not load: %s",
                    source.label,
                    failure.reason,
                    exc_info=not isinstance(exc, DeclarationError | PromptError),
                )
                failures.append(failure)
        self.failures = failures
        return failures

    async def load(self, source: PluginSource, *, fresh: bool = False) -> list[str]:
        """Import, validate, migrate and set up the plugins of one source; all or nothing."""
        classes = source.plugin_classes(fresh)
        prepared = [self._prepare(cls, source) for cls in classes]
        started: list[LoadedPlugin] = []
        try:
            for lp in prepared:
                plugin = lp.plugin
                await self._db.migrate(plugin.name, plugin.migrations, f"{plugin.name}_")
                await plugin.setup()
                started.append(lp)
        except BaseException:
            # Roll back what this source started; tables stay (their data is the users').
            for lp in started:
                await _teardown(lp)
            raise
        for lp in prepared:
            for pref in lp.plugin.prefs:
                self._catalog.add(pref)
            if lp.prompts is not None and lp.prompts.messages:
                add_plugin_messages(lp.plugin.name, lp.prompts.messages)
            self.loaded[lp.plugin.name] = lp
            log.info(
                "loaded plugin %s (%s) with %d commands",
                lp.plugin.name,
                source.kind,
                len(lp.commands),
            )
        return [lp.plugin.name for lp in prepared]

    def _prepare(self, cls: type[Plugin], source: PluginSource) -> LoadedPlugin:
        specs = cls.command_specs()
        if cls.name in self.loaded:
            raise DeclarationError(f"a plugin named {cls.name!r} is already loaded")
        taken = self.commands
        groups = {c.words[0] for c in taken.values()}
        for spec in specs:
            if spec.name in taken:
                raise DeclarationError(
                    f"command /{spec.name} is already provided by plugin {taken[spec.name].plugin}"
                )
            # "/story" cannot be both a command and a group of another plugin's subcommands.
            if (len(spec.words) == 1 and spec.name in groups) or (
                len(spec.words) == 2 and spec.words[0] in taken
            ):
                raise DeclarationError(f"command /{spec.name} clashes with a loaded command")
        for pref in cls.prefs:
            if pref.key in self._catalog:
                self._catalog.add(pref)  # raises when declared differently
        prompts = self._prompt_file(cls, source)
        return LoadedPlugin(cls(), source, specs, prompts)

    @staticmethod
    def _prompt_file(cls: type[Plugin], source: PluginSource) -> PromptFile | None:
        if cls.prompt_file is not None:
            return PromptFile(Path(cls.prompt_file))
        candidates = [PROMPTS_DIR / f"{cls.name}.yaml"]
        if source.kind == "file":
            candidates.insert(0, Path(source.target).with_suffix(".yaml"))
        for path in candidates:
            if path.is_file():
                return PromptFile(path)
        return None

    async def unload(self, name: str) -> None:
        """Tear down one plugin and drop its commands and preference keys."""
        lp = self.loaded.pop(name)
        for pref in lp.plugin.prefs:
            self._catalog.remove(pref.key)
        remove_plugin_messages(name)
        await _teardown(lp)
        log.info("unloaded plugin %s", name)

    async def reload(self, name: str) -> None:
        """Re-import a plugin (with the others from its source); on failure the old ones run on."""
        source = self.loaded[name].source
        # One entry point may provide several plugins; re-importing it brings them all back,
        # so they are unloaded together, or the first one back would clash with the rest.
        olds = [lp for lp in self.loaded.values() if lp.source == source]
        for old in olds:
            await self.unload(old.plugin.name)
        try:
            await self.load(source, fresh=True)
        except BaseException:
            # Put the old instances back exactly as they were, so the bot keeps serving them.
            for old in olds:
                self.loaded[old.plugin.name] = old
                for pref in old.plugin.prefs:
                    self._catalog.add(pref)
                if old.prompts is not None and old.prompts.messages:
                    add_plugin_messages(old.plugin.name, old.prompts.messages)
                await old.plugin.setup()
            raise

    async def reload_named(self, name: str, sources: Iterable[PluginSource]) -> Text:
        """Reload `name`, or load it if it failed earlier; a one-line result for people.

        Raises UserError when there is no such plugin or the new version fails (the old one
        then keeps running).
        """
        try:
            if name in self.loaded:
                await self.reload(name)
            else:
                source = next((s for s in sources if s.label == name), None)
                if source is None:
                    raise UserError(
                        _(
                            "There is no plugin {name}. Loaded plugins: {loaded}.",
                            name=repr(name),
                            loaded=Join(tuple(sorted(self.loaded))),
                        )
                    )
                await self.load(source, fresh=True)
                self.failures = [f for f in self.failures if f.label != name]
        except UserError:
            raise
        except Exception as exc:
            log.warning("plugin %s did not reload", name, exc_info=True)
            raise UserError(
                _(
                    "Plugin {name} did not reload: {error} (the previous version keeps running).",
                    name=name,
                    error=_one_line(exc),
                )
            ) from exc
        return _("Reloaded {name}.", name=name)

    async def close(self) -> None:
        """Tear down every plugin (at shutdown)."""
        for name in list(self.loaded):
            await self.unload(name)


async def _teardown(lp: LoadedPlugin) -> None:
    try:
        await lp.plugin.teardown()
    except Exception:
        log.exception("plugin %s failed in teardown", lp.plugin.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
