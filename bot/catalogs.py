"""Keeping the message catalogs complete: extract, update, check (`make catalogs`, tests).

The template is everything people can read: the strings marked in code (`_`, `_n`, `_p`,
`N_`, `choices`), and what the built-in plugins declare (command, option, preference and
plugin descriptions; command, option and choice names, which Discord localizes). Every
catalog must translate every one of them, keep each `{placeholder}`, and hold nothing
stale; `check()` lists what does not, and the test suite runs it.

    python -m bot.catalogs update   # add new messages to every catalog, drop stale ones
    python -m bot.catalogs check    # what a translator still has to do
"""

from __future__ import annotations

import argparse
import copy
import importlib
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po, write_po

from bot.i18n import (
    CHOICE,
    COMMAND_NAME,
    DOMAIN,
    LOCALE_DIR,
    LOCALES,
    OPTION_NAME,
    ORDINALS,
    SOURCE_LANGUAGE,
    placeholders,
)
from bot.prompts import PROMPTS_DIR, PromptError, PromptFile
from bot.sampling import SAMPLING_FILE

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("bot", "plugins")


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the template."""

    id: str | tuple[str, str]
    context: str | None
    where: str


def _marked(path: Path) -> Iterator[Entry]:
    """Strings marked for translation in one Python file."""
    rel = path.relative_to(ROOT).as_posix()
    # Every argument of these calls is looked at; the kind of call says which are which.
    keywords: dict[str, Any] = {name: None for name in ("_", "_n", "_p", "N_", "choices")}
    with path.open("rb") as source:
        for lineno, func, args, _comments in extract_python(source, keywords, [], {}):
            where = f"{rel}:{lineno}"
            values = args if isinstance(args, tuple | list) else (args,)
            strings: list[str] = [a for a in values if isinstance(a, str)]
            if func in ("_", "N_") and strings:
                yield Entry(strings[0], None, where)
            elif func == "_n" and len(strings) >= 2:
                yield Entry((strings[0], strings[1]), None, where)
            elif func == "_p" and len(strings) >= 2:
                yield Entry(strings[1], strings[0], where)
            elif func == "choices":
                yield from (Entry(s, CHOICE, where) for s in strings)


def _declared() -> Iterator[Entry]:
    """What the built-in plugins and the core declare for people to read."""
    from bot.config import Config
    from bot.core import core_prefs
    from bot.loader import BUILTIN_PLUGINS, plugin_classes

    for pref in core_prefs(Config()):
        yield from _pref_entries(pref, "bot/core.py")
    for name in BUILTIN_PLUGINS:
        module = importlib.import_module(f"plugins.{name}")
        where = f"plugins/{name}.py"
        for cls in plugin_classes(module):
            if cls.description:
                yield Entry(cls.description, None, where)
            for pref in cls.prefs:
                yield from _pref_entries(pref, where)
            for spec in cls.command_specs():
                yield Entry(spec.description, None, where)
                for word in spec.words:
                    yield Entry(word, COMMAND_NAME, where)
                for opt in spec.options:
                    yield Entry(opt.name, OPTION_NAME, where)
                    yield Entry(opt.description, None, where)
                    for c in opt.choices:
                        yield Entry(str(c.name), CHOICE, where)


def _pref_entries(pref: object, where: str) -> Iterator[Entry]:
    from bot.preferences import Pref

    assert isinstance(pref, Pref)
    yield Entry(pref.description, None, where)
    for value in pref.choices:
        yield Entry(str(value), CHOICE, where)


def template() -> Catalog:
    """Every message people can read, with where it comes from."""
    catalog = Catalog(locale=SOURCE_LANGUAGE, domain=DOMAIN, project="skaldbot")
    entries: list[Entry] = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            entries.extend(_marked(path))
    entries.extend(_declared())
    entries.extend(Entry(text, f"ordinal {cat}", "bot/i18n.py") for cat, text in ORDINALS.items())
    for entry in entries:
        file, _sep, line = entry.where.partition(":")
        where = (file, int(line) if line else 0)
        existing = catalog.get(entry.id, context=entry.context)
        if existing is not None:
            existing.locations.append(where)
            continue
        catalog.add(entry.id, locations=[where], context=entry.context)
    return catalog


def catalog_path(locale: str) -> Path:
    """Where a locale's catalog lives."""
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(locale: str) -> Catalog:
    """One locale's catalog as Babel reads it."""
    with catalog_path(locale).open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


def _english(message: Message) -> str | tuple[str, ...]:
    if not isinstance(message.id, str):
        return tuple(message.id)
    if message.context and message.context.startswith("ordinal "):
        return ORDINALS[message.context.removeprefix("ordinal ")]
    return message.id


