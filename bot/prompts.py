"""Prompt templates: YAML data files with one section per language, rendered with Jinja2.

A template writes a choice value in its own language with the `choice` filter
(`{{ genre | choice }}`: "fantasy" in English, "奇幻" in Chinese, from the catalogs). A
file may also carry a `messages:` section, `{language: {English text: translation}}`,
for a custom plugin's descriptions and messages (see README, "Add a plugin").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from bot.i18n import LANGUAGES, choice
from engine import ChatMessage

MESSAGES = "messages"
# The shipped prompt files are package data of `plugins` (plugins/prompts/*.yaml), so an
# installed wheel reads them where it was installed, not from a source checkout.
PROMPTS_DIR = Path(str(resources.files("plugins") / "prompts"))


class PromptError(Exception):
    """A prompt file is missing, malformed, or lacks a template or a language."""


def untrusted(text: object) -> str:
    """Text from people (chat messages, a piece of writing) made safe to quote in a prompt.

    Templates put such text between <quote> and </quote>; angle brackets inside it are
    swapped for look-alikes so that it can never close the quote and speak as the prompt.
    """
    return str(text).replace("<", "‹").replace(">", "›")


class PromptFile:
    """The templates of one plugin: `{language: {name: template}}`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PromptError(f"cannot read prompts {path}: {exc}") from exc
        if not isinstance(data, dict) or not all(lang in data for lang in LANGUAGES):
            raise PromptError(f"{path} needs a section for each language: {', '.join(LANGUAGES)}")
        messages = data.get(MESSAGES) or {}
        if not isinstance(messages, dict) or not all(
            isinstance(v, dict) for v in messages.values()
        ):
            raise PromptError(f"{path}: `{MESSAGES}` maps languages to {{English: translation}}")
        # The plugin's own translations of its descriptions and messages.
        self.messages: dict[str, dict[str, str]] = {
            str(lang): {str(k): str(v) for k, v in table.items()}
            for lang, table in messages.items()
        }
        self._templates: dict[str, dict[str, jinja2.Template]] = {}
        # Templates that use no variables (most system prompts), rendered once: every
        # command renders its system prompt, and Jinja's per-render set-up is most of it.
        self._constant: dict[tuple[str, str], str] = {}
        names: set[str] | None = None
        for lang in LANGUAGES:
            env = _environment(lang)
            section = data[lang]
            if not isinstance(section, dict):
                raise PromptError(f"{path}: section {lang!r} must map names to templates")
            try:
                self._templates[lang] = {
                    str(k): env.from_string(str(v)) for k, v in section.items()
                }
            except jinja2.TemplateSyntaxError as exc:
                raise PromptError(f"{path} [{lang}]: {exc}") from exc
            for key, source in section.items():
                if not jinja2.meta.find_undeclared_variables(env.parse(str(source))):
                    self._constant[lang, str(key)] = (
                        self._templates[lang][str(key)].render().strip()
                    )
            if names is not None and set(section) != names:
                raise PromptError(f"{path}: languages must define the same templates")
            names = set(section)

    def render(self, language: str, name: str, **values: Any) -> str:
        """One template filled in, in the given language (English if unknown)."""
        if language not in self._templates:
            language = "en"
        constant = self._constant.get((language, name))
        if constant is not None:
            return constant
        templates = self._templates[language]
        if name not in templates:
            raise PromptError(f"{self.path} has no template {name!r}")
        return templates[name].render(**values).strip()

    def names(self) -> set[str]:
        """The template names this file defines."""
        return set(self._templates["en"])


def _environment(language: str) -> jinja2.Environment:
    """Jinja for one language's templates: strict, unescaped, with `untrusted` and `choice`."""
    # Undefined variables are bugs in the template: fail loudly, never render "".
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
    )
    env.filters["untrusted"] = untrusted
    env.filters["choice"] = lambda value: choice(value).render(language)
    return env


class PromptRenderer:
    """One plugin's prompts in one channel's language, as handlers see them."""

    def __init__(self, file: PromptFile | None, language: str, guidance: str = "") -> None:
        self._file = file
        self.language = language
        # The channel's rating guidance, appended to every system prompt.
        self.guidance = guidance
        # The text values each rendered user message was filled with, by that message's
        # text: what is not the template's own words (see values_in).
        self._values: dict[str, tuple[str, ...]] = {}

    def render(self, name: str, **values: Any) -> str:
        """Render one template."""
        if self._file is None:
            raise PromptError("this plugin has no prompt file")
        return self._file.render(self.language, name, **values)

    def chat(self, name: str, *, system: str = "system", **values: Any) -> list[ChatMessage]:
        """A system message (kept byte-stable for prefix caching) and the named user message.

        The system message ends with the channel's rating guidance. When the language's
        `<name>_example` template is not empty, a worked example comes between them as an
        earlier exchange: that request, then `<name>_example_answer` as the model's reply
        (a small model follows an example it answered more closely than a description).
        """
        messages = [self.system(system, **values)]
        example = f"{name}_example"
        if self._file is not None and example in self._file.names() and self.render(example):
            answer = self.render(f"{example}_answer")
            messages += [self.user(example), ChatMessage("assistant", answer)]
        return [*messages, self.user(name, **values)]

    def system(self, name: str = "system", **values: Any) -> ChatMessage:
        """The named system message, ending with the channel's rating guidance."""
        text = self.render(name, **values)
        return ChatMessage("system", f"{text}\n\n{self.guidance}" if self.guidance else text)

    def user(self, name: str, **values: Any) -> ChatMessage:
        """The named template as a user message (of a chat that may have several turns)."""
        text = self.render(name, **values)
        self._values[text] = tuple(_texts(values.values()))
        return ChatMessage("user", text)

    def values_in(self, messages: Sequence[ChatMessage]) -> tuple[str, ...]:
        """The text values rendered into these messages (a premise, a story so far): what
        a reply may repeat, unlike the template's own instructions."""
        found: list[str] = []
        for message in messages:
            found.extend(self._values.get(message.content, ()))
        return tuple(found)


def _texts(values: Iterable[object]) -> Iterator[str]:
    """Every string among values, in lists too."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list | tuple):
            yield from _texts(value)
