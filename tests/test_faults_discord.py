"""Faults on the Discord side: refused edits, 5xx storms, Discord taking nothing at all.

Each test injects one fault into the local fake Discord and checks what the user sees: the
final text always lands (or the user is told plainly), no reply is left with a Stop button,
and when nothing can reach the user the generation stops at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fake_discord import FakeDiscord
from tests.test_discord_adapter import (
    Clock,
    clock,
    components,
    fake,
    reply_showing,
    restore_discord_addresses,
    stop_bot,
)

__all__ = ["clock", "fake", "restore_discord_addresses"]

ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"


def visible(fake: FakeDiscord) -> list[dict[str, object]]:
    """The reply's messages as the channel shows them (not ephemeral ones)."""
    return [m for m in fake.messages(fake.general_channel_id) if not m.get("flags")]


async def test_one_edit_refused_with_403_does_not_freeze_the_reply(
    fake: FakeDiscord, tmp_path: Path, clock: Clock
) -> None:
    bot, _record = await reply_showing(fake, tmp_path, "tide", 60)
    fake.fail_next("PATCH", ORIGINAL, 403, 50001)
    await bot.settled()
    shown = visible(fake)
    # Whatever message holds it now, the whole text is there and the reply is final.
    assert " ".join(str(m["content"]) for m in shown).split().count("tide") == 60
    assert all(components(m) != ["Stop"] for m in shown)
    assert bot.engine.aborted == 0
    await stop_bot(bot)


async def test_a_storm_of_503s_on_edits_still_ends_with_the_whole_text(
    fake: FakeDiscord, tmp_path: Path, clock: Clock
) -> None:
    bot, _record = await reply_showing(fake, tmp_path, "storm", 60)
    fake.fail_next("PATCH", ORIGINAL, 503, times=2)
    await bot.settled()
    shown = visible(fake)
    assert " ".join(str(m["content"]) for m in shown).split().count("storm") == 60
    assert all(components(m) != ["Stop"] for m in shown)
    await stop_bot(bot)


async def test_when_discord_takes_nothing_the_generation_stops_at_once(
    fake: FakeDiscord, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bot, _record = await reply_showing(fake, tmp_path, "lost", 1500)
    # From now on Discord fails every message call: edits, follow-ups, channel messages.
    fake.fail_next("*", ORIGINAL, 503, times=1000)
    fake.fail_next("*", r"/webhooks/\d+/[^/]+(/messages/\d+)?", 503, times=1000)
    fake.fail_next("*", r"/channels/\d+/messages(/\d+)?", 503, times=1000)
    caplog.set_level(logging.WARNING)
    await bot.settled(timeout_s=25)
    # Stopped well before its 1,500 words (30 s) were written, and logged once.
    assert bot.engine.aborted == 1
    failures = [r for r in caplog.records if "reply to /tutor explain failed" in r.getMessage()]
    assert len(failures) == 1 and "(incident " in failures[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await stop_bot(bot)