def update(locales: Iterable[str] = LOCALES, seed: bool = True) -> None:
    """Bring every catalog in line with the template: new messages added, stale ones dropped.

    English translations are the message ids themselves. With `seed`, an empty Traditional
    Chinese entry starts from the Simplified one converted by OpenCC (Taiwan phrasing), when
    the `opencc` package is installed: a translator still reads it.
    """
    tmpl = template()
    for locale in locales:
        path = catalog_path(locale)
        catalog = read_catalog(locale) if path.is_file() else Catalog(locale=locale, domain=DOMAIN)
        catalog.project, catalog.version = "skaldbot", "0.1"
        catalog.language_team = catalog.last_translator = "Skald translators"
        # Babel's update adopts the template's new messages as they are: give it a copy.
        catalog.update(copy.deepcopy(tmpl), update_header_comment=False)
        catalog.obsolete.clear()
        for message in catalog:
            if not message.id:
                continue
            if locale == SOURCE_LANGUAGE and not _translated(message):
                message.string = _english(message)
                message.flags.discard("fuzzy")
        if seed and locale.startswith("zh_") and "zh" in LOCALES:
            _seed_traditional(catalog, read_catalog("zh"))
        path.parent.mkdir(parents=True, exist_ok=True)
        out = io.BytesIO()
        # No line numbers: a catalog changes when a message does, not when code moves.
        write_po(
            out, catalog, width=100, sort_output=False, ignore_obsolete=True, include_lineno=False
        )
        path.write_bytes(out.getvalue())


def _seed_traditional(catalog: Catalog, simplified: Catalog) -> None:
    try:
        import opencc
    except ImportError:
        return
    converter = opencc.OpenCC("s2twp")
    for message in catalog:
        if not message.id or _translated(message):
            continue
        source = simplified.get(message.id, context=message.context)
        if source is None or not _translated(source):
            continue
        if isinstance(source.string, tuple):
            message.string = tuple(converter.convert(s) for s in source.string)
        else:
            message.string = converter.convert(source.string)
        message.flags.discard("fuzzy")


def _strings(value: object) -> tuple[str, ...]:
    """A message's id or translation as its forms (one, or one per plural form)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list):
        return tuple(str(v) for v in value)
    return ("",) if value is None else (str(value),)


def _translated(message: Message) -> bool:
    strings = _strings(message.string)
    return bool(strings) and all(strings) and "fuzzy" not in message.flags


def check() -> list[str]:
    """Every message a catalog lacks, leaves fuzzy or breaks, and every prompt gap."""
    problems: list[str] = []
    tmpl = template()
    wanted = {(m.id if isinstance(m.id, str) else m.id[0], m.context): m for m in tmpl if m.id}
    for locale in LOCALES:
        path = catalog_path(locale)
        if not path.is_file():
            problems.append(f"{locale}: no catalog at {path}")
            continue
        catalog = read_catalog(locale)
        have = {(m.id if isinstance(m.id, str) else m.id[0], m.context): m for m in catalog if m.id}
        for key, source in wanted.items():
            shown = _shown(key)
            message = have.get(key)
            if message is None:
                problems.append(f"{locale}: {shown} is not in the catalog (run make catalogs)")
            elif not _translated(message):
                problems.append(f"{locale}: {shown} is not translated (or is marked fuzzy)")
            else:
                problems.extend(
                    f"{locale}: {shown}: {p}" for p in _placeholder_problems(source, message)
                )
        problems.extend(
            f"{locale}: {_shown(key)} is no longer used (run make catalogs)"
            for key in have.keys() - wanted.keys()
        )
    problems.extend(prompt_problems())
    return problems


def _shown(key: tuple[str, str | None]) -> str:
    text, context = key
    return f"{text!r}" + (f" ({context})" if context else "")


def _placeholder_problems(source: Message, message: Message) -> list[str]:
    ids = _strings(source.id)
    expected = set().union(*(placeholders(i) for i in ids))
    strings = _strings(message.string)
    problems = []
    for text in strings:
        try:
            found = placeholders(text)
        except ValueError as exc:
            problems.append(f"the translation is not a valid format string ({exc})")
            continue
        # A plural form may leave out the count ("one message"), never add a name.
        missing = expected - found - ({"n"} if len(ids) > 1 else set())
        if found - expected or missing:
            problems.append(
                f"placeholders {sorted(found)} in {text!r}, but the message has {sorted(expected)}"
            )
    return problems


def prompt_problems(folder: Path = PROMPTS_DIR) -> list[str]:
    """Prompt files that lack a language section or a template in one."""
    problems = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == SAMPLING_FILE.name:
            continue  # numbers, not words: the same in every language
        try:
            PromptFile(path)
        except PromptError as exc:
            problems.append(str(exc))
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.catalogs update|check`."""
    parser = argparse.ArgumentParser(prog="python -m bot.catalogs", description=__doc__)
    parser.add_argument("action", choices=("update", "check"))
    args = parser.parse_args(argv)
    if args.action == "update":
        update()
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problems in the message catalogs", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
