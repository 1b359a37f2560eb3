"""Discord application commands from the plugin declarations, within Discord's limits.

Every plugin command becomes a discord.py `app_commands.Command` (commands sharing a first
word become a group with subcommands) whose parameters carry the declared types, choices,
bounds and autocomplete. The registration payload is what discord.py's own tree produces,
so `skaldbot commands --format discord` prints exactly what a sync sends.

Names and descriptions are `locale_str`s: discord.py asks the tree's `CatalogTranslator`
for each of Discord's locales that has a message catalog (zh-CN, zh-TW), and the payload
carries `name_localizations` and `description_localizations` from the catalogs.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.i18n import (
    CHOICE,
    COMMAND_NAME,
    N_,
    OPTION_NAME,
    SOURCE_LANGUAGE,
    base_language,
    locale_of,
    translate,
)
from bot.options import OptionSpec, UserId
from bot.plugin import CommandSpec

if TYPE_CHECKING:
    from bot.checks import Permissions
    from bot.loader import PluginManager

# Discord's documented limits for application commands.
NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_DESCRIPTION = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMANDS = 100
MAX_DEPTH = 3  # group, subcommand group, subcommand
MAX_TOTAL_CHARS = 8000  # names, descriptions and choice values of one top-level command
MAX_STRING_LENGTH = 6000

# What a member needs by default to see an admin command (they are checked again when run).
MANAGE_CHANNELS = "manage_channels"
MANAGE_GUILD = "manage_guild"

# Called with the command's name, so a reloaded plugin's new handler is the one that runs.
CommandCallback = Callable[[discord.Interaction[Any], str, dict[str, object]], Awaitable[None]]
AutocompleteCallback = Callable[[discord.Interaction[Any], str, str, str], Awaitable[list[str]]]


def quiet_client(intents: discord.Intents, **options: Any) -> discord.Client:
    """A discord.Client that does not warn about voice support: the bot has no voice."""
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    if options.get("shard_count", 0) or options.pop("sharded", False):
        return discord.AutoShardedClient(intents=intents, **options)
    return discord.Client(intents=intents, **options)


class CommandDeclarationError(Exception):
    """A plugin declaration that Discord cannot register (the message names it)."""


@dataclass(frozen=True, slots=True)
class CommandHooks:
    """What the built commands call: the adapter's handlers."""

    on_command: CommandCallback
    on_autocomplete: AutocompleteCallback
    # Whether a command is admin-only here (declared so, or made so in config.yaml).
    requires_admin: Callable[[CommandSpec], bool]

    @classmethod
    def payload_only(cls, requires_admin: Callable[[CommandSpec], bool]) -> CommandHooks:
        """Hooks for a tree that is only printed or registered, never run."""

        async def refuse(*_: object) -> Any:
            raise RuntimeError("this command tree only describes the commands")

        return cls(refuse, refuse, requires_admin)


@functools.cache
def discord_locales() -> dict[str, str]:
    """Discord's locales that Skald localizes commands for, with their catalogs.

    English is the commands' own language, so en-US and en-GB get no localizations.
    """
    found = {}
    for locale in discord.Locale:
        catalog = locale_of(locale.value)
        if catalog is not None and base_language(catalog) != SOURCE_LANGUAGE:
            found[locale.value] = catalog
    return found


def localized(text: str, locale: str, context: str | None = None) -> str | None:
    """A name or description in a Discord locale's catalog; None where it has none."""
    catalog = discord_locales().get(locale)
    if catalog is None:
        return None
    found = translate(catalog, text, context=context)
    # A name may rightly read the same ("hip-hop"); a description never does.
    return found if found != text or context is not None else None


class CatalogTranslator(app_commands.Translator):
    """Gives discord.py the catalogs' names and descriptions for every Discord locale."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The translation of one name or description, or None (Discord shows the English)."""
        return localized(string.message, locale.value, string.extras.get("context"))


def _name(word: str, context: str) -> app_commands.locale_str:
    return app_commands.locale_str(word, context=context)


def _text(text: str) -> app_commands.locale_str:
    return app_commands.locale_str(text)


def admin_permission(spec: CommandSpec) -> str:
    """The member permission an admin-only command needs: Manage Server for the bot's own."""
    return MANAGE_GUILD if spec.plugin == "skald" else MANAGE_CHANNELS


