"""Faults on the Discord side: refused edits, 5xx storms, Discord taking nothing at all.

Each test injects one fault into the local fake Discord and checks what the user sees: the
final text always lands (or the user is told plainly), no reply is left with a Stop button,
and when nothing can reach the user the generation stops at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine import ChatMessage, GenerationParams
from tests.fake_discord import FakeDiscord
from tests.test_discord_adapter import (
    Bot,
    Clock,
    bot,
    clock,
    components,
    fake,
    reply_showing,
    stop_bot,
)

__all__ = ["bot", "clock", "fake"]

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
    # More than discord.py's own five tries of a webhook call (and its 25 s of pauses).
    fake.fail_next("PATCH", ORIGINAL, 503, times=6)
    await bot.settled()
    shown = visible(fake)
    assert " ".join(str(m["content"]) for m in shown).split().count("storm") == 60
    assert all(components(m) != ["Stop"] for m in shown)
    await stop_bot(bot)


async def test_when_discord_takes_nothing_the_generation_stops_at_once(
    fake: FakeDiscord, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bot, _record = await reply_showing(fake, tmp_path, "lost", 300)
    bot.engine.delay_s = 0.1  # 300 words (explain's token limit is 320): 30 s
    # From now on Discord fails every message call: edits, follow-ups, channel messages.
    fake.fail_next("*", ORIGINAL, 503, times=1000)
    fake.fail_next("*", r"/webhooks/\d+/[^/]+(/messages/\d+)?", 503, times=1000)
    fake.fail_next("*", r"/channels/\d+/messages(/\d+)?", 503, times=1000)
    caplog.set_level(logging.WARNING)
    await bot.settled(timeout_s=25)
    # Stopped well before its 300 words (30 s) were written, and logged once. It takes
    # about 15 s: the edit, the removal of the frozen message and its replacement each get
    # the adapter's 5 s per call, which discord.py spends retrying the 5xx itself.
    assert bot.engine.aborted == 1
    failures = [r for r in caplog.records if "reply to /tutor explain failed" in r.getMessage()]
    assert len(failures) == 1 and "(incident " in failures[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await stop_bot(bot)


async def test_discord_refusing_connections_mid_reply_is_logged_once_and_stops_the_reply(
    fake: FakeDiscord, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bot, _record = await reply_showing(fake, tmp_path, "gone", 300)
    bot.engine.delay_s = 0.1  # 300 words: 30 s
    caplog.set_level(logging.WARNING)
    await fake.refuse_api()  # Discord's API is unreachable; the gateway stays up
    await bot.settled(timeout_s=5)
    assert bot.engine.aborted == 1
    failures = [r for r in caplog.records if "reply to /tutor explain failed" in r.getMessage()]
    assert len(failures) == 1 and "ClientConnectorError" in failures[0].getMessage()
    assert "(incident " in failures[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bot.adapter.client.is_closed()  # still connected, ready for the next command
    await stop_bot(bot)


async def story_thread(bot: Bot) -> int:
    """The thread the adapter has recorded for the general channel's story, once there."""
    fake = bot.fake
    await fake.wait_until(lambda: bool(fake.threads(fake.general_channel_id)))
    for _ in range(100):
        row = await bot.core.db.fetchone("SELECT thread_id FROM discord_threads")
        if row is not None:
            return int(row["thread_id"])
        await asyncio.sleep(0.02)
    raise AssertionError("no story thread recorded")


async def test_a_second_story_gets_its_own_thread(bot: Bot) -> None:
    fake = bot.fake
    await bot.command("story start", {"premise": "a lighthouse keeper"})
    await bot.settled()
    first = await story_thread(bot)
    await bot.command("story start", {"premise": "a baker in space"})
    await bot.settled()
    threads = fake.threads(fake.general_channel_id)
    assert len(threads) == 2
    second = await story_thread(bot)
    assert second != first and "baker in space" in fake.channel(second)["name"]
    # The continuation goes to the new story's thread, not the old one.
    await bot.command("story continue", {"direction": "a storm"})
    await bot.settled()
    assert fake.messages(second) and not [
        m for m in fake.messages(first) if "storm" in str(m["content"])
    ]


