"""The plugin contract: a Plugin subclass declares commands, preferences and state once."""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from bot.errors import DeclarationError
from bot.i18n import N_, SOURCE_LANGUAGE, translate
from bot.options import OptionSpec, option_specs
from bot.preferences import Pref

if TYPE_CHECKING:
    from bot.context import Context

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_COMMAND_ATTR = "__skald_command__"

Handler = Callable[[Any, "Context[Any]"], Awaitable[None]]
ThreadUse = Literal["start", "join"] | None
H = TypeVar("H", bound=Callable[..., Awaitable[None]])


@dataclass(frozen=True, slots=True)
class CommandMeta:
    """What the @command decorator records on a handler method."""

    name: str
    description: str
    admin: bool
    options_type: type[Any] | None
    follow_up: str | None = None
    thread: ThreadUse = None
    owner: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command of one plugin, with its options, as the router and adapters see it."""

    name: str
    description: str
    plugin: str
    options_type: type[Any]
    options: tuple[OptionSpec, ...]
    admin: bool
    handler: Handler
    # The command a "Continue" button runs after this one, if the plugin offers one.
    follow_up: str | None = None
    # "start": the reply opens the plugin's thread in the channel (a new story);
    # "join": the reply goes into that thread when the platform has one.
    thread: ThreadUse = None
    # Acts on the whole process (every server, every channel): only the bot's owner.
    owner: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """The command path: ("story", "start")."""
        return tuple(self.name.split())

    def option(self, name: str) -> OptionSpec | None:
        """The declaration of one option, or None."""
        return next((o for o in self.options if o.name == name), None)

    def usage(self) -> Usage:
        """A one-line usage, rendered per language: /story start premise:<text> [genre:<...>]."""
        return Usage(self)

    def to_json(self) -> dict[str, Any]:
        """The declaration as plain data, the source of every adapter's native commands."""
        return {
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "admin": self.admin,
            "follow_up": self.follow_up,
            "options": [o.to_json() for o in self.options],
        }


# What a value of each kind is called in a usage line (choices show their values).
KINDS = {
    "str": N_("text"),
    "int": N_("whole number"),
    "float": N_("number"),
    "bool": N_("true|false"),
    "user": N_("@person"),
}


@dataclass(frozen=True, slots=True)
class Usage:
    """A command's usage line; option names and choice values stay as they are typed."""

    spec: CommandSpec

    def render(self, locale: str) -> str:
        """The usage line in this locale."""
        parts = [f"/{self.spec.name}"]
        for opt in self.spec.options:
            if opt.choices:
                shown = "|".join(str(c.name) for c in opt.choices)
            else:
                shown = translate(locale, KINDS[opt.kind])
            part = f"{opt.name}:<{shown}>"
            parts.append(part if opt.required else f"[{part}]")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


def command(
    name: str,
    description: str,
    *,
    admin: bool = False,
    options: type[Any] | None = None,
    follow_up: str | None = None,
    thread: ThreadUse = None,
    owner: bool = False,
) -> Callable[[H], H]:
    """Declare a plugin method as a command: `@command("story start", "Begin a story")`.

    The options come from the handler's `ctx: Context[SomeOptions]` annotation (or `options=`).
    `owner=True` marks a command that acts on the whole bot, not one server or channel: only
    the bot's owner may run it (it is admin-only too, so platforms hide it from others).
    """

    def decorate(fn: H) -> H:
        meta = CommandMeta(name, description, admin or owner, options, follow_up, thread, owner)
        setattr(fn, _COMMAND_ATTR, meta)
        return fn

    return decorate


class Plugin:
    """Base class of every plugin: subclass it, set `name`, decorate handlers with @command."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # Preference keys this plugin reads; keys should start with the plugin's name.
    prefs: ClassVar[tuple[Pref, ...]] = ()
    # SQL steps creating the plugin's own tables (named `<name>_...`, each with a `scope`
    # column); append new steps, never edit shipped ones.
    migrations: ClassVar[tuple[str, ...]] = ()
    # Tables whose rows expire after config.yaml's safety.retention_days, as (table, SQL
    # expression giving a row's time in seconds since the epoch) pairs, pruned in this order.
    retention: ClassVar[tuple[tuple[str, str], ...]] = ()
    # A prompt file other than plugins/prompts/<name>.yaml (e.g. beside a custom plugin's .py file).
    prompt_file: ClassVar[Path | None] = None

    async def setup(self) -> None:
        """Called once after the plugin is loaded and its tables exist."""

    async def teardown(self) -> None:
        """Called when the plugin is unloaded or reloaded, and at shutdown."""

    @classmethod
    def command_specs(cls) -> list[CommandSpec]:
        """Every command this plugin declares, validated."""
        if not _NAME.match(getattr(cls, "name", "") or ""):
            raise DeclarationError(
                f"{cls.__name__}.name must be 1-32 lowercase letters, digits, - or _"
            )
        specs: list[CommandSpec] = []
        for attr in dir(cls):
            fn = getattr(cls, attr, None)
            meta: CommandMeta | None = getattr(fn, _COMMAND_ATTR, None)
            if meta is None or fn is None:
                continue
            words = meta.name.split()
            if not 1 <= len(words) <= 2 or not all(_NAME.match(w) for w in words):
                raise DeclarationError(
                    f"command {meta.name!r}: one or two lowercase words of 1-32 characters"
                )
            if not 1 <= len(meta.description) <= 100:
                raise DeclarationError(f"command {meta.name!r}: description must be 1-100 chars")
            options_type = meta.options_type or _options_type_of(fn, meta.name)
            opts = option_specs(options_type)
            if len(opts) > 25:
                raise DeclarationError(f"command {meta.name!r} has more than 25 options")
            specs.append(
                CommandSpec(
                    meta.name,
                    meta.description,
                    cls.name,
                    options_type,
                    opts,
                    meta.admin,
                    fn,
                    meta.follow_up,
                    meta.thread,
                    meta.owner,
                )
            )
        return specs


def _options_type_of(fn: Callable[..., Any], name: str) -> type[Any]:
    """The options dataclass named by the handler's `ctx: Context[Options]` annotation."""
    hints = typing.get_type_hints(fn)
    params = [p for p in hints if p != "return"]
    if not params:
        raise DeclarationError(f"command {name!r}: the handler takes `ctx: Context[Options]`")
    args = typing.get_args(hints[params[0]])
    if len(args) != 1 or not isinstance(args[0], type):
        raise DeclarationError(
            f"command {name!r}: annotate the handler's ctx as Context[YourOptions]"
        )
    return args[0]
