"""Slack slash commands from the plugin declarations: names, text parsing, the app manifest."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.adapters.slack.markup import USER_MENTION, decode
from bot.commandline import OPTION_NAME, ParsedCommand, parse_command
from bot.i18n import N_, SOURCE_LANGUAGE, _, translate
from bot.options import resolve_users
from bot.plugin import KINDS, CommandSpec

# What the bot needs: slash commands, posting and editing its messages, reading history
# for /summarize (public and private channels, DMs and group DMs), and channel names.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "channels:read",
    "groups:read",
    "users:read",
)
EVENTS_PATH = "/slack/events"
ABOUT = N_("Stories, lyrics, summaries and a writing tutor for your channels.")


def slash_groups(commands: Mapping[str, CommandSpec]) -> dict[str, list[CommandSpec]]:
    """The commands under each top-level word: one Slack slash command per word."""
    groups: dict[str, list[CommandSpec]] = {}
    for spec in sorted(commands.values(), key=lambda c: c.name):
        groups.setdefault(spec.words[0], []).append(spec)
    return groups


def slash_name(word: str, prefix: str) -> str:
    """The Slack command for a top-level word: "/story", or "/skald-story" with a prefix."""
    return f"/{prefix}{word}"


def parse_slash(
    command: str, text: str, prefix: str, commands: Mapping[str, CommandSpec]
) -> ParsedCommand:
    """A slash command and its text, as the same typed options the console parses.

    Slack sends the text escaped, with mentions as `<@U123|name>` (`should_escape`): the
    options get the text as typed, and a person-naming option the id of a real mention.
    """
    word = command.lstrip("/").removeprefix(prefix)
    parsed = parse_command(f"/{word} {decode(text)}", commands)
    spec = commands.get(parsed.name)
    if spec is None:
        return parsed
    return ParsedCommand(
        parsed.name, resolve_users(spec.options, parsed.options, lambda v: mentioned(v, text))
    )


def mentioned(value: str, text: str) -> str | None:
    """The user id when `value` is a mention Slack made in the raw `text`, else None.

    Only Slack writes a bare `<` into command text (it escapes the person's own as
    `&lt;`), so a mention typed out by hand is never taken for a real one.
    """
    match = USER_MENTION.match(value)
    if match is None:
        return None
    user = match.group(1)
    return user if f"<@{user}>" in text or f"<@{user}|" in text else None


def _description(word: str, specs: list[CommandSpec], language: str) -> str:
    if len(specs) == 1 and specs[0].name == word:
        return translate(language, specs[0].description)[:100]
    subs = ", ".join(s.words[1] for s in specs if len(s.words) == 2)
    return f"/{word}: {subs}"[:100]


def _usage_hint(word: str, specs: list[CommandSpec], language: str) -> str:
    if len(specs) == 1 and specs[0].name == word:
        parts = [
            f"{o.name}:<{translate(language, KINDS[o.kind]) if not o.choices else o.kind}>"
            if o.required
            else f"[{o.name}]"
            for o in specs[0].options
        ]
        return " ".join(parts)[:100]
    subs = "|".join(s.words[1] for s in specs if len(s.words) == 2)
    return _("[{subcommands}] [options]", subcommands=subs).render(language)[:100]


def app_manifest(
    commands: Mapping[str, CommandSpec],
    *,
    prefix: str = "",
    request_url: str | None = None,
    socket_mode: bool = False,
    name: str = "Skald",
    language: str = SOURCE_LANGUAGE,
) -> dict[str, Any]:
    """A Slack app manifest with every command, its scopes and settings, for either mode.

    Slack shows one description and usage hint per command to everyone: they are in the
    bot's default language (config.yaml's `language`); replies follow each channel's.
    """
    slash_commands = []
    for word, specs in slash_groups(commands).items():
        entry: dict[str, Any] = {
            "command": slash_name(word, prefix),
            "description": _description(word, specs, language),
            "usage_hint": _usage_hint(word, specs, language),
            # Mentions arrive as <@U123|name>, so a person-naming option gets an id.
            "should_escape": True,
        }
        if not socket_mode:
            entry["url"] = request_url or "https://example.com/slack/events"
        slash_commands.append(entry)
    settings: dict[str, Any] = {
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": False,
    }
    if not socket_mode:
        settings["interactivity"]["request_url"] = request_url or "https://example.com/slack/events"
    return {
        "display_information": {
            "name": name,
            "description": translate(language, ABOUT),
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": slash_commands,
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": settings,
    }


# Slack's limits on an app's slash commands (the app manifest's schema).
SLASH_NAME = re.compile(r"^/[a-z0-9_-]{1,31}$")
MAX_SLASH_COMMANDS = 50
MAX_SLASH_DESCRIPTION = 2000
MAX_USAGE_HINT = 1000


def check_declarations(commands: Mapping[str, CommandSpec], prefix: str = "") -> list[str]:
    """Every way the declarations break Slack's limits, or cannot be typed as slash text."""
    problems: list[str] = []
    groups = slash_groups(commands)
    if len(groups) > MAX_SLASH_COMMANDS:
        problems.append(f"{len(groups)} slash commands; Slack allows {MAX_SLASH_COMMANDS}")
    for entry in app_manifest(commands, prefix=prefix)["features"]["slash_commands"]:
        name = entry["command"]
        if not SLASH_NAME.match(name):
            problems.append(f"{name}: not a lowercase slash command of 1-32 characters")
        if not 1 <= len(entry["description"]) <= MAX_SLASH_DESCRIPTION:
            problems.append(f"{name}: the description must be 1-{MAX_SLASH_DESCRIPTION} characters")
        if len(entry["usage_hint"]) > MAX_USAGE_HINT:
            problems.append(f"{name}: the usage hint is over {MAX_USAGE_HINT} characters")
    for spec in commands.values():
        for opt in spec.options:
            # Slack delivers the text typed after the command: `name:value` is how an
            # option is given, so a name the parser cannot read cannot be given at all.
            if not OPTION_NAME.match(opt.name):
                problems.append(
                    f"/{spec.name} (plugin {spec.plugin}), option {opt.name!r}: "
                    "cannot be typed as name:value (lowercase letters, digits, - and _)"
                )
    return problems
