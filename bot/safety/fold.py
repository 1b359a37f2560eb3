"""Folding text for matching: NFKC, case folding, look-alike characters, separators dropped.

Each character folds on its own into zero or more letters, so text that arrives in pieces
(a streamed reply) folds the same as the whole, and every folded letter knows which
original character it came from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from confusable_homoglyphs import confusables

# Scripts written without spaces between words: a phrase in them matches anywhere.
_UNSPACED_RANGES = (
    (0x2E80, 0x9FFF),  # CJK radicals, kana, CJK unified ideographs and extension A
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def unspaced(ch: str) -> bool:
    """True for characters of scripts matched on characters, not words (Chinese, Japanese)."""
    code = ord(ch)
    if code < 0x2E80:  # most text: no range to look through
        return False
    return any(lo <= code <= hi for lo, hi in _UNSPACED_RANGES)


def word_char(ch: str) -> bool:
    """True for a folded letter or digit of a script that separates words with spaces."""
    return ch.isalnum() and not unspaced(ch)


@lru_cache(maxsize=4096)
def _latin_lookalike(ch: str) -> str:
    """The Latin letter a non-Latin character is confusable with (Unicode's data), or ch."""
    found = _listed_lookalike(ch)
    if found is None and len(upper := ch.upper()) == 1 and upper != ch:
        # Unicode lists many capitals only ("М" as "M", not "м" as "m"): a small letter
        # reads as the small form of its capital's look-alike.
        capital = _listed_lookalike(upper)
        found = capital.lower() if capital is not None else None
    return found or ch


def _listed_lookalike(ch: str) -> str | None:
    """The ASCII letter or digit Unicode's confusables data lists for ch, if any."""
    found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True)
    for item in found or ():
        for glyph in item["homoglyphs"]:
            c = str(glyph["c"])
            if len(c) == 1 and c.isascii() and c.isalnum():
                return c
    return None


class Folding:
    """How characters fold: Unicode's look-alikes plus a table of ASCII ones (digits, @, $)."""

    def __init__(self, lookalikes: Mapping[str, str] | None = None) -> None:
        # {"4": "a", "@": "a", "i": "l", ...}: each key is read as its value.
        self.lookalikes = dict(lookalikes or {})
        self._cache: dict[str, tuple[str, bool]] = {}

    def fold_char(self, ch: str) -> tuple[str, bool]:
        """(letters, is_separator): what one character contributes to the folded text.

        Combining marks vanish without separating (so accents cannot split a word); spaces,
        punctuation, symbols and invisible characters vanish and separate.
        """
        cached = self._cache.get(ch)
        if cached is None:
            cached = self._fold_char(ch)
            if len(self._cache) < 65536:
                self._cache[ch] = cached
        return cached

    def fold(self, text: str) -> str:
        """The folded letters of a whole text (for phrases in the lists)."""
        return "".join(self.fold_char(ch)[0] for ch in text)

    def _fold_char(self, ch: str) -> tuple[str, bool]:
        if unicodedata.category(ch).startswith("M"):
            return "", False
        out: list[str] = []
        # NFKC first (full-width, ligatures, styled letters), then drop accents from the rest.
        for c in unicodedata.normalize("NFKC", ch):
            for d in unicodedata.normalize("NFKD", c):
                if unicodedata.category(d).startswith("M"):
                    continue
                # Look-alikes before case folding, which can turn one into another letter
                # (lunate sigma "ϲ" looks like c but folds to σ).
                if not d.isascii() and not unspaced(d):
                    d = _latin_lookalike(d)
                for e in d.casefold():
                    if not e.isascii() and not unspaced(e):
                        e = _latin_lookalike(e).casefold()
                    e = self.lookalikes.get(e, e)
                    if e.isalnum():
                        out.append(e)
        return "".join(out), not out


@dataclass(slots=True)
class FoldedText:
    """Text folded so far, letter by letter, with where each letter came from."""

    folding: Folding
    letters: str = ""
    # For each letter: the index of the original character it came from...
    origin: list[int] = field(default_factory=list)
    # ...and whether a separator stood between it and the letter before.
    gap_before: list[bool] = field(default_factory=list)
    # Original characters seen so far, and whether the text ends in a separator.
    length: int = 0
    trailing_gap: bool = False

    def extend(self, text: str) -> None:
        """Fold more text onto the end."""
        # Hot: every streamed piece of every reply passes here, so lookups are bound once.
        cache, fold_char = self.folding._cache, self.folding.fold_char
        origin, gap_before = self.origin, self.gap_before
        parts: list[str] = []
        length, gap = self.length, self.trailing_gap
        for ch in text:
            letters, separator = cache.get(ch) or fold_char(ch)
            if separator:
                gap = True
            for letter in letters:
                parts.append(letter)
                origin.append(length)
                gap_before.append(gap)
                gap = False
            length += 1
        self.length, self.trailing_gap = length, gap
        self.letters += "".join(parts)

    def starts_word(self, i: int) -> bool:
        """True when letter i begins a word: nothing word-like joined to it on the left."""
        if i == 0 or self.gap_before[i]:
            return True
        if self.origin[i - 1] == self.origin[i]:
            return False  # both letters come from one character ("ﬁ")
        return not word_char(self.letters[i - 1])

    def ends_word(self, end: int, final: bool) -> bool | None:
        """True when the letters before `end` finish a word; None while that is not known yet."""
        if end < len(self.letters):
            if self.gap_before[end]:
                return True
            if self.origin[end] == self.origin[end - 1]:
                return False  # both letters come from one character
            return not word_char(self.letters[end])
        return True if final or self.trailing_gap else None
