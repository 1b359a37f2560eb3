"""Typed text commands (`/story start premise:"a lighthouse" genre:mystery`) into raw options.

The console uses this, and so can any adapter whose platform delivers commands as text.
Values stay text here: validation against the declarations happens once, in the router.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.errors import UserError
from bot.i18n import _
from bot.plugin import CommandSpec

_OPTION = re.compile(r"^([a-z][a-z0-9_-]*):(.*)$", re.DOTALL)
# An option name that can be typed as `name:value`.
OPTION_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "「": '"', "」": '"'})


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command name and its raw option values, as typed."""

    name: str
    options: dict[str, str]


def is_command(line: str) -> bool:
    """True for a line that is a command rather than a chat message."""
    return line.lstrip().startswith("/") and len(line.strip()) > 1


def tokenize(text: str) -> list[str]:
    """Split on spaces, keeping "double-quoted" parts together; a backslash escapes a quote."""
    tokens: list[str] = []
    current: list[str] = []
    in_quotes = False
    started = False
    chars = iter(text.translate(_QUOTES))
    for ch in chars:
        if ch == "\\" and in_quotes:
            nxt = next(chars, "")
            current.append(nxt if nxt in '"\\' else "\\" + nxt)
        elif ch == '"':
            in_quotes = not in_quotes
            started = True
        elif ch.isspace() and not in_quotes:
            if started or current:
                tokens.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
    if in_quotes:
        raise UserError(_('Unbalanced quote: every " needs a closing ".'))
    if started or current:
        tokens.append("".join(current))
    return tokens


def parse_command(line: str, commands: Mapping[str, CommandSpec]) -> ParsedCommand:
    """Find the command a line names and sort its words into named options and plain text."""
    body = line.strip().removeprefix("/")
    tokens = tokenize(body)
    if not tokens:
        raise UserError(_("Type a command after the slash, e.g. /help."))
    first = tokens[0].lower()
    groups = {c.words[1] for c in commands.values() if len(c.words) == 2 and c.words[0] == first}
    if groups and len(tokens) > 1 and first not in commands:
        name, rest = f"{first} {tokens[1].lower()}", tokens[2:]
    else:
        name, rest = first, tokens[1:]
    spec = commands.get(name)
    if spec is None:
        return ParsedCommand(name, {})  # the router answers "unknown command, did you mean"
    return ParsedCommand(name, _sort_words(spec, rest))


def _sort_words(spec: CommandSpec, words: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    loose: list[str] = []
    # Unquoted words after `premise:a` keep going into premise, as people type them.
    extending: str | None = None
    for word in words:
        match = _OPTION.match(word)
        opt = spec.option(match.group(1)) if match else None
        if match and opt is not None:
            if opt.name in options:
                raise UserError(_("`{option}` is given twice.", option=opt.name))
            options[opt.name] = match.group(2)
            extending = opt.name if opt.kind == "str" and not opt.choices else None
        elif extending is not None and not _OPTION.match(word):
            options[extending] += " " + word
        else:
            extending = None
            loose.append(word)
    if not loose:
        return options
    slot = _text_slot(spec)
    if slot is None or slot in options:
        unknown = next((w for w in loose if _OPTION.match(w)), None)
        if unknown:
            name = unknown.split(":", 1)[0]
            import difflib

            close = difflib.get_close_matches(name, [o.name for o in spec.options], n=1)
            if close:
                raise UserError(
                    _(
                        "/{command} has no option `{option}`. Did you mean `{close}`? "
                        "Usage: {usage}",
                        command=spec.name,
                        option=name,
                        close=close[0],
                        usage=spec.usage(),
                    )
                )
            raise UserError(
                _(
                    "/{command} has no option `{option}`. Usage: {usage}",
                    command=spec.name,
                    option=name,
                    usage=spec.usage(),
                )
            )
        raise UserError(
            _(
                "I don't know where {words} goes. Usage: {usage}",
                words=repr(" ".join(loose)),
                usage=spec.usage(),
            )
        )
    options[slot] = " ".join(loose)
    return options


def _text_slot(spec: CommandSpec) -> str | None:
    """The option plain text fills: the first required free-text option, else the first one."""
    free = [o for o in spec.options if o.kind == "str" and not o.choices]
    required = [o for o in free if o.required]
    chosen = required[0] if required else (free[0] if free else None)
    return chosen.name if chosen else None
