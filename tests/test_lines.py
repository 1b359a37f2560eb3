"""Verse lines out of a model's text: what /lyrics keeps, drops and cuts."""

from __future__ import annotations

from bot.lines import clean_line, split_long, too_long, verse_lines


def test_labels_numbering_and_commentary_are_not_verse() -> None:
    text = """Sure, here are the lyrics:
[Verse 1]
1. Neon rivers on the street,
- Umbrellas bloom like paper flowers
**Chorus:**
【副歌】（4行）
这句歌词的主题很有趣：“城市夜雨”
"""
    assert verse_lines(text) == ["Neon rivers on the street", "Umbrellas bloom like paper flowers"]


def test_a_sung_line_keeps_its_words_and_loses_a_trailing_comma() -> None:
    assert clean_line("  “雨落在窗前，”  ") == "雨落在窗前"
    assert clean_line("The night is young;") == "The night is young"
    assert clean_line("Verse 2:") == ""


def test_a_paragraph_is_cut_at_its_commas_into_singable_lines() -> None:
    line = "在遥远的地方，我想离开，只是无法见面，脚步越来越缓慢，直到风破浪涌"
    assert too_long(line)
    pieces = split_long(line)
    assert "".join(pieces).replace("，", "") == line.replace("，", "")
    assert all(not too_long(piece) for piece in pieces)
    assert split_long("Short and sweet") == ["Short and sweet"]


def test_a_bracketed_label_in_front_of_a_line_is_dropped_and_the_words_kept() -> None:
    text = "【主题】夏日的最后一天\n[Chorus] Oh the rain\nChorus: I'll make you feel like a dream"
    assert verse_lines(text) == ["夏日的最后一天", "Oh the rain", "I'll make you feel like a dream"]
