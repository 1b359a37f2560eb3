"""What reply buttons re-run, kept in SQLite: saved, found after a reopen, pruned, forgotten."""

from __future__ import annotations

import time
from pathlib import Path

from bot.invocation import ChannelRef
from bot.memory.buttons import ButtonState, new_button_key
from tests.conftest import open_core
from tests.scripted_engine import ScriptedEngine

HARBOUR = ChannelRef("slack", "E1:T1", "C1")


async def test_a_saved_reply_is_found_after_the_database_is_reopened(tmp_path: Path) -> None:
    key = new_button_key()
    options = {"premise": "a quiet harbour", "parts": 3}
    state = ButtonState(key, HARBOUR, "U1", "story start", options, "story continue")
    core = await open_core(tmp_path, ScriptedEngine())
    try:
        await core.buttons.save(state)
    finally:
        await core.close()
    core = await open_core(tmp_path, ScriptedEngine())
    try:
        assert await core.buttons.get(key) == state
        assert await core.buttons.get(new_button_key()) is None
    finally:
        await core.close()


async def test_old_buttons_are_pruned_with_the_stories_and_forgotten_with_the_channel(
    tmp_path: Path,
) -> None:
    core = await open_core(tmp_path, ScriptedEngine())
    try:
        now = time.time()
        days = core.config.safety.retention_days
        old = ButtonState("old", HARBOUR, "U1", "lyrics", {}, created_at=now - (days + 1) * 86400)
        recent = ButtonState("recent", HARBOUR, "U1", "lyrics", {}, created_at=now - 3600)
        elsewhere = ButtonState("elsewhere", ChannelRef("slack", "T2", "C9"), "U1", "lyrics", {})
        for state in (old, recent, elsewhere):
            await core.buttons.save(state)
        counts = await core.prune(now)
        assert counts.get("reply_buttons") == 1
        assert await core.buttons.get("old") is None
        assert await core.buttons.get("recent") == recent
        # /prefs forget deletes the channel's buttons (they hold what people asked for).
        await core.forget(HARBOUR)
        assert await core.buttons.get("recent") is None
        assert await core.buttons.get("elsewhere") == elsewhere
    finally:
        await core.close()