def check_declarations(commands: Mapping[str, CommandSpec]) -> list[str]:
    """Every way the declarations break Discord's limits, each naming the declaration."""
    problems: list[str] = []
    leaves = {spec.words: spec for spec in commands.values()}
    tops: dict[str, list[CommandSpec]] = {}
    for words, spec in sorted(leaves.items()):
        tops.setdefault(words[0], []).append(spec)
        where = f"/{spec.name} (plugin {spec.plugin})"
        if len(words) > MAX_DEPTH:
            problems.append(f"{where}: more than {MAX_DEPTH} words")
        for word in words:
            if not NAME.match(word) or word != word.lower():
                problems.append(f"{where}: {word!r} is not a lowercase name of 1-32 characters")
        for depth in range(1, len(words)):
            if words[:depth] in leaves:
                problems.append(
                    f"{where}: /{' '.join(words[:depth])} is also a command, and Discord "
                    "cannot have a command that is also a group"
                )
        if not 1 <= len(spec.description) <= MAX_DESCRIPTION:
            problems.append(f"{where}: the description must be 1-{MAX_DESCRIPTION} characters")
        if len(spec.options) > MAX_OPTIONS:
            problems.append(f"{where}: {len(spec.options)} options; Discord allows {MAX_OPTIONS}")
        for opt in spec.options:
            problems.extend(f"{where}, option {opt.name!r}: {p}" for p in _option_problems(opt))
    if len(tops) > MAX_COMMANDS:
        problems.append(f"{len(tops)} top-level commands; Discord allows {MAX_COMMANDS}")
    for locale in discord_locales():
        problems.extend(_localized_problems(leaves, locale))
    for word, specs in tops.items():
        subs: dict[tuple[str, ...], set[str]] = {}
        for spec in specs:
            for depth in range(1, len(spec.words)):
                subs.setdefault(spec.words[:depth], set()).add(spec.words[depth])
        for parent, children in subs.items():
            if len(children) > MAX_OPTIONS:
                problems.append(
                    f"/{' '.join(parent)}: {len(children)} subcommands; "
                    f"Discord allows {MAX_OPTIONS}"
                )
        total = sum(_chars(spec) for spec in specs)
        if total > MAX_TOTAL_CHARS:
            problems.append(
                f"/{word}: names, descriptions and choices add up to {total} characters; "
                f"Discord allows {MAX_TOTAL_CHARS}"
            )
    return problems


def _localized_problems(leaves: Mapping[tuple[str, ...], CommandSpec], locale: str) -> list[str]:
    """What one locale's names and descriptions break: the same limits, and no twins."""
    problems: list[str] = []
    siblings: dict[tuple[str, ...], dict[str, str]] = {}

    def name(word: str, context: str, where: str, group: tuple[str, ...]) -> None:
        shown = localized(word, locale, context)
        if shown is None:
            return
        if not NAME.match(shown) or shown != shown.lower():
            problems.append(f"{where}: {locale} name {shown!r} is not a lowercase 1-32 name")
        taken = siblings.setdefault(group, {})
        if taken.get(shown, word) != word:
            problems.append(f"{where}: {locale} name {shown!r} is also {taken[shown]!r}")
        taken[shown] = word

    def description(text: str, where: str) -> None:
        shown = localized(text, locale)
        if shown is not None and not 1 <= len(shown) <= MAX_DESCRIPTION:
            problems.append(f"{where}: {locale} description must be 1-{MAX_DESCRIPTION} characters")

    for words, spec in sorted(leaves.items()):
        where = f"/{spec.name} (plugin {spec.plugin})"
        for depth, word in enumerate(words):
            name(word, COMMAND_NAME, where, ("/", *words[:depth]))
        description(spec.description, where)
        for opt in spec.options:
            at = f"{where}, option {opt.name!r}"
            name(opt.name, OPTION_NAME, at, words)
            description(opt.description, at)
            for c in opt.choices:
                shown = localized(str(c.name), locale, CHOICE) or ""
                if not 1 <= len(shown) <= MAX_DESCRIPTION:
                    problems.append(f"{at}: {locale} choice {c.name!r} must be 1-100 characters")
    return problems


