"""Long replies split into messages at natural boundaries, never inside a code block."""

from __future__ import annotations

import pytest

from bot.splitting import split_text


def test_short_text_is_one_piece() -> None:
    assert split_text("Hello there.", 2000) == ["Hello there."]


def test_paragraphs_are_preferred_over_lines_and_sentences() -> None:
    text = "First paragraph, sentence one. Sentence two.\n\nSecond paragraph here."
    assert split_text(text, 50) == [
        "First paragraph, sentence one. Sentence two.",
        "Second paragraph here.",
    ]


def test_a_long_paragraph_splits_at_a_sentence_then_at_a_word() -> None:
    text = "The storm came in fast. " * 10 + "x" * 10
    pieces = split_text(text, 100)
    assert all(len(p) <= 100 for p in pieces)
    assert all(p.endswith((".", "x")) for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_words_are_never_cut_when_spaces_exist() -> None:
    text = " ".join(f"word{i:03d}" for i in range(300))
    pieces = split_text(text, 64)
    assert " ".join(pieces) == text
    assert all(len(p) <= 64 for p in pieces)


def test_a_code_block_is_kept_whole_when_it_fits() -> None:
    code = "```python\n" + "\n".join(f"print({i})" for i in range(8)) + "\n```"
    text = "Intro line that is fairly long to fill space.\n" + code + "\nAfter."
    pieces = split_text(text, len(code) + 10)
    assert code in pieces[1] or code in pieces[0]
    for piece in pieces:
        assert piece.count("```") % 2 == 0


def test_a_code_block_longer_than_a_message_is_closed_and_reopened() -> None:
    code = "```python\n" + "\n".join(f"value_{i} = {i}" for i in range(60)) + "\n```"
    pieces = split_text(code, 200)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece) <= 200
        assert piece.startswith("```python") and piece.endswith("```")
    body = [line for p in pieces for line in p.splitlines() if not line.startswith("```")]
    assert body == [f"value_{i} = {i}" for i in range(60)]


def test_one_enormous_word_is_cut_to_fit() -> None:
    assert split_text("a" * 250, 100) == ["a" * 100, "a" * 100, "a" * 50]


def test_chinese_sentences_split_after_their_full_stops() -> None:
    text = "月亮升起来了。" * 30
    pieces = split_text(text, 50)
    assert all(p.endswith("。") and len(p) <= 50 for p in pieces)
    assert "".join(pieces) == text


@pytest.mark.parametrize("limit", [2000, 3000, 40000])
def test_every_piece_fits_the_platform_limits(limit: int) -> None:
    text = ("A line of the story.\n" * 200 + "\n\n") * 20
    assert all(len(p) <= limit for p in split_text(text, limit))
