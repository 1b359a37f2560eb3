"""Lines of verse out of a model's text: labels, numbering and commentary dropped."""

from __future__ import annotations

import re

from bot.script import is_han

# A line that is only a label: "[Chorus]", "【副歌】", "(Verse 2)", "Chorus:", "副歌（4行）：".
_LABEL = re.compile(
    r"""^\s*(?:
        [\[【(（].{0,24}[\]】)）]\s*[:：]?
      | (?:intro|verse|pre-?chorus|chorus|bridge|hook|outro|refrain)\b[^a-z]{0,12}
      | (?:前奏|主歌|导歌|预副歌|副歌|桥段|记忆句|尾声)[\s\d一二三四（(）)行：:]*
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# A short bracketed label in front of a line's words: "【主题】夏日", "[Chorus] Oh rain".
_LABEL_PREFIX = re.compile(
    r"^\s*(?:[\[【(（][^\]】)）]{1,8}[\]】)）]\s*[:：]?"
    r"|(?:intro|verse|pre-?chorus|chorus|bridge|hook|outro|前奏|主歌|导歌|副歌|桥段|尾声)\s*\d?\s*[:：])"
    r"\s*(?=\S)",
    re.IGNORECASE,
)
# Numbering or bullets in front of a line: "1.", "2)", "-", "*", "•".
_BULLET = re.compile(r"^\s*(?:\d{1,2}\s*[.)、]|[-*•·])\s*")
# Lines about the song rather than of it.
_COMMENTARY = re.compile(
    r"(?:歌词|这首歌|本歌|以下是|好的[，,]|\blyrics?\b|\bhere (?:is|are)\b|\bsure[,!]|\bthis song\b"
    r"|\bverse \d\b|\bsection\b)",
    re.IGNORECASE,
)
# Punctuation a sung line does not end with (a comma left from a split sentence).
_TRAILING = "，,、;；：:。. "
# The longest singable line: words (English) or characters (Chinese).
MAX_WORDS = 12
MAX_HAN = 16


def clean_line(line: str) -> str:
    """One line of verse as it should be shown, or "" when it is no verse at all."""
    line = line.strip().strip("*_#>").strip()
    line = _BULLET.sub("", line)
    line = _LABEL_PREFIX.sub("", line)
    line = line.strip().strip("\"'“”「」").strip()
    if not line or _LABEL.match(line) or _COMMENTARY.search(line):
        return ""
    if line.endswith((":", "：")):
        return ""
    return line.rstrip(_TRAILING).strip()


def too_long(line: str) -> bool:
    """True when a line is a sentence or a paragraph rather than something sung in a breath."""
    han = sum(1 for char in line if is_han(char))
    if han:
        return han > MAX_HAN
    return len(line.split()) > MAX_WORDS


def split_long(line: str) -> list[str]:
    """A line too long to sing in a breath, cut at its commas into lines that are not."""
    if not too_long(line):
        return [line]
    pieces = [p.strip() for p in re.split(r"(?<=[，,;；。.!?！？])\s*", line) if p.strip()]
    lines: list[str] = []
    for piece in pieces:
        joined = f"{lines[-1]} {piece}" if lines and not is_han(piece[0]) else None
        if lines and joined is not None and not too_long(joined):
            lines[-1] = joined
        elif lines and is_han(piece[0]) and not too_long(lines[-1] + piece):
            lines[-1] = lines[-1] + piece
        else:
            lines.append(piece)
    return [line.rstrip(_TRAILING).strip() for line in lines if line.rstrip(_TRAILING).strip()]


def line_key(line: str) -> str:
    """What makes two lines the same line: their letters, whatever the punctuation."""
    return "".join(char for char in line.casefold() if char.isalnum())


def verse_lines(text: str) -> list[str]:
    """Every line of verse in a text, cleaned and cut to singable length."""
    found: list[str] = []
    for raw in text.splitlines():
        cleaned = clean_line(raw)
        if cleaned:
            found.extend(split_long(cleaned))
    return found