def _option_problems(opt: OptionSpec) -> list[str]:
    problems = []
    if not NAME.match(opt.name) or opt.name != opt.name.lower():
        problems.append("not a lowercase name of 1-32 characters")
    if not 1 <= len(opt.description) <= MAX_DESCRIPTION:
        problems.append(f"the description must be 1-{MAX_DESCRIPTION} characters")
    if len(opt.choices) > MAX_CHOICES:
        problems.append(f"{len(opt.choices)} choices; Discord allows {MAX_CHOICES}")
    for choice in opt.choices:
        if not 1 <= len(str(choice.name)) <= MAX_DESCRIPTION:
            problems.append(f"choice {choice.name!r}: names must be 1-{MAX_DESCRIPTION} characters")
        if isinstance(choice.value, str) and len(choice.value) > MAX_DESCRIPTION:
            problems.append(f"choice {choice.name!r}: values must be at most 100 characters")
    if opt.kind == "bool" and opt.autocomplete is not None:
        problems.append("true/false options cannot offer suggestions")
    if opt.choices and opt.autocomplete is not None:
        problems.append("an option cannot have both choices and suggestions")
    for length in (opt.min_length, opt.max_length):
        if length is not None and not 0 <= length <= MAX_STRING_LENGTH:
            problems.append(f"lengths must be 0-{MAX_STRING_LENGTH}")
    return problems


def _chars(spec: CommandSpec) -> int:
    """What Discord counts toward 8,000: each field's longest form among its localizations."""
    total = sum(_longest(w, COMMAND_NAME) for w in spec.words) + _longest(spec.description)
    for opt in spec.options:
        total += _longest(opt.name, OPTION_NAME) + _longest(opt.description)
        total += sum(_longest(str(c.name), CHOICE) + len(str(c.value)) for c in opt.choices)
    return total


def _longest(text: str, context: str | None = None) -> int:
    forms = [localized(text, locale, context) for locale in discord_locales()]
    return max(len(f) for f in [text, *(f for f in forms if f is not None)])


