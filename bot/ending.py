"""Where a prose reply ends: before it repeats a sentence, at a sentence end once it is
long enough, and never in the middle of a sentence that the token limit cut off."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lines import line_key
from bot.script import is_han

# The end of a sentence: its mark and any closing quote or bracket, then (after a Latin
# mark) a space; or a line break. A Latin mark needs the space after it, so that "3.5"
# or "Mr." in the middle of a word is not an end; a Chinese mark needs the next
# character, so that a closing quote still on its way is not cut off.
_SENTENCE_END = re.compile(
    r"""(?:[.!?…]+["'”’)\]]*(?=\s)|[。！？；…]+[”’」』）)]*(?=[\s\S])|\n+)"""
)
# A sentence shorter than this (letters, or Chinese characters counted double) may come
# twice in a good reply ("No." "Run!"); a longer one written again is a loop.
_REPEATABLE = 12


@dataclass(frozen=True, slots=True)
class Cut:
    """How much of a reply to show, and whether the reply is complete there."""

    keep: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Ending:
    """Decides, as a reply streams, how much of it may show and where it ends.

    A sentence the reply has already written, written again, ends the reply before it
    (a small model loops). With `words`, the reply ends at the first sentence end past
    that many words (a Chinese character counts as one word). A reply the token limit cut
    off mid-sentence ends at its last complete sentence. The unfinished sentence is held
    back while it could still turn out to be one of those cases.
    """

    words: int | None = None

    def cut(self, text: str, *, near_limit: bool = False, done: bool = False) -> Cut:
        """Where `text` stands; `near_limit`: the token limit may cut it soon; `done`: the
        engine has stopped (by the limit when `near_limit`)."""
        written: set[str] = set()
        start = 0
        words = 0  # in text[:start], counted sentence by sentence: one pass over the text
        for match in _SENTENCE_END.finditer(text):
            end = match.end()
            sentence = line_key(text[start:end])
            if sentence in written and _weight(sentence) >= _REPEATABLE:
                return Cut(start, True)
            if sentence:
                written.add(sentence)
            words += count_words(text[start:end])
            if self.words is not None and words >= self.words:
                return Cut(end, True)
            start = end
        tail = line_key(text[start:])
        if done:
            # Cut off by the limit: the unfinished sentence goes, when a whole one came.
            return Cut(start if near_limit and start and tail else len(text), True)
        repeating = bool(tail) and any(s.startswith(tail) for s in written)
        long_enough = self.words is not None and words + count_words(text[start:]) >= self.words
        hold = repeating or long_enough or near_limit
        return Cut(start if hold else len(text), False)


def count_words(text: str) -> int:
    """Words of Latin script, plus Chinese characters (each one word)."""
    han = sum(1 for char in text if is_han(char))
    return han + len(re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", _without_han(text)))


def _without_han(text: str) -> str:
    return "".join(" " if is_han(char) else char for char in text)


def _weight(key: str) -> int:
    """A sentence's length for the repeat rule: letters, a Chinese character counting two."""
    return sum(2 if is_han(char) else 1 for char in key)
