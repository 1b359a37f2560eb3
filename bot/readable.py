"""Text anyone can store and show: undecodable bytes become U+FFFD, never lone surrogates."""

from __future__ import annotations


def readable(text: str) -> str:
    """The text with every lone surrogate replaced by U+FFFD (one per undecodable byte).

    Python reads bytes that are not UTF-8 as lone surrogates ("surrogateescape"), and JSON may
    carry them as escapes; no terminal, SQLite database or platform accepts them.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text