def build_commands(
    commands: Mapping[str, CommandSpec],
    group_descriptions: Mapping[str, str],
    hooks: CommandHooks,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """The top-level app commands (groups hold the subcommands); raises on a bad declaration."""
    problems = check_declarations(commands)
    if problems:
        raise CommandDeclarationError(
            "These commands cannot be registered with Discord:\n  " + "\n  ".join(problems)
        )
    tops: dict[str, list[CommandSpec]] = {}
    for spec in sorted(commands.values(), key=lambda s: s.name):
        tops.setdefault(spec.words[0], []).append(spec)
    built: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    for word, specs in tops.items():
        needed = _default_permissions(specs, hooks)
        if len(specs) == 1 and specs[0].words == (word,):
            command = _leaf(specs[0], word, hooks, None)
            command.default_permissions = needed
            command.guild_only = True
            built.append(command)
            continue
        root = app_commands.Group(
            name=_name(word, COMMAND_NAME),
            description=_text(_group_description(word, group_descriptions)),
            guild_only=True,
            default_permissions=needed,
        )
        groups: dict[tuple[str, ...], app_commands.Group] = {(word,): root}
        for spec in specs:
            parent = root
            for depth in range(2, len(spec.words)):
                path = spec.words[:depth]
                if path not in groups:
                    groups[path] = app_commands.Group(
                        name=_name(path[-1], COMMAND_NAME),
                        description=_text(GROUP),
                        parent=parent,
                    )
                    parent.add_command(groups[path])
                parent = groups[path]
            parent.add_command(_leaf(spec, spec.words[-1], hooks, parent))
        built.append(root)
    return built


# What a group of subcommands says about itself when its plugin does not describe it.
GROUP = N_("A group of commands")


def _group_description(word: str, descriptions: Mapping[str, str]) -> str:
    text = descriptions.get(word) or GROUP
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _default_permissions(
    specs: Sequence[CommandSpec], hooks: CommandHooks
) -> discord.Permissions | None:
    """What members need by default to see a top-level command: its admin parts' permissions.

    Discord sets this per top-level command only, so a group with an admin subcommand is
    hidden from members without that permission (server admins can change that in
    Server Settings > Integrations); every admin subcommand is checked again when run.
    """
    needed = {admin_permission(s) for s in specs if hooks.requires_admin(s)}
    if not needed:
        return None
    return discord.Permissions(**{name: True for name in needed})


def _leaf(
    spec: CommandSpec,
    name: str,
    hooks: CommandHooks,
    parent: app_commands.Group | None,
) -> app_commands.Command[Any, ..., Any]:
    """One subcommand or top-level command whose parameters mirror the declared options."""

    async def callback(interaction: discord.Interaction[Any], **options: object) -> None:
        # Absent optional options arrive as None: the router applies the declared defaults.
        # A user option arrives as the person Discord resolved: the option takes the id.
        await hooks.on_command(
            interaction,
            spec.name,
            {k: _person_id(v) for k, v in options.items() if v is not None},
        )

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for opt in spec.options:
        parameters.append(
            inspect.Parameter(
                opt.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(opt),
                default=inspect.Parameter.empty if opt.required else None,
            )
        )
    # discord.py reads the parameters from the callback's signature: give it the declared ones.
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = f"skald_{spec.name.replace(' ', '_')}"
    decorated: Any = app_commands.describe(**{o.name: _text(o.description) for o in spec.options})(
        callback
    )
    # The parameter keeps its declared name; Discord's users see the localized one.
    decorated = app_commands.rename(**{o.name: _name(o.name, OPTION_NAME) for o in spec.options})(
        decorated
    )
    choices = {
        o.name: [
            app_commands.Choice(name=_name(str(c.name), CHOICE), value=c.value) for c in o.choices
        ]
        for o in spec.options
        if o.choices
    }
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    suggest = {o.name: _suggester(spec, o.name, hooks) for o in spec.options if o.autocomplete}
    if suggest:
        decorated = app_commands.autocomplete(**suggest)(decorated)
    return app_commands.Command(
        name=_name(name, COMMAND_NAME),
        description=_text(spec.description),
        callback=decorated,
        parent=parent,
    )


def _annotation(opt: OptionSpec) -> Any:
    """The discord.py annotation for an option: its type with bounds or lengths."""
    if opt.kind == "user":
        return discord.User  # Discord's own user picker: only a real person can be chosen
    base: type[Any] = {"str": str, "int": int, "float": float, "bool": bool}[opt.kind]
    if opt.choices or opt.kind == "bool":
        # Choices carry their own values; Discord shows only those.
        return type(opt.choices[0].value) if opt.choices else bool
    if opt.kind == "str":
        lo, hi = opt.min_length, opt.max_length
        return base if lo is None and hi is None else app_commands.Range[str, lo, hi]
    lo_v, hi_v = opt.min_value, opt.max_value
    if lo_v is None and hi_v is None:
        return base
    if opt.kind == "int":
        return app_commands.Range[
            int, None if lo_v is None else int(lo_v), None if hi_v is None else int(hi_v)
        ]
    return app_commands.Range[float, lo_v, hi_v]


def _person_id(value: object) -> object:
    """A resolved Discord user or member as its id; any other value as it is."""
    if isinstance(value, discord.User | discord.Member):
        return UserId(str(value.id))
    return value


def _suggester(
    spec: CommandSpec, option: str, hooks: CommandHooks
) -> Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def suggest(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        found = await hooks.on_autocomplete(interaction, spec.name, option, current)
        # A choice's name is shown (1-100 characters) and its value is what gets sent.
        return [app_commands.Choice(name=s[:100], value=s[:100]) for s in found if s][:25]

    return suggest


async def registration_payload(
    tree: app_commands.CommandTree[Any], guild: discord.abc.Snowflake | None = None
) -> list[dict[str, Any]]:
    """Exactly what `tree.sync(guild=...)` sends to Discord (localized by its translator)."""
    translator = tree.translator
    commands = tree.get_commands(guild=guild)
    if translator is None:
        return [command.to_dict(tree) for command in commands]
    return [await command.get_translated_payload(tree, translator) for command in commands]


def payload_hash(payload: list[dict[str, Any]]) -> str:
    """A stable fingerprint of a registration payload (to sync only when it changed)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def describe_payload(
    plugins: PluginManager, permissions: Permissions
) -> list[dict[str, Any]]:
    """The registration payload of the loaded plugins, built without connecting."""
    client = quiet_client(discord.Intents(guilds=True))
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    await tree.set_translator(CatalogTranslator())
    descriptions = {name: lp.plugin.description for name, lp in plugins.loaded.items()}
    hooks = CommandHooks.payload_only(permissions.requires_admin)
    for command in build_commands(plugins.commands, descriptions, hooks):
        tree.add_command(command)
    return await registration_payload(tree)
