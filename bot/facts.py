"""The facts a reply must keep from the text it was made from: numbers and days."""

from __future__ import annotations

import re

# A day of the week written in Chinese: 周二, 星期二, 礼拜二 (天 and 日 are both Sunday).
_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")
_DIGITS = re.compile(r"\d+")


def numbers_in(text: str, *, complete: bool = True) -> set[str]:
    """The numbers a text states: runs of digits, and days of the week in Chinese.

    With complete=False (text still streaming) a run of digits at the very end is left
    out: the next delta may add digits to it.
    """
    if not complete:
        text = re.sub(r"\d+$", "", text)
    days = {f"weekday {'日' if day == '天' else day}" for day in _WEEKDAY.findall(text)}
    return set(_DIGITS.findall(text)) | days
