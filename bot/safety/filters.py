"""Blocked words and phrases: the lists, a matcher per rating, and a filter for streamed text.

A phrase matches the folded text (see `fold`). In scripts that separate words with spaces
a phrase must start and end at word edges, so "class" never matches "ass" (the Scunthorpe
problem) while "a.s s" still does; a leading or trailing `*` in a list entry drops that
edge ("fuck*" also catches "fucking"). Chinese and Japanese match on characters anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.safety.fold import FoldedText, Folding, word_char
from bot.safety.ratings import LEVELS, Level, blocks

DEFAULT_LISTS = Path(__file__).resolve().parent / "blocklist.yaml"


class FilterListError(Exception):
    """A filter list file or setting cannot be used."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """One blocked entry as listed, and the folded letters it matches."""

    text: str
    letters: str
    level: Level
    # Whether the match must begin (end) at a word edge.
    edge_start: bool
    edge_end: bool


class Blocked(Exception):
    """Text matched a blocked phrase. The phrase is for tests and debugging, never for logs."""

    def __init__(self, phrase: Phrase) -> None:
        super().__init__("the text matched a blocked phrase")
        self.phrase = phrase


def make_phrase(text: str, level: Level, folding: Folding) -> Phrase | None:
    """A list entry folded for matching; None when nothing matchable is left of it."""
    entry = text.strip()
    letters = folding.fold(entry.strip("*"))
    if not letters:
        return None
    return Phrase(
        entry,
        letters,
        level,
        edge_start=not entry.startswith("*") and word_char(letters[0]),
        edge_end=not entry.endswith("*") and word_char(letters[-1]),
    )


class Matcher:
    """Finds blocked phrases in text; one per rating and channel list."""

    def __init__(
        self, phrases: Iterable[Phrase], folding: Folding, exceptions: Iterable[str] = ()
    ) -> None:
        unique = {(p.letters, p.edge_start, p.edge_end): p for p in phrases}
        self.phrases = tuple(unique.values())
        self.folding = folding
        # Clean words that contain a blocked phrase ("特色情况" holds "色情"): a match inside
        # one of them is not a match. Per phrase: (exception, where the phrase sits in it).
        folded = {folding.fold(e) for e in exceptions} - {""}
        self.exceptions: dict[str, list[tuple[str, int]]] = {}
        for p in self.phrases:
            for ex in folded:
                at = ex.find(p.letters)
                while at >= 0:
                    self.exceptions.setdefault(p.letters, []).append((ex, at))
                    at = ex.find(p.letters, at + 1)
        self.longest = max((len(p.letters) for p in self.phrases), default=0)
        # Where any phrase could begin, found in one pass of a regex shaped like a trie
        # (a lookahead, so overlapping phrases are all found); the phrases to check there,
        # by their first letter. A loop of str.find per phrase cost ~30% of a command.
        self._starts = (
            re.compile(f"(?={_trie_pattern(p.letters for p in self.phrases)})")
            if self.phrases
            else None
        )
        self._by_first: dict[str, list[Phrase]] = {}
        for p in self.phrases:
            self._by_first.setdefault(p.letters[0], []).append(p)
        # Every beginning of a phrase: text that ends in one may still become a match.
        self._prefixes_any: set[str] = set()
        self._prefixes_edge: set[str] = set()
        # The lengths those beginnings can have, by their last letter, longest first: only
        # these tails of the text need looking up.
        lengths: dict[str, set[int]] = {}
        for p in self.phrases:
            target = self._prefixes_edge if p.edge_start else self._prefixes_any
            for i in range(1, len(p.letters) + 1):
                target.add(p.letters[:i])
                lengths.setdefault(p.letters[i - 1], set()).add(i)
        self._tail_lengths = {ch: sorted(ls, reverse=True) for ch, ls in lengths.items()}

    def stream(self) -> StreamFilter:
        """A filter for text that arrives in pieces."""
        return StreamFilter(self)

    def find(self, text: str) -> Phrase | None:
        """The first blocked phrase in a whole text, or None."""
        if self._starts is None or self._starts.search(self.folding.fold(text)) is None:
            return None  # no phrase anywhere, whatever the word edges: most text
        filt = self.stream()
        try:
            filt.feed(text)
            filt.finish()
        except Blocked as exc:
            return exc.phrase
        return None


class StreamFilter:
    """Lets streamed text through only where no blocked phrase can still be forming.

    `feed` returns the text that is safe to show now and holds back the shortest tail
    that could still become (or is waiting to be confirmed as) a blocked phrase; a phrase
    split across pieces therefore never shows, not even partly. A match raises Blocked.
    """

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self._text = ""
        self._folded = FoldedText(matcher.folding)
        self._released = 0  # original characters already returned
        self._scanned = 0  # letters before this were checked, bar the last `longest`
        # Where the earliest match waiting to see whether it is part of an exception begins.
        self._undecided: int | None = None

    def feed(self, text: str) -> str:
        """Add text; return the part of everything so far that can be shown now."""
        self._text += text
        self._folded.extend(text)
        self._scan(final=False)
        return self._release(self._hold_from())

    def finish(self) -> str:
        """The text is complete: return what was held back, unless it completes a match."""
        self._scan(final=True)
        return self._release(self._folded.length)

    @property
    def shown(self) -> str:
        """Everything returned so far."""
        return self._text[: self._released]

    def _scan(self, *, final: bool) -> None:
        matcher, folded, letters = self._matcher, self._folded, self._folded.letters
        start = max(0, self._scanned - matcher.longest)
        if self._undecided is not None:
            start = min(start, self._undecided)
        self._undecided = None
        self._scanned = len(letters)
        if matcher._starts is None:
            return
        for hit in matcher._starts.finditer(letters, start):
            at = hit.start()
            for phrase in matcher._by_first[letters[at]]:
                if not letters.startswith(phrase.letters, at):
                    continue
                end = at + len(phrase.letters)
                ends = folded.ends_word(end, final) if phrase.edge_end else True
                if ends and any(folded.gap_before[at + 1 : end]):
                    # Letters spread over several words ("w h o r e") match only as whole
                    # words: "who read" is two clean words, not "whore" and "ad".
                    ends = folded.starts_word(at) and folded.ends_word(end, final)
                if (not phrase.edge_start or folded.starts_word(at)) and ends:
                    excused = self._excused(phrase, at, final)
                    if excused is None:
                        if self._undecided is None or at < self._undecided:
                            self._undecided = at
                    elif not excused:
                        raise Blocked(phrase)

    def _excused(self, phrase: Phrase, at: int, final: bool) -> bool | None:
        """True inside an exception; None while the text could still complete one."""
        letters = self._folded.letters
        undecided = False
        for exception, offset in self._matcher.exceptions.get(phrase.letters, ()):
            begin = at - offset
            if begin < 0:
                continue
            seen = letters[begin : begin + len(exception)]
            if seen == exception:
                return True
            if not final and len(seen) < len(exception) and exception.startswith(seen):
                undecided = True
        return None if undecided else False

    def _hold_from(self) -> int:
        """The original index from which text must stay hidden for now."""
        folded = self._folded
        letters, matcher = folded.letters, self._matcher
        n = len(letters)
        first = n if self._undecided is None else self._undecided
        # The earliest tail of the text that is the beginning of a phrase: it may still
        # become one, so it stays hidden.
        for size in matcher._tail_lengths.get(letters[-1], ()) if n else ():
            i = n - size
            if i < 0 or i >= first:
                continue
            tail = letters[i:]
            if tail in matcher._prefixes_any or (
                tail in matcher._prefixes_edge and folded.starts_word(i)
            ):
                return folded.origin[i]
        return folded.origin[first] if first < n else folded.length

    def _release(self, upto: int) -> str:
        if upto <= self._released:
            return ""
        out = self._text[self._released : upto]
        self._released = upto
        return out


class FilterLists:
    """The shipped lists, config.yaml's additions and removals, and matchers built from them."""

    def __init__(
        self,
        lists: Mapping[str, Mapping[Level, tuple[str, ...]]],
        folding: Folding,
        extra: Mapping[Level, tuple[str, ...]] | None = None,
        allowed: Iterable[str] = (),
        exceptions: Iterable[str] = (),
    ) -> None:
        self.folding = folding
        self.exceptions = tuple(exceptions)
        removed = {folding.fold(a.strip("*")) for a in allowed}
        phrases: list[Phrase] = []
        sources = [*lists.values(), extra or {}]
        for by_level in sources:
            for level in LEVELS:
                for text in by_level.get(level, ()):
                    phrase = make_phrase(text, level, folding)
                    if phrase is not None and phrase.letters not in removed:
                        phrases.append(phrase)
        self.phrases = tuple(phrases)
        self.languages = tuple(lists)

    @classmethod
    def load(
        cls,
        path: Path = DEFAULT_LISTS,
        extra: Mapping[str, tuple[str, ...]] | None = None,
        allowed: Iterable[str] = (),
    ) -> FilterLists:
        """Read a list file (the shipped one by default) and apply config.yaml's changes."""
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise FilterListError(f"cannot read filter lists {path}: {exc}") from None
        if not isinstance(data, dict):
            raise FilterListError(f"{path} must map languages to lists")
        lookalikes = data.pop("lookalikes", {}) or {}
        folding = Folding(
            {str(ch): str(to) for to, chars in lookalikes.items() for ch in str(chars)}
        )
        exceptions: list[str] = []
        lists: dict[str, dict[Level, tuple[str, ...]]] = {}
        for lang, section in data.items():
            if not isinstance(section, dict):
                raise FilterListError(f"{path} [{lang}] must map levels to lists")
            found = section.pop("exceptions", None) or []
            if not isinstance(found, list) or not all(isinstance(e, str) for e in found):
                raise FilterListError(f"{path} [{lang}] exceptions must be a list of words")
            exceptions.extend(found)
            lists[str(lang)] = _levels(f"{path} [{lang}]", section)
        extra_levels = _levels("safety.blocked", extra or {})
        return cls(lists, folding, extra_levels, allowed, exceptions)

    def matcher(self, rating: str, channel_phrases: Iterable[str] = ()) -> Matcher:
        """The matcher of one rating, plus one channel's own phrases (blocked at any rating)."""
        return self._matcher(rating, tuple(sorted(channel_phrases)))

    @lru_cache(maxsize=256)  # noqa: B019 - one FilterLists lives as long as the process
    def _matcher(self, rating: str, channel_phrases: tuple[str, ...]) -> Matcher:
        own = (make_phrase(t, "always", self.folding) for t in channel_phrases)
        chosen = [p for p in self.phrases if blocks(rating, p.level)]
        phrases = [*chosen, *(p for p in own if p is not None)]
        return Matcher(phrases, self.folding, self.exceptions)


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of `words`, shared beginnings written once ("ass(?:hole)?")."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")" if len(branches) > 1 else branches[0]
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


def _levels(where: str, data: Any) -> dict[Level, tuple[str, ...]]:
    if not isinstance(data, Mapping):
        raise FilterListError(f"{where} must map levels ({', '.join(LEVELS)}) to lists")
    out: dict[Level, tuple[str, ...]] = {}
    for key, items in data.items():
        if key not in LEVELS:
            raise FilterListError(f"{where}: unknown level {key!r}; use {', '.join(LEVELS)}")
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise FilterListError(f"{where}.{key} must be a list of words or phrases")
        out[key] = tuple(items)
    return out
