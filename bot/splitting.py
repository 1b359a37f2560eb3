"""Splitting long replies into messages a platform accepts, at natural boundaries."""

from __future__ import annotations

import re

FENCE = "```"
# Where to cut, best first: a paragraph, a line, a sentence, a word.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])"),
    re.compile(r"\s+"),
)
# A cut earlier than this share of the limit wastes too much of a message: try a finer one.
_MIN_SHARE = 0.5


def _fence_open_at(text: str, position: int) -> str | None:
    """The opening line of the code fence `position` is inside, or None."""
    opening: str | None = None
    for match in re.finditer(r"```[^\n]*", text[:position]):
        opening = None if opening is not None else match.group(0)
    return opening


def _inside_fences(text: str, limit: int) -> list[tuple[int, int]]:
    """(start, end) spans of the first `limit` characters that lie inside code blocks."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for match in re.finditer(FENCE, text[: limit + len(FENCE)]):
        if start is None:
            start = match.start()
        else:
            spans.append((start + 1, match.end()))
            start = None
    if start is not None:
        spans.append((start + 1, len(text)))
    return spans


def _best_cut(text: str, limit: int) -> int:
    """The cut position (<= limit) at the best boundary outside a code fence, or 0."""
    fenced = _inside_fences(text, limit)

    def outside(cut: int) -> bool:
        return not any(a <= cut < b for a, b in fenced)

    fallback = 0
    for pattern in _BOUNDARIES:
        cuts = [m.start() for m in pattern.finditer(text, 0, limit + 1) if 0 < m.start() <= limit]
        cuts = [c for c in cuts if outside(c)]
        if cuts and cuts[-1] >= limit * _MIN_SHARE:
            return cuts[-1]
        # No cut in the second half at this level: remember the best one, try a finer level.
        fallback = fallback or (cuts[-1] if cuts else 0)
    return fallback


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraphs, lines, sentences or words.

    A cut never falls inside a code block unless one block alone is longer than the limit;
    then the block is closed at a line end and reopened, with its language, in the next piece.
    """
    if limit < 16:
        raise ValueError("limit is too small to split sensibly")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _best_cut(rest, limit)
        if cut:
            pieces.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
            continue
        # 1) Inside a long code block: cut at a line end, close the fence, reopen it next.
        opening = _fence_open_at(rest, limit - len(FENCE) - 1)
        if opening is not None:
            room = limit - len(FENCE) - 1
            line_end = rest.rfind("\n", 0, room)
            cut = line_end if line_end > len(opening) else room
            pieces.append(rest[:cut].rstrip("\n") + "\n" + FENCE)
            rest = opening + "\n" + rest[cut:].lstrip("\n")
            continue
        # 2) One word longer than a message (a URL, a wall of letters): cut it.
        pieces.append(rest[:limit])
        rest = rest[limit:]
    if rest:
        pieces.append(rest)
    return pieces
