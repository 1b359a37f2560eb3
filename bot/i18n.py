"""Words for people, in their language: gettext catalogs read through Babel, lazy messages.

Code never builds a sentence from English pieces. It marks each message with `_()` (or
`_n()` for plurals, `_p()` with a context) and passes arguments; the result is a `Text`
that is rendered in a language only where the language is known (the router knows the
channel's, an adapter knows the person's locale). The English text is the message id,
as gettext users expect; `bot/locale/<locale>/LC_MESSAGES/skaldbot.po` holds one catalog
per locale, English included (its ordinals and plurals are data too).

The catalogs are compiled in memory when first used (Babel's `read_po`, then `write_mo`),
so a fresh clone, an editable install and a wheel behave alike and no build output is
kept in the tree; reading them takes a few milliseconds once per process.

Adding a language is data only: a catalog directory here (`make catalogs` makes and
updates them) and a section in every prompt file. A catalog whose name has a region
(`zh_TW`) is a variant: people whose platform locale asks for it read it, while channels
and prompts use its base language (`zh`).
"""

from __future__ import annotations

import functools
import gettext
import io
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALES",
    "LOCALE_DIR",
    "N_",
    "SOURCE_LANGUAGE",
    "Join",
    "Languages",
    "Message",
    "Ordinal",
    "Text",
    "_",
    "_n",
    "_p",
    "base_language",
    "choice",
    "choices",
    "locale_of",
    "render",
    "translate",
]

DOMAIN = "skaldbot"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"
# The context of choice values (genres, moods, levels) in the catalogs.
CHOICE = "choice"
# Contexts of the names Discord shows localized (a word may be a command and an option).
COMMAND_NAME = "command name"
OPTION_NAME = "option name"


def _catalog_locales() -> tuple[str, ...]:
    found = sorted(
        p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if p.is_file()
    )
    # The source language first: it is every fallback.
    return tuple(sorted(found, key=lambda loc: loc != SOURCE_LANGUAGE)) or (SOURCE_LANGUAGE,)


# Every locale with a catalog ("en", "zh", "zh_TW"), and the languages a channel can speak
# (those without a region: each has a section in every prompt file).
LOCALES: tuple[str, ...] = _catalog_locales()
LANGUAGES: tuple[str, ...] = tuple(loc for loc in LOCALES if "_" not in loc)


def base_language(locale: str) -> str:
    """The channel language of a catalog locale: "zh_TW" -> "zh"."""
    return locale.split("_")[0]


def locale_of(tag: str | None) -> str | None:
    """The catalog for a platform's locale tag ("zh-CN" -> "zh", "zh-TW" -> "zh_TW"), or None.

    Discord says "zh-CN", "en-US"; Slack "zh-CN", "en-GB"; Babel "zh_Hant_TW". The exact
    locale wins, then the language alone; a language with no catalog gives None.
    """
    if not tag:
        return None
    parts = tag.replace("-", "_").split("_")
    language = parts[0].lower()
    regions = [p.upper() for p in parts[1:] if len(p) == 2]
    if language == "zh" and not regions and any(p.lower() == "hant" for p in parts[1:]):
        regions = ["TW"]  # "zh-Hant" names the script Taiwan's catalog is written in
    for candidate in [f"{language}_{r}" for r in regions] + [language]:
        if candidate in LOCALES:
            return candidate
    return None


def babel_locale(locale: str) -> Locale:
    """The Babel locale for list and plural rules; English when Babel does not know it."""
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(SOURCE_LANGUAGE)


@functools.cache
def _translations(locale: str) -> gettext.NullTranslations:
    """One locale's catalog, compiled in memory (see the module's docstring for why)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# Translations that plugins ship beside their prompts (a `messages:` section in their
# YAML): {plugin: {locale: {English text: translation}}}. Consulted after the catalogs.
_plugin_messages: dict[str, dict[str, dict[str, str]]] = {}


def add_plugin_messages(plugin: str, messages: Mapping[str, Mapping[str, str]]) -> None:
    """Use a plugin's own translations (from its prompt file) until it is unloaded."""
    _plugin_messages[plugin] = {
        str(k): {str(a): str(b) for a, b in v.items()} for k, v in messages.items()
    }


def remove_plugin_messages(plugin: str) -> None:
    """Forget an unloaded plugin's translations."""
    _plugin_messages.pop(plugin, None)


def _from_plugins(locale: str, text: str) -> str | None:
    for messages in _plugin_messages.values():
        for loc in (locale, base_language(locale)):
            found = messages.get(loc, {}).get(text)
            if found:
                return found
    return None