async def test_a_deleted_story_thread_is_forgotten_and_the_story_continues_here(
    bot: Bot,
) -> None:
    fake = bot.fake
    await bot.command("story start", {"premise": "a lighthouse keeper"})
    await bot.settled()
    fake.delete_channel(await story_thread(bot))
    await bot.command("story continue", {"direction": "a storm"})
    await bot.settled()
    # The part shows in the channel, after a word on why it is not in the thread.
    shown = [str(m["content"]) for m in visible(fake)]
    assert shown[-1] == "Scripted part 2."
    [notice] = fake.ephemerals(fake.general_channel_id)
    assert "thread" in str(notice["content"]) and "continues here" in str(notice["content"])
    assert await bot.core.db.fetchone("SELECT thread_id FROM discord_threads") is None
    # The part was shown, so it is saved: the story now has two parts.
    [[parts]] = await bot.core.db.fetchall("SELECT COUNT(*) FROM story_parts")
    assert parts == 2


def waves(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """A story part of 400 words (the story's cast, asked for first, has nobody in it)."""
    return '{"names": []}' if params.json_schema else " ".join(["wave"] * 400)


async def test_a_part_whose_thread_vanishes_mid_stream_is_not_saved(bot: Bot) -> None:
    fake = bot.fake
    await bot.command("story start", {"premise": "a lighthouse keeper"})
    await bot.settled()
    thread = await story_thread(bot)
    bot.engine.script = waves
    bot.engine.delay_s = 0.05  # a part streams for 7 s (its 150 words), then is cut off
    await bot.command("story continue", {"direction": "a storm"})
    await fake.wait_until(lambda: bool(fake.messages(thread)))  # the part is showing
    fake.delete_channel(thread)
    await bot.settled()
    assert bot.engine.aborted == 1  # nobody could see the rest: stopped
    [[parts]] = await bot.core.db.fetchall("SELECT COUNT(*) FROM story_parts")
    assert parts == 1  # only the opening: the part nobody saw whole is not kept
    assert await bot.core.db.fetchone("SELECT thread_id FROM discord_threads") is None


async def test_a_part_whose_last_edits_fail_after_it_was_written_is_not_saved(bot: Bot) -> None:
    fake = bot.fake
    await bot.command("story start", {"premise": "a lighthouse keeper"})
    await bot.settled()
    thread = await story_thread(bot)
    bot.engine.script = waves
    # A part delivered whole is saved.
    await bot.command("story continue", {"direction": "a calm sea"})
    await bot.settled()
    [[parts]] = await bot.core.db.fetchall("SELECT COUNT(*) FROM story_parts")
    assert parts == 2
    # The next part starts to show; then Discord fails every edit and new message with a
    # 500 (discord.py retries it past the adapter's 5 s per call), while the engine ends
    # the part in a moment: the last words never show.
    await bot.command("story continue", {"direction": "a storm"})
    shown = len(fake.messages(thread))
    await fake.wait_until(lambda: len(fake.messages(thread)) > shown)
    fake.fail_next("PATCH", rf"/channels/{thread}/messages/\d+", 500, times=1000)
    fake.fail_next("POST", rf"/channels/{thread}/messages", 500, times=1000)
    await fake.wait_until(lambda: bot.engine.running == 0)  # the engine is done
    await bot.settled(timeout_s=20)
    [[parts]] = await bot.core.db.fetchall("SELECT COUNT(*) FROM story_parts")
    assert parts == 2  # the part nobody saw whole is not in the story


ADMINISTRATOR = 1 << 3


async def test_process_wide_commands_need_the_bots_owner_not_a_server_admin(bot: Bot) -> None:
    fake = bot.fake
    # A server admin who does not own the bot: refused, privately.
    await bot.command("skald status", permissions=ADMINISTRATOR)
    await bot.settled()
    [refused] = fake.ephemerals(fake.general_channel_id)
    assert "Only the bot's owner can use /skald status" in str(refused["content"])
    await bot.command("skald reload", {"plugin": "story"}, permissions=ADMINISTRATOR)
    await bot.settled()
    assert "Only the bot's owner" in str(fake.ephemerals(fake.general_channel_id)[-1]["content"])
    # The application's owner may.
    iid = await bot.command("skald status", user_id=fake.owner_id, permissions=ADMINISTRATOR)
    await bot.settled()
    shown = fake.message(fake.interaction(iid).original_message_id or 0)["content"]
    assert "scripted" in str(shown)
