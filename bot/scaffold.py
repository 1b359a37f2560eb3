"""A new plugin package written from the templates in bot/templates/plugin/.

File and folder names carry `__name__` and `__module__` where the plugin's names go; a
`.tmpl` file's text has `$name`, `$module`, `$class_name` and `$distribution` filled in
(string.Template, so the prompts' own `{{ ... }}` stay as they are).
"""

from __future__ import annotations

import keyword
import re
import string
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.loader import BUILTIN_PLUGINS, PluginSource

TEMPLATE = "plugin"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# The import packages of skaldbot itself: a plugin module of the same name would hide them.
_OWN_PACKAGES = {"bot", "engine", "plugins", "tests"}
_TEMPLATE_SUFFIX = ".tmpl"


class ScaffoldError(Exception):
    """The name or the folder cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class PluginNames:
    """Every name a new plugin package needs, from the one its author chose."""

    name: str  # the plugin's and its command's name: "haiku", "daily-quote"
    module: str  # its import package: "haiku", "daily_quote"
    class_name: str  # its Plugin subclass: "Haiku", "DailyQuote"
    distribution: str  # its package on the registry: "skald-haiku"

    @classmethod
    def of(cls, name: str) -> PluginNames:
        """The names for `name`; raises ScaffoldError when it cannot be a plugin's name."""
        if not _NAME.match(name):
            raise ScaffoldError(
                f"{name!r} is not a plugin name: use 1-32 lowercase letters, digits, - or _, "
                "starting with a letter (e.g. haiku, daily-quote)"
            )
        module = name.replace("-", "_")
        if keyword.iskeyword(module) or module in sys.stdlib_module_names:
            raise ScaffoldError(
                f"{name!r} would be a module named like Python's own {module!r}: choose another"
            )
        if module in _OWN_PACKAGES:
            raise ScaffoldError(f"{name!r} is the name of one of Skald's own packages")
        taken = builtin_command_words()
        if name in taken:
            raise ScaffoldError(
                f"/{name} is a built-in command (built-in: {', '.join(sorted(taken))})"
            )
        class_name = "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)
        return cls(name, module, class_name, f"skald-{name}")


def builtin_command_words() -> set[str]:
    """The built-in plugins' names and their commands' first words."""
    words = set(BUILTIN_PLUGINS)
    for plugin in BUILTIN_PLUGINS:
        for cls in PluginSource("builtin", f"plugins.{plugin}", plugin).plugin_classes(False):
            words.update(spec.words[0] for spec in cls.command_specs())
    return words


def write_plugin_package(name: str, directory: Path) -> list[Path]:
    """Write a ready plugin package for `name` into `directory`; the files written.

    Refuses a folder that exists and is not empty: nothing of someone's is overwritten.
    """
    names = PluginNames.of(name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ScaffoldError(f"{directory} already exists and is not empty")
    values = {
        "name": names.name,
        "module": names.module,
        "class_name": names.class_name,
        "distribution": names.distribution,
    }
    written: list[Path] = []
    _copy(resources.files("bot").joinpath("templates", TEMPLATE), directory, values, written)
    return sorted(written)


def _copy(source: Traversable, target: Path, values: dict[str, str], written: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if item.name == "__pycache__":
            continue
        filename = item.name.replace("__module__", values["module"])
        filename = filename.replace("__name__", values["name"])
        if item.is_dir():
            _copy(item, target / filename, values, written)
            continue
        path = target / filename.removesuffix(_TEMPLATE_SUFFIX)
        if item.name.endswith(_TEMPLATE_SUFFIX):
            text = string.Template(item.read_text(encoding="utf-8")).substitute(values)
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(item.read_bytes())
        written.append(path)