def translate(
    locale: str,
    msgid: str,
    *,
    plural: str | None = None,
    n: int | None = None,
    context: str | None = None,
) -> str:
    """The catalog's translation of one message (the English text when it has none)."""
    catalog = _translations(locale) if locale in LOCALES else _translations(SOURCE_LANGUAGE)
    if plural is not None:
        count = 1 if n is None else n
        if context is not None:
            return catalog.npgettext(context, msgid, plural, count)
        return catalog.ngettext(msgid, plural, count)
    found = catalog.pgettext(context, msgid) if context is not None else catalog.gettext(msgid)
    if found == msgid and locale != SOURCE_LANGUAGE:
        # A plugin author's own words: their prompt file may translate them.
        return _from_plugins(locale, msgid) or found
    return found


@runtime_checkable
class Renderable(Protocol):
    """Anything that becomes text once the language is known."""

    def render(self, locale: str) -> str:
        """The text in this locale."""
        ...


@dataclass(frozen=True, slots=True)
class Text:
    """A message id with its arguments, rendered when the reader's language is known."""

    msgid: str
    args: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    n: int | None = None
    context: str | None = None

    def render(self, locale: str) -> str:
        """The message translated into `locale`, its arguments filled in."""
        pattern = translate(locale, self.msgid, plural=self.plural, n=self.n, context=self.context)
        if not self.args:
            return pattern
        values = {
            k: render(v, locale) if isinstance(v, Renderable) else v for k, v in self.args.items()
        }
        try:
            return pattern.format(**values)
        except (KeyError, IndexError, ValueError):
            # A broken translation must not take the message down: fall back to English.
            return self.msgid.format(**values) if self.plural is None else pattern

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


@dataclass(frozen=True, slots=True)
class Join:
    """Items joined the way the language lists them: "a, b, or c" / "a、b或c"."""

    items: tuple[object, ...]
    style: Literal["standard", "or", "unit"] = "standard"

    def render(self, locale: str) -> str:
        """The list in this locale."""
        shown = [render(i, locale) if isinstance(i, Renderable) else str(i) for i in self.items]
        if not shown:
            return ""
        return format_list(shown, style=self.style, locale=babel_locale(locale))


@dataclass(frozen=True, slots=True)
class Ordinal:
    """A place in a sequence: "3rd" in English, "第3" in Chinese (CLDR's ordinal rules)."""

    n: int

    def render(self, locale: str) -> str:
        """The ordinal in this locale."""
        category = babel_locale(locale).ordinal_form(self.n)
        return translate(
            locale, ORDINALS.get(category, ORDINALS["other"]), context=f"ordinal {category}"
        ).format(n=self.n)


# The English forms of CLDR's ordinal categories; every locale's catalog has all six, so
# a language with more categories than English needs only data.
ORDINALS = {
    "zero": "{n}th",
    "one": "{n}st",
    "two": "{n}nd",
    "few": "{n}rd",
    "many": "{n}th",
    "other": "{n}th",
}

Message = str | Renderable
"""What the core accepts for people: a plain string (shown as is) or a catalog message."""


def render(message: object, locale: str) -> str:
    """A message, a list, an ordinal or a plain string, as text in `locale`."""
    if isinstance(message, Renderable):
        return message.render(locale)
    return str(message)


def _(msgid: str, /, **args: object) -> Text:
    """A catalog message: `_("Unknown command /{name}.", name=word)`."""
    return Text(msgid, args)


def _n(singular: str, plural: str, n: int, /, **args: object) -> Text:
    """A message with plural forms; `{n}` is the count."""
    return Text(singular, {"n": n, **args}, plural=plural, n=n)


def _p(context: str, msgid: str, /, **args: object) -> Text:
    """A message whose English text means different things in different places."""
    return Text(msgid, args, context=context)


def N_(msgid: str, /) -> str:
    """Mark a string for the catalogs without translating it here (a constant's text)."""
    return msgid


def choice(value: object) -> Text:
    """A choice value (a genre, a mood, a level) as people of a language call it."""
    return Text(str(value), context=CHOICE)


def choices(*values: str) -> tuple[str, ...]:
    """Mark choice values for the catalogs (suggested styles, say); returns them unchanged."""
    return values


def placeholders(pattern: str) -> set[str]:
    """The `{names}` a message fills in (what every translation must keep)."""
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}


@dataclass(frozen=True, slots=True)
class Languages:
    """Who reads what: public replies in the channel's language, private ones in the person's."""

    public: str = SOURCE_LANGUAGE
    private: str = SOURCE_LANGUAGE

    def of(self, private: bool) -> str:
        """The locale of a message shown to everyone (False) or only to its person (True)."""
        return self.private if private else self.public


def pick_language(*candidates: str | None, default: str = SOURCE_LANGUAGE) -> str:
    """The first candidate that is a channel language (a platform locale is mapped first)."""
    for candidate in candidates:
        locale = locale_of(candidate)
        if locale is not None:
            return base_language(locale)
    return default
