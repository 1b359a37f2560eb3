"""Which writing system a text is in: the share of its letters in a language's script."""

from __future__ import annotations

import unicodedata

# Fewer letters than this say too little about a text's language to judge it.
MIN_LETTERS = 8


def is_han(char: str) -> bool:
    """True for a Chinese character (CJK unified ideographs and their extensions)."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2EBEF
        or 0xF900 <= code <= 0xFAFF
    )


def is_latin(char: str) -> bool:
    """True for a letter of the Latin script (English, and accented letters)."""
    return char.isalpha() and "LATIN" in unicodedata.name(char, "")


def letters(text: str) -> list[str]:
    """The letters of a text: alphabetic characters, Chinese characters included."""
    return [char for char in text if char.isalpha()]


def script_share(text: str, language: str) -> float | None:
    """The share of the text's letters written in the language's script; None if too short.

    zh counts Chinese characters, en counts Latin letters. Digits, punctuation and spaces
    do not count either way.
    """
    found = letters(text)
    if len(found) < MIN_LETTERS:
        return None
    belongs = is_han if language == "zh" else is_latin
    return sum(1 for char in found if belongs(char)) / len(found)


def mostly_in(text: str, language: str, threshold: float = 0.5) -> bool:
    """True unless the text is long enough to judge and mostly in another script."""
    share = script_share(text, language)
    return share is None or share >= threshold
