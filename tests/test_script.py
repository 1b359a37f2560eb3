"""Telling a reply's language by its script."""

from __future__ import annotations

from bot.script import mostly_in, script_share


def test_chinese_share_counts_chinese_characters_among_letters() -> None:
    assert script_share("灯塔看守人林海在海边捡到一个瓶子。", "zh") == 1.0
    assert script_share("Lightside Watchguard finds a bottle of maps.", "zh") == 0.0
    mixed = script_share("林海说：Mara 来了，带着地图和灯。", "zh")
    assert mixed is not None and 0.5 < mixed < 1.0


def test_too_short_to_judge_is_never_refused() -> None:
    assert script_share("OK 好", "zh") is None
    assert mostly_in("OK 好", "zh")
    assert not mostly_in("The storm arrives and the lamp goes out.", "zh")
    assert mostly_in("The storm arrives and the lamp goes out.", "en")
